#!/usr/bin/env bash
# The export benchmark (`make bench-export`), in one command:
#
#   release build → fresh database mrledger_bench_export → migrate, seed the demo operator →
#   command-api + projector + query-api on it → 100,000 usage records and 100,000
#   transactions written into the read tables (one INSERT … SELECT generate_series each) →
#   each export downloaded through HTTP (curl) several times → medians against the budgets.
#
# The budgets (issue 5): 100,000 rows in under 3 s as CSV and under 10 s as XLSX. Output goes
# to bench-out/export-<UTC timestamp>/ (gitignored): the services' logs and summary.md. Every
# process started here is stopped on exit, however the script ends. See docs/PERFORMANCE.md.
#
# Environment (all optional):
#   BENCH_EXPORT_ROWS     rows seeded per table (100000)
#   BENCH_EXPORT_RUNS     measured downloads per export and format (5), after one warm-up
#   BENCH_EXPORT_PORT     first of the two ports used: command-api, then query-api (18180)
#   BENCH_SKIP_BUILD=1    measure the release binaries already in the target dir
#   BENCH_BIN             measure the binaries in this folder instead (no build): pins a
#                         build while others rebuild the target dir
#   BENCH_OUT             output folder (bench-out/export-<timestamp>)
#   CARGO_TARGET_DIR      ($HOME/.cache/mrledger-target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"
ROWS="${BENCH_EXPORT_ROWS:-100000}"
RUNS="${BENCH_EXPORT_RUNS:-5}"
PORT="${BENCH_EXPORT_PORT:-18180}"
OUT="${BENCH_OUT:-$ROOT/bench-out/export-$(date -u +%Y%m%dT%H%M%SZ)}"
PG_SERVER="${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
DB=mrledger_bench_export
# Budgets in seconds for ROWS = 100,000 (issue 5).
CSV_BUDGET=3
XLSX_BUDGET=10
# Seconds to wait for a service's /health/ready, and for the projector to show the operator.
READY_TIMEOUT=60

