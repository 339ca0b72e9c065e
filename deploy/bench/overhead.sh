#!/usr/bin/env bash
# What rate limiting and tracing cost (`make bench-overhead`): the authorize benchmark
# (deploy/bench/run.sh, scenarios spread and hot) run in alternating rounds of two modes on
# the same release binaries:
#
#   plain     MR_RATE_LIMIT_ENABLED=false, RUST_LOG=warn, no trace export
#   observed  rate limits on (raised far above the load, so every request is still counted
#             in Redis), RUST_LOG=info (request ids on every log line), every request span
#             exported over OTLP/gRPC to a local collector (otlp-sink)
#
# Prints the median req/s and p99 of each mode and their ratio; figures go to
# docs/PERFORMANCE.md. Output: bench-out/overhead-<UTC timestamp>/ (gitignored).
#
# Environment (all optional): BENCH_ROUNDS (3), BENCH_DURATION (15), BENCH_SCENARIOS
# ("spread hot"), BENCH_MODES ("plain observed"; also limits, logs, traces: one each on;
# sampled: observed exporting one trace in ten),
# BENCH_OTLP_ADDR (127.0.0.1:14317), and everything run.sh takes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"
ROUNDS="${BENCH_ROUNDS:-3}"
export BENCH_DURATION="${BENCH_DURATION:-15}"
export BENCH_SCENARIOS="${BENCH_SCENARIOS:-spread hot}"
export BENCH_SKIP_PG=1
OTLP_ADDR="${BENCH_OTLP_ADDR:-127.0.0.1:14317}"
# plain and observed give the ratio; limits, logs and traces (one each) show where it goes.
MODES="${BENCH_MODES:-plain observed}"
OUT="${BENCH_OUT:-$ROOT/bench-out/overhead-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"

echo "== cargo build --release -p command-api -p projector -p tests" >&2
(cd "$ROOT" && cargo build --release -p command-api -p projector -p tests) >"$OUT/build.log" 2>&1 \
    || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
# One pinned copy of the binaries for every round.
export BENCH_BIN="$OUT/bin"
mkdir -p "$BENCH_BIN"
for name in command-api projector loadgen otlp-sink; do
    cp "$CARGO_TARGET_DIR/release/$name" "$BENCH_BIN/$name"
done
export BENCH_KEEP_BIN=1

"$BENCH_BIN/otlp-sink" --addr "$OTLP_ADDR" >"$OUT/otlp-sink.log" 2>&1 &
SINK=$!
trap 'kill -TERM "$SINK" 2>/dev/null || true' EXIT

# mode_env MODE: the settings of one mode, as VAR=value words.
mode_env() {
    local limits=false log=warn otlp="" ratio=1.0
    case "$1" in
        plain) ;;
        limits) limits=true ;;
        logs) log=info ;;
        traces) otlp="http://$OTLP_ADDR" ;;
        observed) limits=true log=info otlp="http://$OTLP_ADDR" ;;
        # observed, exporting one trace in ten (MR_OTLP_SAMPLE_RATIO=0.1)
        sampled) limits=true log=info otlp="http://$OTLP_ADDR" ratio=0.1 ;;
        *) echo "unknown mode $1" >&2; exit 2 ;;
    esac
    echo "MR_RATE_LIMIT_ENABLED=$limits RUST_LOG=$log MR_OTLP_ENDPOINT=$otlp MR_OTLP_SAMPLE_RATIO=$ratio"
}

run_mode() {
    local mode=$1 round=$2
    echo "== round $round: $mode ($(mode_env "$mode"))" >&2
    # shellcheck disable=SC2046 # the words are VAR=value pairs
    env $(mode_env "$mode") BENCH_OUT="$OUT/$mode-$round" bash "$ROOT/deploy/bench/run.sh" >/dev/null
}

for round in $(seq "$ROUNDS"); do
    # Rotate which mode goes first, so a drift of the machine favours none.
    read -r -a order <<<"$MODES"
    for ((i = 0; i < ${#order[@]}; i++)); do
        run_mode "${order[$(((i + round - 1) % ${#order[@]}))]}" "$round"
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "?"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
figure() { for r in $(seq "$ROUNDS"); do jq -r "$3" "$OUT/$1-$r/$2.json"; done | median; }
{
    echo "Rate limiting + tracing overhead: $ROUNDS alternating rounds, ${BENCH_DURATION} s per scenario, $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD)."
    echo
    echo "Median req/s (p99 ms) per mode; ratio = mode / plain."
    echo
    printf '| scenario |'; for m in $MODES; do printf ' %s |' "$m"; done; echo
    printf '|---|'; for m in $MODES; do printf -- '---|'; done; echo
    for s in $BENCH_SCENARIOS; do
        p="$(figure plain "$s" .throughput_rps)"
        printf '| %s |' "$s"
        for m in $MODES; do
            r="$(figure "$m" "$s" .throughput_rps)" l="$(figure "$m" "$s" .latency_ms.p99)"
            printf ' %.0f (%.1f) ×%s |' "$r" "$l" "$(awk -v a="$r" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"
        done
        echo
    done
    echo
    echo "Per round (req/s):"
    for s in $BENCH_SCENARIOS; do
        for r in $(seq "$ROUNDS"); do
            printf -- '- %s round %s:' "$s" "$r"
            for m in $MODES; do printf ' %s %.0f' "$m" "$(jq -r .throughput_rps "$OUT/$m-$r/$s.json")"; done
            echo
        done
    done
} >"$OUT/summary.md"
kill -TERM "$SINK" 2>/dev/null || true
wait "$SINK" 2>/dev/null || true
echo "otlp-sink: $(tail -n 1 "$OUT/otlp-sink.log")" >>"$OUT/summary.md"
cat "$OUT/summary.md"
