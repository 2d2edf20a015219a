#!/bin/bash
# validate.sh - Run in CI before merging: render every deployable unit and
# check it against the cluster with a server-side dry run.
set -euo pipefail
cd "$(dirname "$0")/.."

for dir in infrastructure/overlays/* apps/*/*; do
  echo "== $dir"
  kubectl kustomize "$dir" | kubectl apply --dry-run=server -f -
done
for dir in clusters/*; do
  echo "== $dir"
  kubectl apply --dry-run=server -f "$dir"
done
