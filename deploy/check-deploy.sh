#!/usr/bin/env bash
# Validates the deploy artifacts (`make check-deploy`, part of `make test`):
#   deploy/k8s/*.yaml         against Kubernetes' own schemas (kubernetes-validate --strict)
#   deploy/compose/*.yaml     against the Compose specification (check-jsonschema)
#   deploy/systemd/*.service  with systemd-analyze verify, pointed at the built binaries
# The two Python validators live in a virtualenv under ~/.cache (installed on first use from
# PyPI, pinned here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mrledger-target}"
VENV="${MR_TOOLS_VENV:-$HOME/.cache/mrledger-venv}"
KUBERNETES_VALIDATE=1.37.0
CHECK_JSONSCHEMA=0.39.0

if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE" \
    || ! "$VENV/bin/check-jsonschema" --version 2>/dev/null | grep -q "$CHECK_JSONSCHEMA"; then
    echo "check-deploy: installing kubernetes-validate $KUBERNETES_VALIDATE and check-jsonschema $CHECK_JSONSCHEMA into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE" "check-jsonschema==$CHECK_JSONSCHEMA"
fi

echo "check-deploy: Kubernetes manifests"
# kustomization.yaml is kustomize's, not a Kubernetes resource.
mapfile -t manifests < <(ls "$ROOT"/deploy/k8s/*.yaml | grep -v '/kustomization.yaml$')
"$VENV/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
for resource in $(sed -n 's/^  - //p' "$ROOT/deploy/k8s/kustomization.yaml"); do
    [ -f "$ROOT/deploy/k8s/$resource" ] || { echo "kustomization.yaml lists missing $resource" >&2; exit 1; }
done
echo "check-deploy: compose file"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$ROOT"/deploy/compose/compose.yaml

echo "check-deploy: systemd units"
units="$(mktemp -d)"
trap 'rm -rf "$units"' EXIT
bin="$CARGO_TARGET_DIR/debug"
for unit in "$ROOT"/deploy/systemd/*.service; do
    # Verified against the binaries just built (the units name their installed path).
    sed "s#/usr/local/bin/#$bin/#g" "$unit" >"$units/$(basename "$unit")"
done
out="$(systemd-analyze verify "$units"/*.service 2>&1)" || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
echo "check-deploy: all valid"
