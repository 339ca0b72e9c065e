#!/usr/bin/env bash
# The authorize benchmark (`make bench`), in one command:
#
#   release build → fresh database mrledger_bench → command-api + projector on it →
#   loadgen scenarios (spread, hot, stream length 1k vs 100k) → stop the services →
#   pg-limits (pgbench append and hot row) → summary table with ratios and targets.
#
# Everything goes to bench-out/<UTC timestamp>/ (gitignored): each scenario's JSON report
# and log, the services' logs, pg-limits' output, machine.txt and summary.md. Every process
# started here is stopped on exit, however the script ends. See docs/PERFORMANCE.md.
#
# Environment (all optional):
#   BENCH_DURATION            measured seconds per scenario (20)
#   BENCH_WARMUP              warm-up seconds before measuring, not in the figures (1)
#   BENCH_PG_DURATION         seconds per pgbench run (10); BENCH_SKIP_PG=1 skips pg-limits
#   BENCH_SPREAD_OPERATORS    operators of the spread scenario (1000)
#   BENCH_SPREAD_CONCURRENCY  its concurrent clients (64)
#   BENCH_HOT_CONCURRENCY     clients of the hot scenario, all on one operator (10)
#   BENCH_STREAM_SHORT        events prefilled on the short stream (1000)
#   BENCH_STREAM_LONG         events prefilled on the long stream (100000)
#   BENCH_STREAM_CONCURRENCY  clients measuring each stream (10, as hot)
#   BENCH_PREFILL_CONCURRENCY clients prefilling a stream (16)
#   BENCH_PLAYERS, BENCH_PRICE  players and unit price of every authorization (2, 1.00)
#   BENCH_ADDR                command-api listen address (127.0.0.1:18080)
#   BENCH_SCENARIOS           which scenarios run ("spread hot stream_short stream_long")
#   BENCH_NO_PROJECTOR=1      do not start the projector (its checks are then skipped)
#   BENCH_OUT                 output folder (bench-out/<timestamp>)
#   BENCH_SKIP_BUILD=1        measure the release binaries already in the target dir
#   BENCH_BIN                 measure the binaries in this folder instead (no build): pins a
#                             build across several runs while others rebuild the target dir
#   MR_DB_POOL_SIZE, MR_HTTP_WORKERS  passed through to command-api (its defaults otherwise)
#   MR_RATE_LIMIT_*           rate limits of command-api: raised far above the load by default
#                             (still checked in Redis on every request, so their cost is measured)
#   CARGO_TARGET_DIR          ($HOME/.cache/mrledger-target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROOT="$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"

DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-1}"
PG_DURATION="${BENCH_PG_DURATION:-10}"
SPREAD_OPERATORS="${BENCH_SPREAD_OPERATORS:-1000}"
SPREAD_CONCURRENCY="${BENCH_SPREAD_CONCURRENCY:-64}"
HOT_CONCURRENCY="${BENCH_HOT_CONCURRENCY:-10}"
STREAM_SHORT="${BENCH_STREAM_SHORT:-1000}"
STREAM_LONG="${BENCH_STREAM_LONG:-100000}"
STREAM_CONCURRENCY="${BENCH_STREAM_CONCURRENCY:-$HOT_CONCURRENCY}"
PREFILL_CONCURRENCY="${BENCH_PREFILL_CONCURRENCY:-16}"
PLAYERS="${BENCH_PLAYERS:-2}"
PRICE="${BENCH_PRICE:-1.00}"
ADDR="${BENCH_ADDR:-127.0.0.1:18080}"
SCENARIOS="${BENCH_SCENARIOS:-spread hot stream_short stream_long}"
OUT="${BENCH_OUT:-$ROOT/bench-out/$(date -u +%Y%m%dT%H%M%SZ)}"

PG_SERVER="${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
DB=mrledger_bench
# Seconds to wait for command-api's /health/ready.
READY_TIMEOUT=60
# Seconds a just-started projector must stay alive to count as started.
PROJECTOR_SETTLE=2

for n in DURATION WARMUP PG_DURATION SPREAD_OPERATORS SPREAD_CONCURRENCY HOT_CONCURRENCY \
    STREAM_SHORT STREAM_LONG STREAM_CONCURRENCY PREFILL_CONCURRENCY PLAYERS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || { echo "bench: $n must be a whole number, got '${!n}'" >&2; exit 2; }
