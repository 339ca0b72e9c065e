#!/usr/bin/env bash
# The replay benchmark (`make bench-replay`), in one command:
#
#   release build → fresh database mrledger_replay_bench → command-api on it → loadgen fills
#   a realistic history through the headset and staff APIs (real events, real hashes) → stop
#   command-api → `projector rebuild` BENCH_RUNS times → `projector verify` BENCH_RUNS times
#   → medians in events/s.
#
# Everything goes to bench-out/<UTC timestamp>/ (gitignored): machine.txt, the seeding log,
# one log per timed run, runs.tsv (every run) and summary.md. Every process started here is
# stopped on exit, however the script ends. See docs/PERFORMANCE.md, "Replay and rebuild".
#
# Environment (all optional):
#   BENCH_EVENTS              authorizations appended (300000); the history also holds each
#                             operator's registration, site, grant and opening credit
#   BENCH_OPERATORS           operators the authorizations spread over (1000)
#   BENCH_SEED_CONCURRENCY    concurrent headset clients while seeding (64)
#   BENCH_RUNS                timed runs of rebuild (3)
#   BENCH_VERIFY_RUNS         timed runs of verify (BENCH_RUNS)
#   BENCH_SKIP_VERIFY=1       time rebuild only
#   BENCH_REUSE_DB=1          keep the history already in mrledger_replay_bench (no seeding)
#   BENCH_BASELINE_BIN        folder holding another `projector` binary: each run then times
#                             it and the current one back to back (baseline first), so a
#                             change is measured against its baseline under the same load
#   BENCH_ADDR                command-api listen address while seeding (127.0.0.1:18081)
#   BENCH_OUT                 output folder (bench-out/<timestamp>)
#   BENCH_SKIP_BUILD=1        use the release binaries already in the target dir
#   BENCH_BIN                 use the binaries in this folder instead (no build)
#   CARGO_TARGET_DIR          ($HOME/.cache/mrledger-target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROOT="$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"

EVENTS="${BENCH_EVENTS:-300000}"
OPERATORS="${BENCH_OPERATORS:-1000}"
SEED_CONCURRENCY="${BENCH_SEED_CONCURRENCY:-64}"
RUNS="${BENCH_RUNS:-3}"
VERIFY_RUNS="${BENCH_VERIFY_RUNS:-$RUNS}"
ADDR="${BENCH_ADDR:-127.0.0.1:18081}"
OUT="${BENCH_OUT:-$ROOT/bench-out/$(date -u +%Y%m%dT%H%M%SZ)-replay}"

PG_SERVER="${BENCH_PG_SERVER:-postgres://postgres@127.0.0.1:5432}"
# Its own database: `make bench` (mrledger_bench) may run on the same server.
DB=mrledger_replay_bench
# Seconds to wait for command-api's /health/ready.
READY_TIMEOUT=60
# Upper bound of the seeding phase for loadgen (it stops at BENCH_EVENTS well before).
SEED_MAX_SECS=3600

for n in EVENTS OPERATORS SEED_CONCURRENCY RUNS VERIFY_RUNS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -gt 0 ] \
        || { echo "bench-replay: $n must be a positive whole number, got '${!n}'" >&2; exit 2; }
done
for tool in cargo psql curl openssl awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench-replay: $tool is required" >&2; exit 2; }
done
if [ -n "${BENCH_BASELINE_BIN:-}" ] && [ ! -x "$BENCH_BASELINE_BIN/projector" ]; then
    echo "bench-replay: BENCH_BASELINE_BIN=$BENCH_BASELINE_BIN holds no projector binary" >&2
    exit 2