for n in ROWS RUNS PORT; do
    [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_EXPORT_$n must be a positive whole number" >&2; exit 2; }
done

log() { printf '[bench-export] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
psql_server() { psql -v ON_ERROR_STOP=1 -X -q "$PG_SERVER/postgres" "$@"; }
psql_db() { psql -v ON_ERROR_STOP=1 -X -q -At "$PG_SERVER/$DB" "$@"; }

mkdir -p "$OUT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release}"
if [ -z "${BENCH_BIN:-}" ] && [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p command-api -p projector -p query-api"
    (cd "$ROOT" && cargo build --release -p command-api -p projector -p query-api)
fi
for name in command-api projector query-api; do
    [ -x "$BIN/$name" ] || die "$BIN/$name was not built"
done

log "fresh database $DB"
psql_server -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

export MR_DATABASE_URL="$PG_SERVER/$DB"
export MR_MASTER_KEY="$(head -c 32 /dev/urandom | base64)"
export MR_JWT_SECRET="bench-export-jwt-secret-0123456789abcdef"
export MR_BOOTSTRAP_ADMIN_USERNAME=admin
export MR_BOOTSTRAP_ADMIN_PASSWORD="Bench-export-password1"
export MR_COMMAND_HTTP_ADDR="127.0.0.1:$PORT"
export MR_QUERY_HTTP_ADDR="127.0.0.1:$((PORT + 1))"
# gRPC is not measured here: keep its default ports free for whatever else runs.
export MR_COMMAND_GRPC_ADDR=off MR_QUERY_GRPC_ADDR=off MR_PROJECTOR_METRICS_ADDR=off
export RUST_LOG=warn
COMMAND_URL="http://$MR_COMMAND_HTTP_ADDR"
QUERY_URL="http://$MR_QUERY_HTTP_ADDR"

"$BIN/command-api" migrate >"$OUT/migrate.log" 2>&1 || die "migrate failed (see $OUT/migrate.log)"
demo="$("$BIN/command-api" seed-demo 2>"$OUT/seed-demo.log" | grep '^{' | tail -n 1)"
OPERATOR="$(printf '%s' "$demo" | jq -r .operator_id)"
SITE="$(printf '%s' "$demo" | jq -r .site_id)"
APP="$(printf '%s' "$demo" | jq -r .app_id)"
[[ "$OPERATOR" =~ ^[0-9a-f-]{36}$ ]] || die "seed-demo printed no operator: $demo"

for name in command-api projector query-api; do
    cmd=serve
    [ "$name" = projector ] && cmd=run
    "$BIN/$name" "$cmd" >"$OUT/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
done
wait_until() {
    local what=$1
    shift
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what not within ${READY_TIMEOUT}s (logs in $OUT)"
        sleep 0.2
    done
}
wait_until "command-api ready" curl -sf "$COMMAND_URL/health/ready"
wait_until "query-api ready" curl -sf "$QUERY_URL/health/ready"
operator_projected() { [ "$(psql_db -c "SELECT count(*) FROM read.operators WHERE id = '$OPERATOR'")" = 1 ]; }
wait_until "the demo operator in the read tables" operator_projected

log "seeding $ROWS usage records and $ROWS transactions"
psql_db <<SQL
INSERT INTO read.usage_records (operator_id, session_id, site_id, app_id, app_name,
    player_count, unit_price, total_cost, balance_after, authorization_token, authorized_at,
    ended_at, duration_seconds, position)
SELECT '$OPERATOR', 'BENCH-' || lpad(n::text, 8, '0'), '$SITE', '$APP', '太空探险',
       n % 8 + 1, 10.00, 10.00 * (n % 8 + 1), 10000000.00 - n * 0.01, gen_random_uuid(),
       timestamptz '2026-01-01 00:00:00+00' + n * interval '37 seconds',
       timestamptz '2026-01-01 00:10:00+00' + n * interval '37 seconds', 600, 1000000000 + n
FROM generate_series(1, $ROWS) AS n;
INSERT INTO read.transactions (position, operator_id, kind, amount, balance_after, reference,
    description, occurred_at)
SELECT 1000000000 + n, '$OPERATOR', 'charge', -10.00 * (n % 8 + 1), 10000000.00 - n * 0.01,
       'BENCH-' || lpad(n::text, 8, '0'), '太空探险 ' || (n % 8 + 1) || ' players',
       timestamptz '2026-01-01 00:00:00+00' + n * interval '37 seconds'
FROM generate_series(1, $ROWS) AS n;
ANALYZE read.usage_records;
ANALYZE read.transactions;
SQL

TOKEN="$(curl -sf -H 'content-type: application/json' \
    -d "{\"username\":\"$MR_BOOTSTRAP_ADMIN_USERNAME\",\"password\":\"$MR_BOOTSTRAP_ADMIN_PASSWORD\"}" \
    "$COMMAND_URL/api/v1/auth/staff/login" | jq -r .data.access_token)"
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || die "admin login failed"

# One download: "<seconds> <bytes>"; fails unless the answer is a 200.
download() {
    local path=$1 file=$2
    local result
    result="$(curl -s -o "$file" -w '%{http_code} %{time_total} %{size_download}' \
        -H "authorization: Bearer $TOKEN" "$QUERY_URL$path")"
    [ "${result%% *}" = 200 ] || die "GET $path answered ${result%% *}: $(head -c 300 "$file")"
    printf '%s\n' "${result#* }"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

SUMMARY="$OUT/summary.md"
{
    echo "# Export benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "$ROWS rows per export, $RUNS measured runs after one warm-up, release build;"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
    echo
    echo "| export | format | median s | min s | max s | size MiB | budget s | |"
    echo "|---|---|---|---|---|---|---|---|"
} >"$SUMMARY"
failed=0
for export in usage-records transactions; do
    for format in csv xlsx; do
        path="/api/v1/admin/operators/$OPERATOR/$export/export?format=$format"
        file="$OUT/$export.$format"
        download "$path" "$file" >/dev/null
        if [ "$format" = csv ]; then
            # The seeded rows and the demo operator's own (its opening credit), and the header.
            table="${export//-/_}"
            rows="$(psql_db -c "SELECT count(*) FROM read.$table WHERE operator_id = '$OPERATOR'")"
            lines="$(wc -l <"$file")"
            [ "$lines" -eq $((rows + 1)) ] || die "$export.csv has $lines lines, expected $((rows + 1))"
        fi
        times=()
        for _ in $(seq "$RUNS"); do
            read -r seconds bytes < <(download "$path" "$file")
            times+=("$seconds")
        done
        med="$(printf '%s\n' "${times[@]}" | median)"
        min="$(printf '%s\n' "${times[@]}" | sort -g | head -n 1)"
        max="$(printf '%s\n' "${times[@]}" | sort -g | tail -n 1)"
        budget=$CSV_BUDGET
        [ "$format" = xlsx ] && budget=$XLSX_BUDGET
        verdict=ok
        awk -v m="$med" -v b="$budget" 'BEGIN { exit !(m < b) }' || { verdict="OVER BUDGET"; failed=1; }
        printf '| %s | %s | %.2f | %.2f | %.2f | %.1f | %s | %s |\n' "$export" "$format" "$med" \
            "$min" "$max" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$budget" "$verdict" \
            >>"$SUMMARY"
        log "$export $format: median ${med}s over $RUNS runs (${times[*]})"
        rm -f "$file"
    done
done
echo >&2
cat "$SUMMARY"
log "summary in $SUMMARY"
exit "$failed"
