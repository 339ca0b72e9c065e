#!/usr/bin/env bash
# `make stop`: stops the command-api, projector, query-api, gateway-sim and nginx that `make run` started
# (found through their pid files in .run/; nothing else is touched).
set -euo pipefail
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

any=0
for name in "${MR_SERVICES[@]}" "${MR_DEV_SERVICES[@]}"; do
    service_pid "$name" >/dev/null && any=1
done
stop_services
if [ "$any" -eq 1 ]; then
    log "stopped"
else
    log "nothing to stop (no service started by make run is running)"
fi
