#!/usr/bin/env bash
# check-leftovers.sh RUN_ID fails when any process that a test run started is
# still alive. Every such process inherits FERRY_TEST_RUN=RUN_ID from `make
# test`, so this finds exactly them, whatever their name.
set -uo pipefail
id=${1:?usage: check-leftovers.sh RUN_ID}
left=()
for env in /proc/[0-9]*/environ; do
  pid=${env#/proc/}; pid=${pid%/environ}
  [ "$pid" = "$$" ] && continue
  if { tr "\\0" "\\n" < "$env"; } 2>/dev/null | grep -qx "FERRY_TEST_RUN=$id"; then
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [ "$state" = "Z" ] && continue
    left+=("$pid $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)")
  fi
done
if [ ${#left[@]} -gt 0 ]; then
  echo "processes started by the test run are still running:"
  printf '  %s\n' "${left[@]}"
  exit 1
fi
echo "no process started by the test run is left running"
