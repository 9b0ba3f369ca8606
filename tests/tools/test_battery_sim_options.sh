#!/usr/bin/env bash
# battery-sim refuses values no battery has (a SoC of 150 %, a fractional
# port or unit, a negative power limit) with exit 2 naming the option,
# instead of simulating nonsense.
#
#   test_battery_sim_options.sh BATTERY_SIM
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
BATTERY_SIM="$1"
# check TEXT ARGS...: battery-sim ARGS exits 2 saying TEXT.
check() {
    local want="$1"
    shift
    expect_exit 2 "$want" "$BATTERY_SIM" --port 0 "$@"
}
check "--soc must be 0..100" --soc 150
check "--soc must be 0..100" --soc -1
check "--port must be a whole number" --port 1.5
check "--unit must be a whole number" --unit 1.5
check "must be >= 0" --max-charge-kw -5
check "--time-scale must be > 0" --time-scale 0
check "--revert-after must be from 0.001 to 1000000 seconds, got '0'" --revert-after 0
# Below a millisecond it became 0 ms ("must be > 0" for a positive value);
# beyond the range its conversion to milliseconds overflowed.
check "--revert-after must be from 0.001 to 1000000 seconds, got '0.0001'" --revert-after 0.0001
check "--revert-after must be from 0.001 to 1000000 seconds, got '1e300'" --revert-after 1e300
# stod reads inf and nan; neither is a battery's value.
check "--max-charge-kw needs a finite number, got 'inf'" --max-charge-kw inf
check "--capacity-kwh needs a finite number, got 'inf'" --capacity-kwh inf
check "--revert-after needs a finite number, got 'nan'" --revert-after nan
check "--time-scale needs a finite number, got 'infinity'" --time-scale infinity
# Refused at start: named once as the program's ("battery-sim: battery
# simulator: ..." said it twice).
check "battery-sim: bad IPv4 address notanip" --bind notanip
python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(30)' "$work/port" &
pids+=($!)
wait_line "$work/port" '^[0-9]+$' 5 || fail "the port holder did not start"
busy="$(cat "$work/port")"
check "battery-sim: cannot listen on 127.0.0.1:$busy: Address already in use" --port "$busy"
exit $((failures > 0))
