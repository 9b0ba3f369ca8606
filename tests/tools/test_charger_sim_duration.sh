#!/usr/bin/env bash
# charger-sim --duration always ends the run, promptly and with exit 0.
# It used to hang now and then on a loaded machine (under ctest -j2): when
# the process was not scheduled for a moment around the deadline, the
# deadline and the 100 ms output timer came due together, the deadline's
# handler cancelled the output timer too late (its handler already queued,
# "successful") and that handler armed it again, for ever. And a central
# system that never answered the closing handshake kept it running for
# Beast's 30 s close timeout.
# Each run here is paused (SIGSTOP) for a moment around its deadline, at a
# different point each time, as a busy machine does; half of them against a
# central system that never answers the close frame. Every run must end
# within 10 s of its start, with exit 0. Then SIGTERM, and a second signal
# while it waits for that close frame: that one is no longer swallowed.
#
#   test_charger_sim_duration.sh CHARGER_SIM
set -uo pipefail
sim="$1"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

# start_peer NAME ARGS...: an ocpp_peer.py central system; its port in $port.
start_peer() {
    local name="$1"
    shift
    python3 "$here/ocpp_peer.py" --mode serve --port-file "$work/$name.port" "$@" \
        >"$work/$name.log" 2>&1 &
    pids+=($!)
    if ! wait_line "$work/$name.port" '^[0-9]+$' 20; then
        fail "the peer $name did not start:" "$work/$name.log"
        exit 1
    fi
    port="$(cat "$work/$name.port")"
}
start_peer polite
polite_port="$port"
start_peer deaf --ignore-close
deaf_port="$port"

runs=20
for i in $(seq "$runs"); do
    if ((i % 2)); then port="$polite_port" peer=polite; else port="$deaf_port" peer=deaf; fi
    start=$(date +%s%N)
    "$sim" --url "ws://127.0.0.1:$port/ocpp" --duration 1 --heartbeat 0.1 \
        >"$work/sim.$i.log" 2>&1 &
    sim_pid=$!
    pids+=("$sim_pid")
    # A pause from 0.90 to 1.09 s after the start, 0.3 s long.
    pause_ms=$((900 + (i * 70) % 200))
    sleep "$(printf '%d.%03d' $((pause_ms / 1000)) $((pause_ms % 1000)))"
    kill -STOP "$sim_pid" 2>/dev/null
    sleep 0.3
    kill -CONT "$sim_pid" 2>/dev/null
    # Polled, so a quick run is not held up; 9 s on from the pause's end is
    # 10 s and more after the start.
    if ! wait_exit "$sim_pid" 9; then
        what="run $i ($peer peer): charger-sim still runs 10 s after its start"
        fail "$what with --duration 1; its output:" "$work/sim.$i.log"
        kill -KILL "$sim_pid"
        wait "$sim_pid" 2>/dev/null
        continue
    fi
    took=$((($(date +%s%N) - start) / 1000000))
    if ((status != 0)) || ! grep -q '"event":"booted"' "$work/sim.$i.log"; then
        fail "run $i ($peer peer): exit $status after $took ms; its output:" "$work/sim.$i.log"
    else
        echo "ok: run $i ($peer peer): booted, and exit 0 after $took ms"
    fi
done

# SIGTERM ends a run too, also against the central system that never
# answers the close frame: exit 0 within 10 s.
# stop_run SIGNALS...: a charger-sim against the deaf peer, booted, then
# given each signal in turn, the second once the peer has its close frame.
# Leaves its exit status in $status ("hung" if it is still running 10 s on).
stop_run() {
    local log="$work/sim.stop.log" before sim_pid
    before="$(grep -c 'close frame ignored' "$work/deaf.log")"
    "$sim" --url "ws://127.0.0.1:$deaf_port/ocpp" >"$log" 2>&1 &
    sim_pid=$!
    pids+=("$sim_pid")
    if ! wait_line "$log" '"event":"booted"' 20; then
        status="not booted"
        return
    fi
    kill "-$1" "$sim_pid"
    if (($# > 1)); then
        for _ in $(seq 400); do
            (($(grep -c 'close frame ignored' "$work/deaf.log") > before)) && break
            sleep 0.05
        done
        # Gone already (it ended at the first signal): its status says so.
        kill "-$2" "$sim_pid" 2>/dev/null
    fi
    if ! wait_exit "$sim_pid" 10; then
        status=hung
        kill -KILL "$sim_pid"
        wait "$sim_pid" 2>/dev/null
    fi
}
stop_run TERM
if [[ $status != 0 ]]; then
    fail "SIGTERM against a central system that never answers the close frame: exit $status" \
        "$work/sim.stop.log"
else
    echo "ok: SIGTERM against a central system that never answers the close frame: exit 0"
fi
# While it waits for that close frame, a second signal takes its default
# action (it used to be swallowed): killed by SIGINT, 128 + 2.
stop_run TERM INT
if [[ $status != 130 ]]; then
    fail "a second signal (SIGINT) while stopping: exit $status, expected 130 (killed by it)" \
        "$work/sim.stop.log"
else
    echo "ok: a second signal (SIGINT) while stopping ends it at once (exit 130)"
fi
exit $((failures > 0))
