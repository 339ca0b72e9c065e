#!/usr/bin/env bash
# Makes sure PostgreSQL 15 and Redis 7 run on this machine the way the dev tools and tests
# expect them: PostgreSQL on 127.0.0.1:5432 where user `postgres` connects over TCP without a
# password, Redis on 127.0.0.1:6379. Installs them with apt when missing, starts them when not
# running, waits until they answer. Idempotent: on a machine where all is up it only checks.
#
# DEV MACHINE SETTING: on a fresh Debian install PostgreSQL asks TCP clients for a password
# (scram-sha-256). If `postgres` cannot connect over 127.0.0.1, this script adds `trust` lines
# for user postgres from 127.0.0.1 and ::1 at the top of pg_hba.conf and reloads. Never run
# it on a shared or production server.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly PG_HOST=127.0.0.1 PG_PORT=5432 PG_VERSION=15
readonly REDIS_HOST=127.0.0.1 REDIS_PORT=6379
# How long a service may take to answer after it was started (seconds).
readonly START_TIMEOUT=60

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
pg_tcp_login() {
    psql -X -w -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'SELECT 1' </dev/null
}
redis_ready() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# Client tools the dev scripts use.
ensure_tools() {
    local missing=()
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v pg_isready >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    if [ "${#missing[@]}" -gt 0 ]; then
        # shellcheck disable=SC2046 # deduplicated word list, no spaces inside names
        apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
    fi
}

# The Debian cluster to start: version 15 when present, else the newest one configured.
pg_cluster_version() {
    if [ -d "/etc/postgresql/$PG_VERSION/main" ]; then
        echo "$PG_VERSION"
    else
        find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%h\n' 2>/dev/null |
            xargs -r -n1 basename | sort -n | tail -n 1
    fi
}

pg_server_installed() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

ensure_postgres() {
    if pg_ready; then
        command -v pgbench >/dev/null 2>&1 || apt_install postgresql-contrib
    else
        if ! pg_server_installed; then
            apt_install "postgresql-$PG_VERSION" postgresql-contrib
        fi
        local version
        version="$(pg_cluster_version)"
        if [ -z "$version" ]; then
            log "creating PostgreSQL $PG_VERSION cluster main"
            as_root pg_createcluster "$PG_VERSION" main
            version=$PG_VERSION
        fi
        # The package's own start may have raced us: only start what is down.
        if ! pg_ready; then
            log "starting PostgreSQL $version/main"
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
                warn "pg_ctlcluster start failed (maybe it was already starting); waiting for it"
        fi
        if ! wait_for "$START_TIMEOUT" pg_ready; then
            tail -n 30 "/var/log/postgresql/postgresql-$version-main.log" >&2 2>/dev/null || true
            die "PostgreSQL is not accepting connections on $PG_HOST:$PG_PORT after ${START_TIMEOUT}s"
        fi
    fi
    pg_tcp_login >/dev/null 2>&1 || trust_local_tcp
}

# Dev machine only: let user postgres in over loopback TCP without a password.
trust_local_tcp() {
    log "user postgres cannot log in over $PG_HOST:$PG_PORT; adding loopback trust to pg_hba.conf (dev machine setting)"
    local hba marker="# mrledger dev machine:"
    # psql as the postgres OS user over the local socket (peer auth); cd / so it can read cwd.
    hba="$(cd / && as_postgres psql -X -w -Atqc 'SHOW hba_file' </dev/null)" ||
        die "cannot reach PostgreSQL as OS user postgres over the local socket to find pg_hba.conf; \
make 'postgres' able to connect to $PG_HOST:$PG_PORT without a password by hand"
    if ! as_root grep -qF "$marker" "$hba"; then
        local tmp
        tmp="$(mktemp)"
        {
            echo "$marker trust TCP logins of user postgres from this machine only."
            echo "# Added by deploy/dev/ensure-services.sh. Remove these lines on anything but a dev box."
            echo "host    all    postgres    127.0.0.1/32    trust"
            echo "host    all    postgres    ::1/128         trust"
            echo
            as_root cat "$hba"
        } >"$tmp"
        # cat into the existing file keeps its owner and mode.
        # shellcheck disable=SC2016 # expanded by the inner sh
        as_root sh -c 'cat "$1" > "$2"' sh "$tmp" "$hba"
        rm -f "$tmp"
    fi
    (cd / && as_postgres psql -X -w -Atqc 'SELECT pg_reload_conf()' </dev/null) >/dev/null
    wait_for 10 pg_tcp_login ||
        die "user postgres still cannot log in over $PG_HOST:$PG_PORT; check $hba (a line above ours may match first)"
    log "pg_hba.conf: loopback trust for user postgres enabled ($hba)"
}

ensure_redis() {
    redis_ready && return 0
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # The package may have started it already.
    if ! redis_ready; then
        log "starting Redis on $REDIS_HOST:$REDIS_PORT"
        as_root mkdir -p /var/lib/redis /var/log/redis
        as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
            --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    fi
    if ! wait_for "$START_TIMEOUT" redis_ready; then
        as_root tail -n 30 /var/log/redis/ci.log >&2 2>/dev/null || true
        die "Redis is not answering PING on $REDIS_HOST:$REDIS_PORT after ${START_TIMEOUT}s"
    fi
}

ensure_tools
ensure_postgres
ensure_redis
log "services ready: PostgreSQL $PG_HOST:$PG_PORT (user postgres), Redis $REDIS_HOST:$REDIS_PORT"
