#!/usr/bin/env bash
# build-peer.sh builds a benchmark peer (Flux's or Argo CD's controllers,
# from Go modules in tools/<peer>) into a cache directory outside the work
# tree, and does nothing when that directory is complete already. Each peer's
# tools/<peer>/build.sh does the building: it is run in tools/<peer> with the
# output directory as its argument.
#
# Usage: hack/build-peer.sh <peer>          builds if needed, prints the directory
#        hack/build-peer.sh <peer> --dir    prints the directory only
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
peer=${1:?usage: hack/build-peer.sh <peer> [--dir]}
src="$root/tools/$peer"
[ -x "$src/build.sh" ] || { echo "build-peer.sh: no peer $peer ($src/build.sh)" >&2; exit 2; }
dir=${XDG_CACHE_HOME:-$HOME/.cache}/ferry/peers/$peer

if [ "${2:-}" = "--dir" ]; then echo "$dir"; exit 0; fi

# The stamp names what the binaries were built from: a change of a pinned
# module version or of the build script rebuilds them.
stamp=$(cat "$src"/go.mod "$src"/go.sum "$src"/build.sh "$0" | sha256sum | cut -c1-16)
if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
  echo "$dir"
  exit 0
fi

echo "building the benchmark peer $peer into $dir (minutes the first time)" >&2
tmp="$dir.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && ./build.sh "$tmp")
echo "$stamp" > "$tmp/.stamp"
rm -rf "$dir"; mkdir -p "$(dirname "$dir")"; mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
