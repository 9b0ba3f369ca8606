#!/usr/bin/env bash
# bench-ocpp stopped half-way (Ctrl-C, SIGTERM) takes its charger fleet down
# with it and leaves no report behind. The fleet is a process of its own: it
# used to stay on, reconnecting to the gone gateway for minutes, and its
# report stayed in the temporary directory. Killed outright (SIGKILL), it can
# remove nothing, but its fleet still ends (it is told by the kernel).
#
#   test_bench_ocpp_stop.sh BENCH_OCPP
set -uo pipefail
bench="$1"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

for signal in TERM INT; do
    # A job started from a script ignores SIGINT unless told otherwise, so
    # bench-ocpp is started with the default restored.
    TMPDIR="$work" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$bench" --chargers 40 --small 10 --storms 3 \
        >"$work/bench.out" 2>&1 &
    bench_pid=$!
    pids+=("$bench_pid") # killed at exit with its children, the fleet
    fleet=""
    for _ in $(seq 300); do
        fleet="$(pgrep -P "$bench_pid" -f charger-sim)"
        [[ -n $fleet ]] && ls "$work"/bench-ocpp-*.jsonl >/dev/null 2>&1 && break
        sleep 0.05
    done
    if [[ -z $fleet ]]; then
        fail "SIG$signal: the fleet did not start; bench-ocpp said:" "$work/bench.out"
        continue
    fi
    sleep 0.5
    kill "-$signal" "$bench_pid"
    gone=""
    for _ in $(seq 200); do
        if ! kill -0 "$bench_pid" 2>/dev/null && ! kill -0 "$fleet" 2>/dev/null; then
            gone=yes
            break
        fi
        sleep 0.05
    done
    [[ -n $gone ]] && wait "$bench_pid" 2>/dev/null
    left="$(ls "$work"/bench-ocpp-*.jsonl 2>/dev/null)"
    if [[ -z $gone ]] || [[ -n $left ]]; then
        bench_state="$(kill -0 "$bench_pid" 2>/dev/null && echo runs || echo ended)"
        fleet_state="$(kill -0 "$fleet" 2>/dev/null && echo runs || echo ended)"
        fail "SIG$signal: bench-ocpp $bench_state, its fleet $fleet_state, report left: ${left:-none}"
        kill -KILL "$fleet" "$bench_pid" 2>/dev/null
        wait "$bench_pid" 2>/dev/null
    else
        echo "ok: SIG$signal ends bench-ocpp and its fleet, and removes the report"
    fi
    pids=() # reaped, and its fleet gone
done

# Its report is left behind (nothing can remove it): in the test's directory.
TMPDIR="$work" "$bench" --chargers 40 --small 10 --storms 3 >"$work/bench.out" 2>&1 &
bench_pid=$!
pids+=("$bench_pid")
fleet=""
for _ in $(seq 300); do
    fleet="$(pgrep -P "$bench_pid" -f charger-sim)"
    [[ -n $fleet ]] && break
    sleep 0.05
done
if [[ -z $fleet ]]; then
    fail "SIGKILL: the fleet did not start; bench-ocpp said:" "$work/bench.out"
else
    sleep 0.5
    kill -KILL "$bench_pid"
    wait_exit "$bench_pid" 10
    for _ in $(seq 200); do kill -0 "$fleet" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$fleet" 2>/dev/null; then
        fail "SIGKILL: bench-ocpp ended, its fleet (pid $fleet) still runs 10 s on"
        kill -KILL "$fleet"
    else
        echo "ok: SIGKILL to bench-ocpp ends its fleet too"
    fi
fi
exit $((failures > 0))
