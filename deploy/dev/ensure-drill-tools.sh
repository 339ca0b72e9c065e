#!/usr/bin/env bash
# Makes sure what the drills (make drill, tests/tests/drill_*.rs) need is installed: nginx (the
# load balancer in front of several command-api instances, deploy/nginx/command-lb.conf.template)
# and pg_auto_failover (`pg_autoctl`, Debian's postgresql-<major>-auto-failover, for the same
# PostgreSQL major version as the server binaries the tests use). Installs with apt when missing;
# starts nothing (each drill runs its own processes on loopback ports). Idempotent.
#
#   bash deploy/dev/ensure-drill-tools.sh
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The newest installed server version (what tests/src/pg_cluster.rs picks too).
pg_major() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -name initdb -path '*/bin/*' 2>/dev/null |
        sort -V | tail -n 1)
    [ -n "$dir" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql: run make services"
    basename "$(dirname "$(dirname "$dir")")"
}

major=$(pg_major)
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# The package puts pg_autoctl in /usr/bin and its extension next to the server's.
command -v pg_autoctl >/dev/null 2>&1 &&
    [ -f "/usr/share/postgresql/$major/extension/pgautofailover.control" ] ||
    missing+=("postgresql-$major-auto-failover")

if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
log "drill tools ready: nginx, pg_autoctl (PostgreSQL $major)"
