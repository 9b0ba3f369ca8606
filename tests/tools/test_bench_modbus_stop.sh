#!/usr/bin/env bash
# bench-modbus's simulated batteries (a forked process of their own) end with
# the benchmark however it ends, even killed outright: they used to stay,
# paused for ever, holding their ports.
#
#   test_bench_modbus_stop.sh BENCH_MODBUS
set -uo pipefail
bench="$1"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
"$bench" --round-trips 10 --rounds 1 --devices 3 --poll-seconds 0.5 >/dev/null 2>&1 &
bench_pid=$!
pids+=("$bench_pid")
child=""
for _ in $(seq 600); do
    child="$(pgrep -P "$bench_pid" | head -1)"
    [[ -n $child ]] && break
    kill -0 "$bench_pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $child ]]; then
    fail "bench-modbus started no simulator process"
    exit 1
fi
# Killed at exit by its own pid: once bench-modbus is gone it is no one's child.
pids+=("$child")
kill -KILL "$bench_pid"
wait "$bench_pid" 2>/dev/null
for _ in $(seq 100); do
    if ! kill -0 "$child" 2>/dev/null; then
        echo "ok: the simulators end with bench-modbus, even killed outright"
        pids=()
        exit 0
    fi
    sleep 0.05
done
fail "bench-modbus was killed; its simulators (pid $child) still run"
exit 1
