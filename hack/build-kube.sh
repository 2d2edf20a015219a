#!/usr/bin/env bash
# build-kube.sh builds the local control plane's binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok) and kwok's stage
# files into a cache directory outside the work tree, keyed by the Kubernetes
# version, and does nothing when that directory is complete already. The helm
# CLI (tools/helm), which tests compare Ferry's Helm renders with, is built
# there too, with a stamp of its own.
#
# Usage: hack/build-kube.sh            builds if needed, prints the directory
#        hack/build-kube.sh --dir      prints the directory only
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kube_version=v1.37.2
minor=${kube_version#v1.}; minor=${minor%%.*}
dir=${FERRY_KUBE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/kube/$kube_version}

if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi

# The stamp names what the binaries were built from: a change of any pinned
# module version rebuilds them.
stamp=$(cat "$root/tools/kube/go.sum" "$root/tools/kube/kwok/go.sum" "$0" | sha256sum | cut -c1-16)
helm_stamp=$(cat "$root/tools/helm/go.mod" "$root/tools/helm/go.sum" | sha256sum | cut -c1-16)

# build_helm builds helm into $dir unless its stamp says it is there already.
build_helm() {
  if [ -f "$dir/.helm-stamp" ] && [ "$(cat "$dir/.helm-stamp")" = "$helm_stamp" ]; then
    return
  fi
  echo "building helm into $dir" >&2
  (cd "$root/tools/helm" && go build -trimpath -ldflags "-s -w" -o "$dir/helm.tmp.$$" helm.sh/helm/v4/cmd/helm)
  mv "$dir/helm.tmp.$$" "$dir/helm"
  echo "$helm_stamp" > "$dir/.helm-stamp"
}

if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
  build_helm
  echo "$dir"
  exit 0
fi

echo "building the control plane $kube_version into $dir (several minutes the first time)" >&2
tmp="$dir.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp/stages"
trap 'rm -rf "$tmp"' EXIT

# Binaries built from k8s.io/kubernetes report v0.0.0-master without these,
# which breaks clients that parse the server version.
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$kube_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
ldflags="$ldflags -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"

cd "$root/tools/kube"
go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
  ./etcd ./kube-apiserver ./kube-controller-manager ./kube-scheduler ./kubectl

cd "$root/tools/kube/kwok"
go build -trimpath -ldflags "-s -w" -o "$tmp/" .
# kwok plays the kubelet through stages; the "fast" set moves Nodes to Ready
# and Pods to Running/Ready (or Succeeded for Jobs) without artificial delay.
stagedir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cp "$stagedir/$f" "$tmp/stages/"
done
chmod -R u+w "$tmp"

echo "$stamp" > "$tmp/.stamp"
rm -rf "$dir"; mkdir -p "$(dirname "$dir")"; mv "$tmp" "$dir"
trap - EXIT
build_helm
echo "$dir"
