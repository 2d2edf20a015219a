#!/usr/bin/env bash
# test-packages.sh splits the module's packages for `make test`:
#
#   hack/test-packages.sh race   packages whose tests need no control plane;
#                                `make test` runs them with -race
#   hack/test-packages.sh kube   every other package (those whose tests start
#                                a control plane, and those with no tests);
#                                `make test` runs them without -race
#
# A package's tests need a control plane when its test binary depends on
# internal/localcluster (directly, or through controllertest,
# localclustertest, the CLI, the demo...: localcluster is what finds the
# binaries through FERRY_KUBE_DIR and starts them), or when one of its test
# files names FERRY_KUBE_DIR itself. When in doubt a package goes to the kube
# list, which runs as `make test` always ran every package.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-}
case $which in race | kube) ;; *) echo "usage: hack/test-packages.sh race|kube" >&2; exit 2 ;; esac

cluster="$(go list -m)/internal/localcluster"

# Test binaries ("<pkg>.test") whose dependencies include localcluster.
tests=$(go list -test -f '{{.ImportPath}}|{{join .Deps " "}}' ./...)
pkgs=$(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)

declare -A kube=()
while IFS='|' read -r bin deps; do
  case $bin in *.test) ;; *) continue ;; esac
  case " $deps " in *" $cluster "* | *" $cluster ["*) kube[${bin%.test}]=1 ;; esac
done <<<"$tests"

while read -r pkg dir files; do
  if [ -z "$files" ] || [ -n "${kube[$pkg]:-}" ] ||
    (cd "$dir" && grep -qs 'FERRY_KUBE_DIR' $files); then
    [ "$which" = kube ] && echo "$pkg"
  else
    [ "$which" = race ] && echo "$pkg"
  fi
done <<<"$pkgs"
exit 0
