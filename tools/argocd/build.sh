#!/usr/bin/env bash
# build.sh builds Argo CD's multi-call binary into $1/argocd, with the names
# it dispatches on (argocd-application-controller, argocd-repo-server) as
# symlinks to it, and copies Argo CD's CRDs into $1/crds and the settings its
# install ships (argocd-cm with its default resource exclusions,
# argocd-rbac-cm, argocd-secret) into $1/config. hack/build-peer.sh runs it in
# this directory.
#
# The repo server runs git, and for every manifest generation Argo CD's
# image's git-verify-wrapper.sh (which runs git verify-commit, hence gpg for
# a signed commit): build.sh copies it and gpg-wrapper.sh from Argo CD's
# hack/ into $1, which must be on the repo server's PATH. Directories of
# plain YAML need nothing else (helm and kustomize only for those sources).
set -euo pipefail

out=${1:?usage: build.sh <outdir>}
mkdir -p "$out/crds" "$out/config"

# Argo CD's own builds stamp the version (from its VERSION file); without it
# the binaries call themselves 99.99.99 in their logs.
mod=github.com/argoproj/argo-cd/v3
version=$(go list -m -f '{{.Version}}' "$mod")
ldflags="-s -w -X $mod/common.version=${version#v}"

go build -trimpath -ldflags "$ldflags" -o "$out/argocd" "$mod/cmd"
ln -sf argocd "$out/argocd-application-controller"
ln -sf argocd "$out/argocd-repo-server"

dir=$(go list -m -f '{{.Dir}}' "$mod")
for f in application-crd.yaml appproject-crd.yaml applicationset-crd.yaml; do
  cp "$dir/manifests/crds/$f" "$out/crds/"
done
for f in argocd-cm.yaml argocd-rbac-cm.yaml argocd-secret.yaml; do
  cp "$dir/manifests/base/config/$f" "$out/config/"
done
for f in git-verify-wrapper.sh gpg-wrapper.sh; do
  install -m 0755 "$dir/hack/$f" "$out/$f"
done
chmod -R u+w "$out"
