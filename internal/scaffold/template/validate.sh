#!/bin/bash
# validate.sh - Run in CI before merging. `ferry validate` renders every
# deployable unit (each Application's source, each kustomization overlay,
# each plain directory) the way the controller will, and checks it offline:
# Kubernetes schemas and the CRDs in this repository, built-in security
# rules, and the Rego policies in policies/ (conftest-compatible).
#
#   scripts/validate.sh                    # offline checks
#   scripts/validate.sh --server-dry-run   # also dry-run every object on the cluster of $KUBECONFIG
#   scripts/validate.sh -o sarif > validate.sarif   # code-scanning annotations on pull requests
set -euo pipefail
cd "$(dirname "$0")/.."

exec ferry validate . "$@"
