#!/usr/bin/env bash
# charger-sim --count that is not a whole number of at least 1 is refused with
# exit 2, naming the option ("-1" used to become a huge unsigned count, "0"
# ran no charger and exited 0).
#
#   test_charger_sim_count.sh CHARGER_SIM
set -uo pipefail
failures=0
for count in -1 0 x 1.5; do
    out="$(timeout 10 "$1" --url ws://127.0.0.1:1/ocpp --count "$count" --duration 1 2>&1)"
    status=$?
    if ((status != 2)) || [[ $out != *"--count"*"'$count'"* ]]; then
        echo "FAILED: --count $count: exit $status, output: $out"
        failures=$((failures + 1))
    else
        echo "ok: --count $count: $out"
    fi
done
exit $((failures > 0))
