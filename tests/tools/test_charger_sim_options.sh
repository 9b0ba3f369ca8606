#!/usr/bin/env bash
# charger-sim's option values: a --count that is not a whole number of at
# least 1 is refused with exit 2, naming the option ("-1" used to become a
# huge unsigned count, "0" ran no charger and exited 0); a --ca-file that
# cannot be read or holds no certificate is named with the reason.
#
#   test_charger_sim_options.sh CHARGER_SIM
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

scratch="$(mktemp -d)"
echo "not a certificate" >"$scratch/not-a-ca.pem"
for case in "$scratch/missing.pem|cannot read the CA file: No such file or directory" \
    "$scratch/not-a-ca.pem|cannot load the CA file: no certificate or crl found"; do
    file="${case%%|*}" want="${case#*|}"
    out="$(timeout 10 "$1" --url wss://127.0.0.1:1/ocpp --ca-file "$file" --duration 1 2>&1)"
    status=$?
    if ((status != 2)) || [[ $out != *"$file: $want"* ]]; then
        echo "FAILED: --ca-file $file: exit $status, output: $out"
        failures=$((failures + 1))
    else
        echo "ok: --ca-file $file: $out"
    fi
done
rm -rf "$scratch"
exit $((failures > 0))
