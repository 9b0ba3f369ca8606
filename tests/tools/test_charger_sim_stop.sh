#!/usr/bin/env bash
# charger-sim ends at SIGTERM even while a charger holds back an answer
# (--answer delay:MS): the held answer's timer used to keep the event loop,
# and so the process, running for the whole delay (here 10 minutes).
# Against the real gateway: a charger with charging_rate_unit = "auto" is
# asked GetConfiguration as soon as it connects.
#
#   test_charger_sim_stop.sh GRIDGATE CHARGER_SIM
set -uo pipefail
gridgate="$1" sim="$2"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
api_port="$(free_port)" ocpp_port="$(free_port)"
cat >"$work/site.toml" <<TOML
[site]
name = "charger-sim-stop"
[api]
listen = "127.0.0.1:$api_port"
[adapters.ocpp]
plugin = "ocpp16"
listen = "127.0.0.1:$ocpp_port"
[[assets]]
id = "ast_cp1"
type = "ev_charger"
adapter = "ocpp"
charge_point_id = "CP0001"
charging_rate_unit = "auto"
TOML
"$gridgate" --config "$work/site.toml" >"$work/gateway.log" 2>&1 &
pids+=($!)
"$sim" --url "ws://127.0.0.1:$ocpp_port/ocpp" --answer delay:600000 >"$work/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
# The call's line is out within 100 ms of its arrival.
if ! wait_line "$work/sim.log" '"action":"GetConfiguration"' 10; then
    fail "no GetConfiguration reached the simulator; its output, then the gateway's:" \
        "$work/sim.log" "$work/gateway.log"
    exit 1
fi
kill -TERM "$sim_pid"
if ! wait_exit "$sim_pid" 10; then
    fail "charger-sim still runs 10 s after SIGTERM, its answer held back; output:" \
        "$work/sim.log"
    exit 1
fi
if ((status != 0)) || ! grep -q '"event":"disconnected"' "$work/sim.log"; then
    fail "charger-sim exit $status after SIGTERM; output:" "$work/sim.log"
    exit 1
fi
echo "ok: charger-sim with an answer held back ends at SIGTERM (exit 0), reporting the disconnect"
