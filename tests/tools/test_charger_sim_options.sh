#!/usr/bin/env bash
# charger-sim's option values: a --count that is not a whole number of at
# least 1 is refused with exit 2, naming the option ("-1" used to become a
# huge unsigned count, "0" ran no charger and exited 0); a --ca-file that
# cannot be read or holds no certificate is named with the reason. The
# other values too: a --url port that is not a whole number ("charger-sim:
# stoi", or ":9000x" taken as 9000), --threads -1 (4294967295 event loops:
# gigabytes in seconds), a --duration or --heartbeat that is negative, not
# finite or absurd (ignored, or "inf" ending the run at once), and a delay
# past a day. And TLS options (--ca-file, --insecure) with a ws:// URL,
# which were silently ignored.
#
#   test_charger_sim_options.sh CHARGER_SIM
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
CHARGER_SIM="$1"
for count in -1 0 x 1.5; do
    expect_exit 2 "--count: a whole number from 1 to 9999999, got '$count'" \
        "$CHARGER_SIM" --url ws://127.0.0.1:1/ocpp --count "$count" --duration 1
done

echo "not a certificate" >"$work/not-a-ca.pem"
for case in "$work/missing.pem|cannot read the CA file: No such file or directory" \
    "$work/not-a-ca.pem|cannot load the CA file: no certificate or crl found"; do
    file="${case%%|*}" want="${case#*|}"
    expect_exit 2 "$file: $want" \
        "$CHARGER_SIM" --url wss://127.0.0.1:1/ocpp --ca-file "$file" --duration 1
done

# value_refused WANT ARGS...: exit 2 naming the problem, promptly.
value_refused() {
    local want="$1"
    shift
    expect_exit 2 "$want" "$CHARGER_SIM" --no-reconnect "$@"
}
value_refused "--url: the port must be a whole number from 1 to 65535, got 'abc'" \
    --url ws://127.0.0.1:abc/ocpp
value_refused "got '9000x'" --url ws://127.0.0.1:9000x/ocpp
value_refused "got ''" --url ws://127.0.0.1:/ocpp
value_refused "no ']' after the IPv6 address" --url "ws://[::1/ocpp"
value_refused "--threads: a whole number from 1 to 256, got '-1'" --threads -1
value_refused "--duration: seconds from 0 to 1e+08, got -1" --duration -1
value_refused "--duration: seconds from 0 to 1e+08, got inf" --duration inf
value_refused "--heartbeat: seconds from 0.1 to 86400, got -5" --heartbeat -5
value_refused "--heartbeat: seconds from 0.1 to 86400, got nan" --heartbeat nan
value_refused "got 'delay:99999999999999999'" --answer delay:99999999999999999
# TLS options with a ws:// URL were ignored without a word.
value_refused "--ca-file: only for a wss:// --url (no TLS over ws://127.0.0.1:1/ocpp)" \
    --url ws://127.0.0.1:1/ocpp --ca-file /etc/ssl/certs/ca-certificates.crt --duration 1
value_refused "--insecure: only for a wss:// --url" --url ws://127.0.0.1:1/ocpp --insecure \
    --duration 1

# An IPv6 address in brackets is connected to, not looked up as a name.
expect_exit 0 '"event":"handshake_failed","detail":"connect: ' \
    "$CHARGER_SIM" --no-reconnect --url "ws://[::1]:1/ocpp" --duration 1
exit $((failures > 0))