fi

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench-replay: %s\n' "$*" >&2; exit 1; }
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
# The foreground step (loadgen, a timed run) runs as its own process group, so it stops
# together with this script.
CHILD=""
stop_child() {
    if [ -n "$CHILD" ]; then
        kill -TERM -- "-$CHILD" 2>/dev/null || true
        CHILD=""
    fi
}
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
# Private copies: the shared target dir may be rebuilt by others during the run.
BIN="$OUT/bin"
mkdir -p "$BIN"
copy_bin() {
    local from=$1 name=$2 as=$3
    [ -x "$from/$name" ] || die "$from/$name was not built (see $OUT/build.log)"
    cp "$from/$name" "$BIN/$as"
    echo "binary $as: $(date -u -r "$from/$name" +%Y-%m-%dT%H:%M:%SZ) sha256 $(sha256sum "$BIN/$as" | cut -c1-12)" \
        | tee -a "$OUT/machine.txt" >&2
}
for name in command-api projector loadgen; do copy_bin "$SOURCE_BIN" "$name" "$name"; done
# The builds each run times: the current one, and the baseline first when one is given.
BUILDS=(current)
if [ -n "${BENCH_BASELINE_BIN:-}" ]; then
    copy_bin "$BENCH_BASELINE_BIN" projector projector-baseline
    BUILDS=(baseline current)
fi
projector_of() { if [ "$1" = baseline ]; then echo "$BIN/projector-baseline"; else echo "$BIN/projector"; fi; }

export MR_DATABASE_URL="$PG_SERVER/$DB"
export RUST_LOG="${RUST_LOG:-info}"

# --- history -----------------------------------------------------------------------------
existing=0
if [ "${BENCH_REUSE_DB:-0}" = 1 ]; then
    existing="$(psql_db postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")"
    [ "$existing" = 1 ] || die "BENCH_REUSE_DB=1 but database $DB does not exist"
    log "reusing the history in $DB"
