#!/usr/bin/env bash
# battery-sim out of file descriptors: once accept() failed with EMFILE
# ("Too many open files") its accept loop ended, and it never took another
# connection, even after every client had gone. Now it retries every 100 ms,
# logs that once, and serves a new client as soon as descriptors are free.
# Run with a soft limit of 24 descriptors; 40 clients connect (the kernel
# completes each one into the listen backlog), each asks for a register,
# and some are left unanswered: the limit was reached. All close; then a
# new client must be answered.
#
#   test_battery_sim_fd_limit.sh BATTERY_SIM
set -uo pipefail
sim="$1"
if [[ -n ${GRIDGATE_SANITIZED:-} ]]; then
    # The sanitizers' runtime needs descriptors of its own: UBSan's vptr
    # check opens a pipe to test whether memory is readable, and when none
    # is left it reports "invalid vptr" for std::cerr's own locale facet.
    echo "SKIPPED: under the sanitizers (their runtime needs file descriptors too)"
    exit 77
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

(ulimit -n 24 && exec "$sim" --port 0) >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
pids+=("$sim_pid")
port=""
for _ in $(seq 400); do
    port="$(sed -n 's/^battery-sim: map .* on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$work/sim.out")"
    [[ -n $port ]] && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $port ]]; then
    fail "battery-sim did not start:" "$work/sim.out" "$work/sim.err"
    exit 1
fi

python3 - "$port" <<'PY'
import select, socket, struct, sys, time

port = int(sys.argv[1])


def ask(sock, tid):
    # Modbus TCP: read one holding register of unit 1 (an exception answer,
    # for an address the map lacks, is an answer too).
    sock.sendall(struct.pack("!HHHBBHH", tid, 0, 6, 1, 3, 0, 1))


def answered(socks, seconds):
    """The sockets that got an answer within `seconds`."""
    got, waiting = set(), set(socks)
    deadline = time.monotonic() + seconds
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
        for s in ready:
            if s.recv(260):
                got.add(s)
            waiting.discard(s)
    return got


clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
for i, s in enumerate(clients):
    ask(s, i)
served = answered(clients, 5)
if len(served) == len(clients):
    print("FAILED: all 40 clients were served: the descriptor limit was not reached")
    sys.exit(1)
print(f"ok: {len(served)} of 40 clients served, the others left waiting (out of descriptors)")
for s in clients:
    s.close()
# Give it a new client only once it has had the chance to fail accept()
# for the queued ones (they are closed now: each is accepted and ends).
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
ask(s, 99)
if not answered([s], 15):
    print("FAILED: a new client, after the others closed, got no answer within 15 s")
    sys.exit(1)
print("ok: a new client, after the others closed, is served")
PY
status=$?
((status != 0)) && failures=1
if ! kill -0 "$sim_pid" 2>/dev/null; then
    fail "battery-sim is gone:" "$work/sim.err"
    exit 1
fi
kill -TERM "$sim_pid"
wait_exit "$sim_pid" 10  # 124 if it still runs; killed at exit
sim_status=$status
n="$(grep -c 'accept failed: Too many open files; retrying every 100 ms' "$work/sim.err")"
# Once per outage, not once per retry: the clients still queued when the
# first connection is taken may run it out of descriptors again, so there
# can be a few outages, but each ends with 'accepting connections again'.
m="$(grep -c 'accepting connections again' "$work/sim.err")"
if ((sim_status != 0)) || ((n < 1 || n > 5 || m != n)); then
    expected="each 'accept failed' line ($n) followed by one 'accepting connections again' ($m)"
    fail "battery-sim exit $sim_status at SIGTERM; expected $expected, a few at most; its log:" \
        "$work/sim.err"
else
    echo "ok: logged each outage once ($n), and that it accepts again; exit 0 at SIGTERM"
fi
exit $((failures > 0))
