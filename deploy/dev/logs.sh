#!/usr/bin/env bash
# `make logs`: follows the logs of the services `make run` started (Ctrl-C to leave).
# MR_LOG_LINES sets how much history to show first (default 50).
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

files=()
for name in "${MR_SERVICES[@]}"; do
    files+=("$(log_file "$name")")
done
for name in "${MR_DEV_SERVICES[@]}"; do
    [ -e "$(log_file "$name")" ] && files+=("$(log_file "$name")")
done
[ -e "${files[0]}" ] || [ -e "${files[1]}" ] || [ -e "${files[2]}" ] ||
    die "no logs in $MR_RUN_DIR yet: start the system with make run"
# -F follows a log across the rename make run does on restart.
exec tail -n "${MR_LOG_LINES:-50}" -F "${files[@]}"
