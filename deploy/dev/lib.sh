# Shared helpers for the dev scripts in deploy/dev/. Source it; do not run it.
# shellcheck shell=bash

# Repository root (deploy/dev/ is two levels down).
MR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Where make run keeps generated secrets, logs and pid files (gitignored).
MR_RUN_DIR="${MR_RUN_DIR:-$MR_ROOT/.run}"
# Build outside the clone so every checkout and CI run reuses one cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"

# The three long-running processes make run starts, in start order.
MR_SERVICES=(command-api projector query-api)
# Development-only helpers make run starts when it can (the gateway simulator; nginx serving
# the web console); the system runs without them, so they are stopped with the services but
# not waited for.
MR_DEV_SERVICES=(gateway-sim nginx)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (run as root or install sudo)"
    fi
}

# Runs a command as the postgres OS user (peer auth on the local socket).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres -- "$@"
    fi
}

# apt-get update runs at most once per script run.
_MR_APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
    if [ "$_MR_APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
        _MR_APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# Polls a command until it succeeds; returns 1 after SECONDS tries (one per second).
wait_for() {
    local seconds=$1
    shift
    local i
    for ((i = 0; i < seconds; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    "$@" >/dev/null 2>&1
}

# Database URL pieces: MR_DATABASE_URL without its query string, split into server and name.
db_url() { printf '%s' "${MR_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mrledger}"; }
db_server_url() { local u; u="$(db_url)"; u="${u%%\?*}"; printf '%s' "${u%/*}"; }
db_name() { local u; u="$(db_url)"; u="${u%%\?*}"; printf '%s' "${u##*/}"; }

# psql against the server's maintenance database, never prompting for a password.
psql_admin() {
    psql "$(db_server_url)/postgres" -X -q -v ON_ERROR_STOP=1 -w "$@" </dev/null
}

pid_file() { printf '%s/%s.pid' "$MR_RUN_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$MR_RUN_DIR" "$1"; }

# Prints the pid of a service make run started, if that process is still the service.
# The pid file could name a recycled pid, so the process name must match too.
service_pid() {
    local file pid
    file="$(pid_file "$1")"
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "${1:0:15}" ] || return 1
    printf '%s' "$pid"
}

# How long a service gets to exit after SIGTERM before it is killed (seconds).
readonly MR_STOP_TIMEOUT=15

# Stops the services make run started (reverse start order), using their pid files only.
stop_services() {
    local i name pid waited all=("${MR_DEV_SERVICES[@]}" "${MR_SERVICES[@]}")
    for ((i = ${#all[@]} - 1; i >= 0; i--)); do
        name="${all[$i]}"
        if pid="$(service_pid "$name")"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            for ((waited = 0; waited < MR_STOP_TIMEOUT * 10; waited++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                warn "$name did not exit within ${MR_STOP_TIMEOUT}s of SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$(pid_file "$name")"
    done
}