else
    log "fresh database $DB"
    psql_db postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
    export MR_COMMAND_HTTP_ADDR="$ADDR"
    export MR_COMMAND_GRPC_ADDR=off MR_PROJECTOR_METRICS_ADDR=off
    MR_MASTER_KEY="$(openssl rand -base64 32)"
    MR_JWT_SECRET="$(openssl rand -hex 32)"
    MR_BOOTSTRAP_ADMIN_PASSWORD="$(openssl rand -hex 16)"
    export MR_MASTER_KEY MR_JWT_SECRET MR_BOOTSTRAP_ADMIN_PASSWORD
    export MR_BOOTSTRAP_ADMIN_USERNAME=bench
    "$BIN/command-api" migrate >"$OUT/migrate.log" 2>&1 || { tail -n 30 "$OUT/migrate.log" >&2; die "migration failed"; }
    "$BIN/command-api" serve >"$OUT/command-api.log" 2>&1 </dev/null &
    API_PID=$!
    PIDS+=("$API_PID")
    ready=0
    for _ in $(seq $((READY_TIMEOUT * 10))); do
        kill -0 "$API_PID" 2>/dev/null || { tail -n 30 "$OUT/command-api.log" >&2; die "command-api exited"; }
        if [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://$ADDR/health/ready")" = 200 ]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ "$ready" = 1 ] || die "command-api not ready within ${READY_TIMEOUT}s (log: $OUT/command-api.log)"
    log "seeding: $EVENTS authorizations over $OPERATORS operators, $SEED_CONCURRENCY clients"
    seed_started=$(date +%s.%N)
    # No projector runs while seeding: the rebuild is what replays the history.
    run_child "$BIN/loadgen" --label replay-seed --base-url "http://$ADDR" --database-url "$MR_DATABASE_URL" \
        --operators "$OPERATORS" --concurrency "$SEED_CONCURRENCY" --requests "$EVENTS" \
        --duration-secs "$SEED_MAX_SECS" --warmup-secs 0 --projector off \
        >"$OUT/seed.log" 2>&1 || { tail -n 30 "$OUT/seed.log" >&2; die "seeding failed (log: $OUT/seed.log)"; }
    awk -v s="$seed_started" -v e="$(date +%s.%N)" 'BEGIN { printf "seeding took %.0f s\n", e - s }' \
        | tee -a "$OUT/machine.txt" >&2
    stop_services
fi
# A settled table, as after any real history: statistics fresh, visibility map set.
psql_db "$DB" -c "VACUUM ANALYZE public.events" -c CHECKPOINT
TOTAL_EVENTS="$(psql_db "$DB" -Atc 'SELECT count(*) FROM events')"
{
    echo "history: $TOTAL_EVENTS events, database $(psql_db "$DB" -Atc "SELECT pg_size_pretty(pg_database_size('$DB'))")"
    psql_db "$DB" -Atc "SELECT '  ' || event_type || ': ' || count(*) FROM events GROUP BY event_type ORDER BY count(*) DESC"
} | tee -a "$OUT/machine.txt" >&2

# --- timed runs --------------------------------------------------------------------------
# runs.tsv: command, build, run, events, seconds (wall clock of the whole command, start-up
# and migrations check included), events/s.
printf 'command\tbuild\trun\tevents\tseconds\tevents_per_s\n' >"$OUT/runs.tsv"
timed() {
    local command=$1 build=$2 run=$3 started ended rc=0 events seconds
    local logf="$OUT/$command-$build-$run.log"
    psql_db "$DB" -c CHECKPOINT
    started=$(date +%s.%N)
    run_child "$(projector_of "$build")" "$command" >"$logf" 2>&1 || rc=$?
    ended=$(date +%s.%N)
    # verify exits 1 on differences: a result to report, not a reason to stop measuring.
    if [ "$command" = rebuild ] && [ "$rc" != 0 ]; then tail -n 20 "$logf" >&2; die "rebuild failed (log: $logf)"; fi
    if [ "$command" = verify ] && ! grep -q '^OK$' "$logf"; then
        tail -n 20 "$logf" >&2
        FAILED+=("verify $build run $run found differences or failed (exit $rc, log: $logf)")
    fi
    if [ "$command" = rebuild ]; then
        events="$(sed -n 's/^rebuilt [a-z_]*: \([0-9]*\) events.*/\1/p' "$logf")"
    else
        events="$(sed -n 's/.* \([0-9]*\) events replayed.*/\1/p' "$logf")"
    fi
    seconds="$(awk -v s="$started" -v e="$ended" 'BEGIN { printf "%.3f", e - s }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$command" "$build" "$run" "${events:-0}" "$seconds" \
        "$(awk -v n="${events:-0}" -v t="$seconds" 'BEGIN { printf "%.0f", n / t }')" >>"$OUT/runs.tsv"
    log "$command ($build) run $run: ${events:-?} events in ${seconds}s (load $(cut -d' ' -f1-3 /proc/loadavg))"
}
FAILED=()
for run in $(seq "$RUNS"); do
    for build in "${BUILDS[@]}"; do timed rebuild "$build" "$run"; done
done
if [ "${BENCH_SKIP_VERIFY:-0}" != 1 ]; then
    for run in $(seq "$VERIFY_RUNS"); do
        for build in "${BUILDS[@]}"; do timed verify "$build" "$run"; done
    done
fi

# --- summary -----------------------------------------------------------------------------
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
# median COMMAND BUILD COLUMN: the median of that column over the runs.
median() {
    awk -F'\t' -v c="$1" -v b="$2" -v col="$3" '$1 == c && $2 == b { print $col }' "$OUT/runs.tsv" \
        | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
all_runs() {
    awk -F'\t' -v c="$1" -v b="$2" -v col="$3" '$1 == c && $2 == b { printf "%s%s", sep, $col; sep = ", " }' "$OUT/runs.tsv"
}
{
    echo "# Replay benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    echo "History: $TOTAL_EVENTS events. Each figure: median of $RUNS runs of rebuild, $VERIFY_RUNS of verify (the runs"
    echo "in brackets); seconds are the wall clock of the whole command (connecting and the migrations check"
    echo "included), events/s = events replayed / those seconds."
    echo
    echo "| command | build | events | seconds | events/s |"
    echo "|---|---|---|---|---|"
    for command in rebuild verify; do
        [ "$command" = verify ] && [ "${BENCH_SKIP_VERIFY:-0}" = 1 ] && continue
        for build in "${BUILDS[@]}"; do
            printf '| %s | %s | %s | %s (%s) | **%s** (%s) |\n' "$command" "$build" \
                "$(median "$command" "$build" 4)" "$(median "$command" "$build" 5)" "$(all_runs "$command" "$build" 5)" \
                "$(median "$command" "$build" 6)" "$(all_runs "$command" "$build" 6)"
        done
    done
    echo
    echo "Target: rebuild ≥ 50,000 events/s."
    if [ "${#FAILED[@]}" -gt 0 ]; then
        echo
        echo "FAILED: ${FAILED[*]}"
    fi
} >"$OUT/summary.md"

log "summary ($OUT/summary.md)"
cat "$OUT/summary.md"
[ "${#FAILED[@]}" -eq 0 ] || exit 1
