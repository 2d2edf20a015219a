#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the module, one after another, each for
# FUZZTIME (default 30s; `make fuzz FUZZTIME=2m`). Targets are found anew on
# every run: each `func FuzzXxx(f *testing.F)` in a package's test files (as
# `go list` selects them for this platform), so a new one needs no listing
# here. `go test -fuzz` takes one target per run, hence the loop. The first
# failure stops the run with a non-zero exit, naming the target; `go test`
# saves the failing input under the package's testdata/fuzz/<target>/ and
# prints how to re-run it.
#
# Usage: hack/fuzz.sh [REGEXP]   only targets whose "<package>.<FuzzName>"
#                                matches REGEXP (grep -E)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-30s}
filter=${1:-}

pkgs=$(go list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./...)
targets=()
while read -r pkg dir files; do
  [ -n "$files" ] || continue
  for name in $(cd "$dir" && sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)([A-Za-z0-9_]* *\*testing\.F).*/\1/p' $files | sort -u); do
    if [ -z "$filter" ] || grep -qE -- "$filter" <<<"$pkg.$name"; then
      targets+=("$pkg $name")
    fi
  done
done <<<"$pkgs"

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found${filter:+ matching $filter}" >&2
  exit 1
fi

echo "fuzz: ${#targets[@]} targets, $fuzztime each"
start=$SECONDS
i=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  i=$((i + 1))
  echo "=== fuzz [$i/${#targets[@]}] $pkg $name"
  t0=$SECONDS
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
    echo "FAIL: fuzz target $name in $pkg failed (its failing input, if it found one, is under" \
      "$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name/)" >&2
    exit 1
  fi
  echo "--- ok $pkg $name ($((SECONDS - t0))s)"
done
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
