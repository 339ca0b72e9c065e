#!/usr/bin/env bash
# Fuzzes what a headset request carries before anything is looked up (tests/fuzz): the signing
# headers and signature check, the session id, and the request bodies. Each target runs for
# FUZZ_SECONDS (default 20) from the seed corpus in tests/fuzz/corpus/<target>/; any crash or
# failed invariant fails the run and leaves its input under the artifacts directory printed.
#
# Needs the nightly toolchain (sanitizers); installs cargo-fuzz when missing. Builds in a
# target directory of its own so the main build cache is never invalidated.
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
FUZZ_DIR=tests/fuzz
TARGETS=(signing_headers session_id headset_body)
# Sanitizer builds differ from the main ones in every flag: sharing a directory would
# rebuild both ways each time.
FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/mrledger-fuzz-target}"
export CARGO_TARGET_DIR="$FUZZ_TARGET_DIR"
# New inputs found while fuzzing go to a scratch corpus, so the committed seeds stay as they
# are; crashes go to artifacts.
WORK_DIR="${FUZZ_WORK_DIR:-$HOME/.cache/mrledger-fuzz-work}"
# Longest input tried: a little over the 16 KiB body limit.
MAX_LEN=17000

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

started=$(date +%s)
cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR" --target-dir "$FUZZ_TARGET_DIR"
echo "fuzz: built in $(($(date +%s) - started)) s"

for target in "${TARGETS[@]}"; do
    mkdir -p "$WORK_DIR/corpus/$target" "$WORK_DIR/artifacts/$target"
    echo "fuzz: $target for ${FUZZ_SECONDS} s"
    cargo +nightly fuzz run --fuzz-dir "$FUZZ_DIR" --target-dir "$FUZZ_TARGET_DIR" "$target" \
        "$WORK_DIR/corpus/$target" "$FUZZ_DIR/corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="$MAX_LEN" \
        -artifact_prefix="$WORK_DIR/artifacts/$target/" -print_final_stats=1 || {
        echo "fuzz: $target failed; inputs in $WORK_DIR/artifacts/$target/" >&2
        exit 1
    }
done
echo "fuzz: all targets passed in $(($(date +%s) - started)) s"
