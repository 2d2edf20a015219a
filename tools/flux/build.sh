#!/usr/bin/env bash
# build.sh builds Flux's source-controller and kustomize-controller (the
# versions go.mod pins) into the directory given as its argument, and copies
# the CRDs they serve into its crds/: Kustomization, and every kind of
# source.toolkit.fluxcd.io (the benchmark uses GitRepository alone, but
# source-controller refuses to start without the CRD of each kind it
# reconciles, and kustomize-controller watches them all as sources).
# hack/build-peer.sh flux runs it in this directory.
set -euo pipefail

out=${1:?usage: build.sh <outdir>}
mkdir -p "$out/crds"

go build -trimpath -ldflags "-s -w" -o "$out/" \
  github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller

src=$(go list -m -f '{{.Dir}}' github.com/fluxcd/source-controller)
kus=$(go list -m -f '{{.Dir}}' github.com/fluxcd/kustomize-controller)
cp "$src/config/crd/bases/"source.toolkit.fluxcd.io_*.yaml "$out/crds/"
cp "$kus/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml" "$out/crds/"
# The module cache is read-only; the copies need not be.
chmod -R u+w "$out"
