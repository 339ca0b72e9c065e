#!/usr/bin/env bash
# Builds the console into deploy/console/dist, quietly and only when needed:
#   - `npm ci` when node_modules is missing or package-lock.json changed since the last install;
#   - `npm run build` (type check + vite) when dist is missing or older than a source file.
# With --if-missing (make run) an existing dist is kept as it is.
#
#   bash deploy/console/build.sh [--if-missing]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if_missing=0
[ "${1:-}" = --if-missing ] && if_missing=1

say() { printf '==> %s\n' "$*" >&2; }
# Runs a command with its output in a log; shows the log's end only when it fails.
quietly() {
    local logf
    logf="$(mktemp)"
    if ! "$@" >"$logf" 2>&1 </dev/null; then
        tail -n 40 "$logf" >&2
        rm -f "$logf"
        printf 'error: %s failed in deploy/console\n' "$*" >&2
        exit 1
    fi
    rm -f "$logf"
}

if [ "$if_missing" -eq 1 ] && [ -f dist/index.html ]; then
    exit 0
fi

# npm ci: only when the lock file differs from the one node_modules was installed from.
stamp=node_modules/.package-lock.sha256
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
    say "npm ci (deploy/console)"
    quietly npm ci --no-audit --no-fund --loglevel=error
    printf '%s\n' "$lock_sum" >"$stamp"
fi

# The build: when dist is missing or any input is newer than it.
if [ -f dist/index.html ] &&
    [ -z "$(find src index.html package-lock.json vite.config.ts tsconfig.json -newer dist/index.html -print -quit)" ]; then
    exit 0
fi
say "npm run build (deploy/console)"
quietly npm run build
