#!/usr/bin/env bash
# gridgatectl's first contact: without arguments it lists its commands (exit 2),
# without a command after options it names the missing COMMAND, never argparse's
# internal name for it.
#
#   test_gridgatectl_usage.sh GRIDGATECTL
set -uo pipefail
ctl="$1"
failures=0

out="$(python3 "$ctl" 2>&1)"
status=$?
if ((status != 2)) || [[ $out != *"list assets with their connection and telemetry"* ]] ||
    [[ $out != *"post a schedule"* ]]; then
    echo "FAILED: no arguments: exit $status, output:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
else
    echo "ok: no arguments lists the commands (exit 2)"
fi

out="$(python3 "$ctl" --url http://127.0.0.1:1 2>&1)"
status=$?
if ((status != 2)) || [[ $out != *"required: COMMAND"* ]] || [[ $out == *"what"* ]]; then
    echo "FAILED: options without a command: exit $status, output:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
else
    echo "ok: options without a command: $(tail -1 <<<"$out")"
fi

# expect STATUS TEXT ARGS...: gridgatectl exits STATUS and says TEXT, no traceback.
expect() {
    local want_status="$1" want_text="$2"
    shift 2
    local out status
    out="$(python3 "$ctl" "$@" 2>&1)"
    status=$?
    if ((status != want_status)) || [[ $out != *"$want_text"* ]] || [[ $out == *Traceback* ]]; then
        echo "FAILED: $*: exit $status (want $want_status and '$want_text'), output:"
        sed 's/^/    /' <<<"$out"
        failures=$((failures + 1))
    else
        echo "ok: $*: $(tail -1 <<<"$out")"
    fi
}

# Bad option values are usage errors.
expect 2 "'0': must be more than 0 seconds" --timeout 0 health
expect 2 "'-1': must be more than 0 seconds" --timeout -1 health
expect 2 "'soon' is not a number of seconds" --timeout soon health
expect 2 "'localhost:8080' is not an http:// or https:// URL with a host" --url localhost:8080 health

# A gateway that accepts and never answers, and one whose answer breaks
# off: exit 3, named, within the timeout.
servers="$(mktemp -d)"
python3 - "$servers" <<'PY' &
import os, socket, sys, threading
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen()
broken = socket.socket(); broken.bind(("127.0.0.1", 0)); broken.listen()
held = []
def serve_silent():
    while True:
        held.append(silent.accept()[0])
def serve_broken():
    while True:
        c = broken.accept()[0]
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        c.close()
threading.Thread(target=serve_silent, daemon=True).start()
threading.Thread(target=serve_broken, daemon=True).start()
with open(os.path.join(sys.argv[1], "ports.tmp"), "w") as f:
    f.write(f"{silent.getsockname()[1]} {broken.getsockname()[1]}\n")
os.rename(os.path.join(sys.argv[1], "ports.tmp"), os.path.join(sys.argv[1], "ports"))
threading.Event().wait(60)
PY
server_pid=$!
for _ in $(seq 100); do [[ -f $servers/ports ]] && break; sleep 0.05; done
read -r silent_port broken_port <"$servers/ports"
expect 3 "GET /healthz: no answer within 0.5 s" --url "http://127.0.0.1:$silent_port" --timeout 0.5 health
expect 3 "GET /healthz: the connection failed: IncompleteRead" --url "http://127.0.0.1:$broken_port" health
kill "$server_pid" 2>/dev/null
rm -rf "$servers"

exit $((failures > 0))
