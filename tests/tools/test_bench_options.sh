#!/usr/bin/env bash
# The benchmarks' option values: a value that is not a whole number in the
# option's range is refused with exit 2, naming the option and the value,
# before anything runs ("abc" used to abort on an uncaught std::stoi
# exception, "-1" devices to become a huge count, "12abc" to be 12).
#
# bench-engine's options are Google Benchmark's; an unknown one is bad
# usage too (exit 2), as for the others. So are tools/bench-ab's and
# tools/run-fuzz's.
#
#   test_bench_options.sh BENCH_GATEWAY BENCH_MODBUS BENCH_OCPP BENCH_ENGINE
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# check PROGRAM WANT ARGS...: exit 2 and WANT in the output, no abort.
check() {
    local program="$1" want="$2"
    shift 2
    expect_exit 2 "$want" "$program" "$@"
}
gateway="$1" modbus="$2" ocpp="$3" engine="$4"
check "$ocpp" "--storms wants a whole number of at least 1, not '0'" --storms 0
check "$ocpp" "usage: bench-ocpp" --chargers
check "$gateway" "--devices wants a whole number from 1 to 1000, not 'x'" --devices x
check "$gateway" "--devices wants a whole number from 1 to 1000, not '-1'" --devices -1
check "$gateway" "--slots wants a whole number from 1 to 1000, not '0'" --slots 0
check "$gateway" "--slot-ms wants a whole number from 10 to 3600000, not '1e99'" --slot-ms 1e99
check "$modbus" "--rounds wants a whole number from 1 to 100000, not 'x'" --rounds x
check "$modbus" "--devices wants a whole number from 0 to 1000, not '-3'" --devices -3
check "$modbus" "--slots wants a whole number from 1 to 1000, not '0'" --slots 0
check "$modbus" "--round-trips wants a whole number from 1 to 1000000, not '12abc'" --round-trips 12abc
check "$engine" "unrecognized command-line flag: --bogus" --bogus
check "$modbus" "--poll-seconds wants a number of seconds from 0.01 to 3600, not 'nan'" --poll-seconds nan
# The scripts beside them: bench-ab (both spellings of --rounds) and run-fuzz
# refuse before they build or run anything.
tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools" && pwd)"
check "$tools/bench-ab" "--rounds wants a positive number, not 'x'" --rounds=x a b
check "$tools/bench-ab" "--rounds wants a positive number, not '0'" --rounds 0 a b
check "$tools/run-fuzz" "--seconds needs a whole number of seconds above 0" --seconds 0
check "$tools/run-fuzz" "no fuzz target 'nope'" nope
check "$tools/run-fuzz" "unknown option --bogus" --bogus
# --help: the usage first thing on standard output, exit 0.
for program in "$gateway" "$modbus" "$ocpp"; do
    out="$(timeout 10 "$program" --help 2>/dev/null)"
    status=$?
    if ((status != 0)) || [[ $out != usage:* ]]; then
        fail "$(basename "$program") --help: exit $status, output: $out"
    else
        echo "ok: $(basename "$program") --help"
    fi
done
exit $((failures > 0))