done
for tool in cargo psql curl jq openssl awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is required" >&2; exit 2; }
done

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
psql_db() { psql "$PG_SERVER/$1" -X -v ON_ERROR_STOP=1 -q "${@:2}"; }

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
log "output: $OUT"

# --- cleanup: stop exactly the processes started here ------------------------------------
PIDS=()
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
stop_services() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}
# The foreground step (loadgen, pg-limits) runs as its own process group, so that it and its
# children (pgbench, psql) stop together with this script.
CHILD=""
stop_child() {
    if [ -n "$CHILD" ]; then
        kill -TERM -- "-$CHILD" 2>/dev/null || true
        CHILD=""
    fi
}
# run_child CMD...: runs CMD in a new process group and waits for it. Waiting on a background
# child lets a signal to this script act at once instead of after the step.
run_child() {
    local rc=0
    setsid "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}
cleanup() {
    stop_child
    stop_services
    if [ "${BENCH_KEEP_BIN:-0}" != 1 ]; then rm -rf "${OUT:?}/bin"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- machine -----------------------------------------------------------------------------
{
    echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "postgres: $(psql_db postgres -Atc 'SHOW server_version')"
    echo "synchronous_commit: $(psql_db postgres -Atc 'SHOW synchronous_commit')"
    echo "shared_buffers: $(psql_db postgres -Atc 'SHOW shared_buffers')"
    echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

# --- build -------------------------------------------------------------------------------
SOURCE_BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release}"
if [ -n "${BENCH_BIN:-}" ] || [ "${BENCH_SKIP_BUILD:-0}" = 1 ]; then
    log "build skipped: using the binaries in $SOURCE_BIN"
else
    log "cargo build --release -p command-api -p projector -p tests (target dir $CARGO_TARGET_DIR)"
    (cd "$ROOT" && cargo build --release -p command-api -p projector -p tests) 2>&1 | tee "$OUT/build.log" >&2
fi
# The run uses private copies: the shared target dir may be rebuilt by others meanwhile, and
# every scenario must run the same binaries. Removed on exit (BENCH_KEEP_BIN=1 keeps them).
BIN="$OUT/bin"
mkdir -p "$BIN"
for name in command-api projector loadgen; do
    [ -x "$SOURCE_BIN/$name" ] || die "$SOURCE_BIN/$name was not built (see $OUT/build.log)"
    cp "$SOURCE_BIN/$name" "$BIN/$name"
    # Which build was measured: runs with equal digests measured the same binaries.
    echo "binary $name: $(date -u -r "$SOURCE_BIN/$name" +%Y-%m-%dT%H:%M:%SZ) sha256 $(sha256sum "$BIN/$name" | cut -c1-12)" \
        | tee -a "$OUT/machine.txt" >&2
done

# --- database and services ---------------------------------------------------------------
log "fresh database $DB"
psql_db postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

export MR_DATABASE_URL="$PG_SERVER/$DB"
export MR_COMMAND_HTTP_ADDR="$ADDR"
# Not measured here: keep the default gRPC and metrics ports free for whatever else runs.
export MR_COMMAND_GRPC_ADDR=off MR_PROJECTOR_METRICS_ADDR=off
MR_MASTER_KEY="$(openssl rand -base64 32)"
MR_JWT_SECRET="$(openssl rand -hex 32)"
MR_BOOTSTRAP_ADMIN_PASSWORD="$(openssl rand -hex 16)"
export MR_MASTER_KEY MR_JWT_SECRET MR_BOOTSTRAP_ADMIN_PASSWORD
export MR_BOOTSTRAP_ADMIN_USERNAME=bench
# Limits raised by configuration only: every request is still counted (per IP, and per operator
# on authorization), in Redis under this run's own prefix.
export MR_RATE_LIMIT_KEY_PREFIX="${MR_RATE_LIMIT_KEY_PREFIX:-mr:rl:$DB}"
export MR_RATE_LIMIT_PER_IP="${MR_RATE_LIMIT_PER_IP:-1000000000}"
export MR_RATE_LIMIT_OPERATOR_VIP="${MR_RATE_LIMIT_OPERATOR_VIP:-1000000000}"
export MR_RATE_LIMIT_OPERATOR_STANDARD="${MR_RATE_LIMIT_OPERATOR_STANDARD:-1000000000}"
export MR_RATE_LIMIT_OPERATOR_TRIAL="${MR_RATE_LIMIT_OPERATOR_TRIAL:-1000000000}"
export RUST_LOG="${RUST_LOG:-info}"
BASE_URL="http://$ADDR"

# start NAME ARGS...: runs $BIN/NAME in the background, logging to $OUT/NAME.log; its pid
# goes to STARTED (not printed: a command substitution would lose PIDS).
STARTED=""
start() {
    local name=$1
    shift
    "$BIN/$name" "$@" >"$OUT/$name.log" 2>&1 </dev/null &
    STARTED=$!
    PIDS+=("$STARTED")
}

log "migrating, starting command-api on $ADDR"
"$BIN/command-api" migrate >"$OUT/migrate.log" 2>&1 || { tail -n 30 "$OUT/migrate.log" >&2; die "migration failed"; }
start command-api serve
API_PID=$STARTED
ready=0
for _ in $(seq $((READY_TIMEOUT * 10))); do
    kill -0 "$API_PID" 2>/dev/null || { tail -n 30 "$OUT/command-api.log" >&2; die "command-api exited"; }
    if [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$BASE_URL/health/ready")" = 200 ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" = 1 ] || die "command-api not ready within ${READY_TIMEOUT}s (log: $OUT/command-api.log)"

PROJECTOR_PID=""
PROJECTOR_STATE="not started (BENCH_NO_PROJECTOR=1)"
if [ "${BENCH_NO_PROJECTOR:-0}" != 1 ]; then
    log "starting projector"
    start projector run
    PROJECTOR_PID=$STARTED
    sleep "$PROJECTOR_SETTLE"
    if kill -0 "$PROJECTOR_PID" 2>/dev/null; then
        PROJECTOR_STATE="running"
    else
        PROJECTOR_STATE="exited at start-up (see projector.log)"
        tail -n 20 "$OUT/projector.log" >&2 || true
        PROJECTOR_PID=""
    fi
fi
echo "projector: $PROJECTOR_STATE" | tee -a "$OUT/machine.txt" >&2

# --- scenarios ---------------------------------------------------------------------------
FAILED=()
# scenario NAME OPERATORS CONCURRENCY PREFILL: one loadgen run → $OUT/NAME.json and NAME.log.
scenario() {
    local name=$1 operators=$2 concurrency=$3 prefill=$4 rc=0
    psql_db "$DB" -c CHECKPOINT
    log "scenario $name: $operators operator(s), $concurrency client(s), prefill $prefill (load $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "$name $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load_before.txt"
    # The staff credentials reach loadgen through MR_BOOTSTRAP_ADMIN_* (not on its command line).
    run_child "$BIN/loadgen" --json --label "$name" --base-url "$BASE_URL" --database-url "$MR_DATABASE_URL" \
        --operators "$operators" --concurrency "$concurrency" --duration-secs "$DURATION" \
        --warmup-secs "$WARMUP" --players "$PLAYERS" --price "$PRICE" \
        --prefill-events "$prefill" --prefill-concurrency "$PREFILL_CONCURRENCY" \
        --projector auto >"$OUT/$name.json" 2> >(tee "$OUT/$name.log" >&2) || rc=$?
    if [ "$rc" != 0 ]; then
        FAILED+=("$name (loadgen exit $rc)")
    fi
    if [ -n "$PROJECTOR_PID" ] && ! kill -0 "$PROJECTOR_PID" 2>/dev/null; then
        FAILED+=("projector exited during $name")
        PROJECTOR_PID=""
    fi
    kill -0 "$API_PID" 2>/dev/null || die "command-api exited during $name (log: $OUT/command-api.log)"
}

wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
if wanted spread; then scenario spread "$SPREAD_OPERATORS" "$SPREAD_CONCURRENCY" 0; fi
if wanted hot; then scenario hot 1 "$HOT_CONCURRENCY" 0; fi
if wanted stream_short; then scenario stream_short 1 "$STREAM_CONCURRENCY" "$STREAM_SHORT"; fi
if wanted stream_long; then scenario stream_long 1 "$STREAM_CONCURRENCY" "$STREAM_LONG"; fi

log "stopping command-api and projector"
stop_services
psql_db "$DB" -Atc "SELECT 'events: ' || count(*) || ', database size: ' || pg_size_pretty(pg_database_size('$DB')) FROM events" \
    | tee -a "$OUT/machine.txt" >&2

# --- pg-limits ---------------------------------------------------------------------------
PGL="$ROOT/../shared/bench/pg-limits/run.sh"
PG_APPEND="" PG_HOT=""
if [ "${BENCH_SKIP_PG:-0}" = 1 ]; then
    log "pg-limits skipped (BENCH_SKIP_PG=1)"
elif [ ! -f "$PGL" ]; then
    log "pg-limits skipped: $PGL not found"
else
    for group in append hot; do
        log "pg-limits ONLY=$group, ${PG_DURATION}s per run"
        ONLY=$group run_child bash "$PGL" "$OUT/pg-limits-$group" "$PG_DURATION" >&2 \
            || FAILED+=("pg-limits $group")
    done
    # tps of one row of summary.tsv: test, sync_commit, clients.
    pg_tps() {
        awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '$1 == t && $2 == s && $3 == c { print $5 }' \
            "$OUT/pg-limits-$4/summary.tsv" 2>/dev/null | head -n 1
    }
    PG_APPEND="$(pg_tps append on "$SPREAD_CONCURRENCY" append)"
    PG_HOT="$(pg_tps hot_row on "$HOT_CONCURRENCY" hot)"
fi

# --- summary -----------------------------------------------------------------------------
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
j() { jq -r "$2" "$OUT/$1.json" 2>/dev/null || echo "?"; }
num() { [ -n "$1" ] && [ "$1" != null ] && [ "$1" != "?" ]; }
ratio() { if num "$1" && num "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; else echo "-"; fi; }
fmt() { if num "$1"; then awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }'; else echo "-"; fi; }
meets() { if num "$1"; then awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "ge") ? v >= t : v < t; print ok ? "yes" : "NO" }'; else echo "-"; fi; }

{
    echo "# Authorize benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    echo "Each scenario: ${DURATION} s measured after ${WARMUP} s warm-up, ${PLAYERS} players × ${PRICE}; projector: $PROJECTOR_STATE."
    echo
    echo "| scenario | operators | clients | prefill | req/s | p50 ms | p99 ms | p99.9 ms | max ms | non-200 | books | projector lag p99 (events / ≈ s) | oldest unprojected p99 ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    for s in spread hot stream_short stream_long; do
        [ -s "$OUT/$s.json" ] || { echo "| $s | (no result: see $s.log) |||||||||||"; continue; }
        lag="-"
        oldest="-"
        if [ "$(j "$s" .projector.running)" = true ]; then
            lag="$(j "$s" .projector.lag_events.p99) / $(fmt "$(j "$s" .projector.lag_p99_seconds_est)" 3)"
            oldest="$(j "$s" .projector.oldest_unprojected_ms.p99)"
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
            "$s" "$(j "$s" .operators)" "$(j "$s" .concurrency)" "$(j "$s" '.prefill.charged // 0')" \
            "$(fmt "$(j "$s" .throughput_rps)" 0)" "$(fmt "$(j "$s" .latency_ms.p50)" 2)" \
            "$(fmt "$(j "$s" .latency_ms.p99)" 2)" "$(fmt "$(j "$s" .latency_ms.p999)" 2)" \
            "$(fmt "$(j "$s" .latency_ms.max)" 2)" \
            "$(j "$s" '[.statuses | to_entries[] | select(.key != "200") | .value] | add // 0')" \
            "$(j "$s" 'if .books.ok then "ok" else "MISMATCH" end')" "$lag" "$oldest"
    done
    echo
    echo "CPU during each measured phase, in ms of CPU per authorization (busy: cores in use of $(nproc)):"
    echo
    echo "| scenario | busy cores | command-api | its postgres backends | projector | its backends | loadgen | its backends | postgres other (WAL writer, checkpointer, autovacuum) | other processes | total |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for s in spread hot stream_short stream_long; do
        [ "$(j "$s" '.cpu != null')" = true ] || continue
        printf '| %s | %s |' "$s" "$(fmt "$(j "$s" .cpu.busy_cores)" 2)"
        for g in command-api "postgres for command-api" projector "postgres for projector" \
            loadgen "postgres for loadgen" "postgres other" "other processes"; do
            printf ' %s |' "$(fmt "$(j "$s" ".cpu.ms_per_request[\"$g\"]")" 3)"
        done
        printf ' %s |\n' "$(fmt "$(j "$s" .cpu.total_ms_per_request)" 3)"
    done
    spread_rps="$(j spread .throughput_rps)"
    hot_rps="$(j hot .throughput_rps)"
    short_p50="$(j stream_short .latency_ms.p50)" short_p99="$(j stream_short .latency_ms.p99)"
    long_p50="$(j stream_long .latency_ms.p50)" long_p99="$(j stream_long .latency_ms.p99)"
    echo
    echo "| comparison | ours | reference | ratio |"
    echo "|---|---|---|---|"
    echo "| spread req/s vs pgbench append c=$SPREAD_CONCURRENCY tps (sync commit on) | $(fmt "$spread_rps" 0) | $(fmt "$PG_APPEND" 0) | $(ratio "$spread_rps" "$PG_APPEND") |"
    echo "| hot req/s vs pgbench hot_row c=$HOT_CONCURRENCY tps (sync commit on) | $(fmt "$hot_rps" 0) | $(fmt "$PG_HOT" 0) | $(ratio "$hot_rps" "$PG_HOT") |"
    echo "| p50 ms, ${STREAM_LONG}-event stream vs ${STREAM_SHORT}-event stream | $(fmt "$long_p50" 2) | $(fmt "$short_p50" 2) | $(ratio "$long_p50" "$short_p50") |"
    echo "| p99 ms, ${STREAM_LONG}-event stream vs ${STREAM_SHORT}-event stream | $(fmt "$long_p99" 2) | $(fmt "$short_p99" 2) | $(ratio "$long_p99" "$short_p99") |"
    worst_p99="$(for s in spread hot stream_short stream_long; do j "$s" .latency_ms.p99; done | grep -E '^[0-9.]+$' | sort -g | tail -n 1)"
    growth="$(ratio "$long_p50" "$short_p50")"
    growth_p99="$(ratio "$long_p99" "$short_p99")"
    growth_rps="$(ratio "$(j stream_long .throughput_rps)" "$(j stream_short .throughput_rps)")"
    worst_lag="$(for s in spread hot stream_short stream_long; do j "$s" '.projector.oldest_unprojected_ms.p99 // empty'; done | grep -E '^[0-9.]+$' | sort -g | tail -n 1)"
    echo
    echo "| target | measured | met |"
    echo "|---|---|---|"
    echo "| spread ≥ 5,000 authorizations/s | $(fmt "$spread_rps" 0)/s | $(meets "$spread_rps" ge 5000) |"
    echo "| hot (one operator) ≥ 2,000/s | $(fmt "$hot_rps" 0)/s | $(meets "$hot_rps" ge 2000) |"
    echo "| p99 < 25 ms (worst scenario) | $(fmt "$worst_p99" 2) ms | $(meets "$worst_p99" lt 25) |"
    echo "| no growth with stream length (long / short: p50 < 1.2; p99 and req/s shown, p99 is noisy) | p50 ×$growth, p99 ×$growth_p99, req/s ×$growth_rps | $(meets "$growth" lt 1.2) |"
    echo "| projector lag p99 < 1 s (oldest unprojected event, worst scenario) | $(if num "$worst_lag"; then echo "$worst_lag ms"; else echo "not measured"; fi) | $(meets "$worst_lag" lt 1000) |"
    if [ "${#FAILED[@]}" -gt 0 ]; then
        echo
        echo "FAILED: ${FAILED[*]}"
    fi
} >"$OUT/summary.md"

log "summary ($OUT/summary.md)"
cat "$OUT/summary.md"
[ "${#FAILED[@]}" -eq 0 ] || exit 1
