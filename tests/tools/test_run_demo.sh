#!/usr/bin/env bash
# tools/run-demo stopped early, as a user does: Ctrl-C at the terminal (SIGINT
# to the whole foreground process group) and SIGTERM to the script alone. Both
# must end it within seconds, with the final table read from the still running
# gateway, and leave nothing listening. Also its argument checks.
#
#   test_run_demo.sh SOURCE_DIR BUILD_DIR
# Needs the demo's ports (8080, 9000, 1502); exits 77 (skipped) when one is busy.
set -uo pipefail
demo="$1/tools/run-demo"
export GRIDGATE_BUILD_DIR="$2"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

for port in 8080 9000 1502; do
    if port_open "$port"; then
        echo "SKIPPED: port $port is in use"
        exit 77
    fi
done

# The final table must come from the gateway: both commands of the first slot
# (at start + 5 s) COMPLETED, no "cannot reach".
check_stopped_demo() {
    local what="$1" out="$2"
    if ((status == 124)); then
        # Still running: SIGTERM to the script alone (its clean-up stops the rest).
        kill -TERM "$pid"
        wait_exit "$pid" 15
        fail "$what: still running 15 s after the stop" "$out"
    elif ((status != 0)); then
        fail "$what: exit $status" "$out"
    elif ! grep -q "== final status of every command" "$out" ||
        ! grep -qE "ast_batt_001 +SET_CHARGE_RATE .* COMPLETED" "$out" ||
        grep -q "cannot reach" "$out"; then
        fail "$what: no final table from the gateway" "$out"
    else
        echo "ok: $what"
    fi
    for port in 8080 9000 1502; do
        for _ in $(seq 50); do port_open "$port" || break; sleep 0.1; done
        if port_open "$port"; then fail "$what: port $port still listening after the demo"; fi
    done
}

# Starts the demo as a terminal's foreground job: its own process group, and
# SIGINT not ignored (this shell's background jobs would inherit that).
start_demo() {
    python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execv(sys.argv[1], sys.argv[1:])' "$demo" --no-build --slot 1 --duration 600 >"$1" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 300); do
        grep -qE "COMMAND_COMPLETED .*ast_batt_001" "$1" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "the demo showed no completed battery command within 30 s" "$1"
    kill -TERM -- "-$pid" 2>/dev/null
    return 1
}

if start_demo "$work/ctrl-c.out"; then
    kill -INT -- "-$pid"   # what Ctrl-C does: the whole foreground group
    wait_exit "$pid" 15
    check_stopped_demo "Ctrl-C" "$work/ctrl-c.out"
fi

if start_demo "$work/sigterm.out"; then
    kill -TERM "$pid"      # the script alone, as kill PID does
    wait_exit "$pid" 15
    check_stopped_demo "SIGTERM to the script" "$work/sigterm.out"
fi

# A gateway that starts but never answers: the demo says so, shows the end of
# its log, and stops what it started.
fake="$work/fake-build"
mkdir -p "$fake/bin" "$fake/lib/gridgate/plugins"
touch "$fake/lib/gridgate/plugins/ocpp16.so"
for program in gridgate battery-sim charger-sim; do
    printf '#!/bin/sh\necho "%s started"\necho $$ >"%s/%s.pid"\nexec sleep 300\n' \
        "$program" "$fake" "$program" >"$fake/bin/$program"
done
printf '#!/bin/sh\nexit 3\n' >"$fake/bin/gridgatectl"
chmod +x "$fake/bin/"*
GRIDGATE_BUILD_DIR="$fake" "$demo" --no-build >"$work/silent.out" 2>&1
status=$?
if ((status != 1)) ||
    ! grep -q "did not answer http://127.0.0.1:8080/healthz within 15 s" "$work/silent.out" ||
    ! grep -q "^gridgate started" "$work/silent.out"; then
    fail "a gateway that never answers: exit $status, expected 1 naming /healthz and its log" \
        "$work/silent.out"
else
    echo "ok: a gateway that never answers: $(grep -m1 "^run-demo: " "$work/silent.out")"
fi
for pidfile in "$fake"/*.pid; do
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        fail "a gateway that never answers: $(basename "$pidfile" .pid) still running"
        kill "$(cat "$pidfile")"
    fi
done

for args in "--duration" "--slot 0" "--slot 1.5" "--duration x" "--duration 0" "--bogus"; do
    # shellcheck disable=SC2086
    "$demo" --no-build $args >"$work/args.out" 2>&1
    status=$?
    if ((status != 2)) || ! grep -q "^run-demo: " "$work/args.out"; then
        fail "run-demo $args: exit $status, expected 2 with a message" "$work/args.out"
    else
        echo "ok: run-demo $args: $(head -1 "$work/args.out")"
    fi
done

exit $((failures > 0))
