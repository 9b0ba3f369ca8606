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
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
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
pids+=($sim_pid)
# The call's line is out within 100 ms of its arrival.
for _ in $(seq 100); do
    grep -q '"action":"GetConfiguration"' "$work/sim.log" && break
    sleep 0.1
done
if ! grep -q '"action":"GetConfiguration"' "$work/sim.log"; then
    echo "FAILED: no GetConfiguration reached the simulator; its output, then the gateway's:"
    sed 's/^/    /' "$work/sim.log" "$work/gateway.log"
    exit 1
fi
kill -TERM "$sim_pid"
for _ in $(seq 100); do
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$sim_pid" 2>/dev/null; then
    echo "FAILED: charger-sim still runs 10 s after SIGTERM, its answer held back; output:"
    sed 's/^/    /' "$work/sim.log"
    exit 1
fi
wait "$sim_pid"
status=$?
if ((status != 0)) || ! grep -q '"event":"disconnected"' "$work/sim.log"; then
    echo "FAILED: charger-sim exit $status after SIGTERM; output:"
    sed 's/^/    /' "$work/sim.log"
    exit 1
fi
echo "ok: charger-sim with an answer held back ends at SIGTERM (exit 0), reporting the disconnect"
