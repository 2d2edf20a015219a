#!/bin/bash
# bootstrap.sh ENV - Point a cluster's GitOps controller (Ferry or Argo CD) at
# this repository: apply the Applications of clusters/ENV.
set -euo pipefail
cd "$(dirname "$0")/.."
env=${1:?usage: scripts/bootstrap.sh production|staging}
kubectl create namespace argocd 2>/dev/null || kubectl get namespace argocd >/dev/null
kubectl apply -f "clusters/$env/"
