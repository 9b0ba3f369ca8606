#!/usr/bin/env bash
# tools/bench-instructions on a small storm: both threads are found, every
# call of the storms is counted on each (20 chargers, 1 storm, then the
# latency storm to 20: 40 calls), and the counts per call are in a sane
# range. Bad options are refused with exit 2, naming what is wrong.
#
#   test_bench_instructions.sh BUILD_DIR
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tool="$(cd "$(dirname "$0")/../.." && pwd)/tools/bench-instructions"
export GRIDGATE_BUILD_DIR="$1"

# check WHAT CONDITION...: ok, or a failure naming WHAT.
check() {
    local what="$1"
    shift
    if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

"$tool" --top 3 --chargers 20 --small 20 --storms 1 >"$work/out" 2>&1
status=$?
cat "$work/out"
check "it runs (exit $status)" test "$status" -eq 0
for thread in "engine thread" "OCPP I/O thread"; do
    line="$(grep -E "^\| $thread +\|" "$work/out")"
    calls="$(awk -F'|' '{ gsub(/ /, "", $3); print $3 }' <<<"$line")"
    per_call="$(awk -F'|' '{ gsub(/[ ,]/, "", $4); print $4 }' <<<"$line")"
    check "$thread: 40 calls counted (got '$calls')" test "$calls" = 40
    check "$thread: 2,000 to 1,000,000 instructions per call (got '$per_call')" \
        bash -c "[[ '$per_call' =~ ^[0-9]+\$ ]] && ((per_call = $per_call, per_call >= 2000 && per_call <= 1000000))"
    check "$thread: its function list" grep -q "^$thread: the 3 functions" "$work/out"
done

"$tool" --storms 0 >"$work/out" 2>&1
status=$?
check "--storms 0: exit 2 (got $status)" test "$status" -eq 2
check "--storms 0: says why" grep -q -- "--storms wants a whole number of at least 1, not '0'" "$work/out"
"$tool" --top x >"$work/out" 2>&1
status=$?
check "--top x: exit 2 (got $status)" test "$status" -eq 2
check "--top x: says why" grep -q -- "--top wants a whole number, not 'x'" "$work/out"
exit $((failures > 0))
