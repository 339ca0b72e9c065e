#!/usr/bin/env bash
# `make clean-test-dbs`: drops the per-test databases (mr_test_*) that interrupted test runs
# left behind, and half-built templates (mr_template_*_building). Finished templates
# (mr_template_<fingerprint>) are a cache the next test run reuses; ALL=1 drops them too.
# Do not run it while tests are running: it drops their databases under them.
#
# Server: MR_TEST_DATABASE_URL (no database name), as the tests use it; default
# postgres://postgres@127.0.0.1:5432.
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server="${MR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
server="${server%/}"
pattern="datname LIKE 'mr\_test\_%' OR datname LIKE 'mr\_template\_%\_building'"
if [ "${ALL:-0}" = 1 ]; then
    pattern="$pattern OR datname LIKE 'mr\_template\_%'"
fi

mapfile -t dbs < <(psql "$server/postgres" -X -w -Atq -v ON_ERROR_STOP=1 \
    -c "SELECT datname FROM pg_database WHERE $pattern ORDER BY datname" </dev/null)
for db in "${dbs[@]}"; do
    psql "$server/postgres" -X -w -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" </dev/null
done
log "dropped ${#dbs[@]} test database(s)"
