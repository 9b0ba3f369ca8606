#!/usr/bin/env bash
# gridgatectl's first contact: without arguments it lists its commands (exit 2),
# without a command after options it names the missing COMMAND, never argparse's
# internal name for it.
#
#   test_gridgatectl_usage.sh GRIDGATECTL
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
ctl="$1"

# expect STATUS TEXT ARGS...: gridgatectl exits STATUS and says TEXT, no traceback.
expect() {
    local want_status="$1" want_text="$2"
    shift 2
    expect_exit "$want_status" "$want_text" python3 "$ctl" "$@"
}

expect 2 "list assets with their connection and telemetry"
expect 2 "post a schedule"

out="$(python3 "$ctl" --url http://127.0.0.1:1 2>&1)"
status=$?
if ((status != 2)) || [[ $out != *"required: COMMAND"* ]] || [[ $out == *"what"* ]]; then
    fail "options without a command: exit $status, output: $out"
else
    echo "ok: options without a command: $(tail -1 <<<"$out")"
fi

# Bad option values are usage errors.
expect 2 "'0': must be more than 0 seconds" --timeout 0 health
expect 2 "'-1': must be more than 0 seconds" --timeout -1 health
expect 2 "'soon' is not a number of seconds" --timeout soon health
expect 2 "'localhost:8080' is not an http:// or https:// URL with a host" --url localhost:8080 health

# A gateway that accepts and never answers, and one whose answer breaks
# off: exit 3, named, within the timeout.
servers="$work"
python3 - "$servers" <<'PY' &
import os, socket, sys, threading
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen()
broken = socket.socket(); broken.bind(("127.0.0.1", 0)); broken.listen()
foreign = socket.socket(); foreign.bind(("127.0.0.1", 0)); foreign.listen()
api = socket.socket(); api.bind(("127.0.0.1", 0)); api.listen()
held = []
def serve_api():  # GET /api/v1/assets of a gateway with one battery
    body = (b'{"assets":[{"id":"ast_batt_001","type":"battery","adapter":"modbus",'
            b'"connected":true,"last_seen":"2026-11-29T07:00:00Z",'
            b'"telemetry":{"soc_percent":55.5,"power_kw":-3}}]}')
    while True:
        c = api.accept()[0]
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        c.close()
def serve_foreign():  # some other web server: a large HTML page for every path
    page = b"<html>" + b"x" * 1000000 + b"</html>"
    while True:
        c = foreign.accept()[0]
        c.recv(4096)
        try:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                      + str(len(page)).encode() + b"\r\n\r\n" + page)
        except OSError:
            pass
        c.close()
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
threading.Thread(target=serve_foreign, daemon=True).start()
threading.Thread(target=serve_api, daemon=True).start()
with open(os.path.join(sys.argv[1], "ports.tmp"), "w") as f:
    f.write(f"{silent.getsockname()[1]} {broken.getsockname()[1]} {foreign.getsockname()[1]}"
            f" {api.getsockname()[1]}\n")
os.rename(os.path.join(sys.argv[1], "ports.tmp"), os.path.join(sys.argv[1], "ports"))
threading.Event().wait(60)
PY
pids+=($!)
wait_line "$servers/ports" '^[0-9]' 5 || fail "the test servers did not start"
read -r silent_port broken_port foreign_port api_port <"$servers/ports"
expect 3 "GET /healthz: no answer within 0.5 s" --url "http://127.0.0.1:$silent_port" --timeout 0.5 health
expect 3 "GET /healthz: the connection failed: IncompleteRead" --url "http://127.0.0.1:$broken_port" health

# Another server on the port: named, exit 3, no traceback.
expect 3 "GET /api/v1/assets: the answer is not gridgate's API (got '<html>xxx" --url "http://127.0.0.1:$foreign_port" assets
expect 3 "the answer is not gridgate's API" --url "http://127.0.0.1:$foreign_port" commands
expect 3 "the answer is not gridgate's API" --url "http://127.0.0.1:$foreign_port" command cmd_0123456789ab

# The assets table: a header and a row, no line ending in blanks.
out="$(python3 "$ctl" --url "http://127.0.0.1:$api_port" assets 2>&1)"
status=$?
if ((status != 0)) || [[ $out != *"ast_batt_001  battery  modbus"*"soc_percent=55.5 power_kw=-3"* ]] ||
    grep -q ' $' <<<"$out"; then
    fail "assets: exit $status, expected a table without trailing blanks; output:
$(sed 's/^/    |/; s/$/|/' <<<"$out")"
else
    echo "ok: assets: a table without trailing blanks"
fi

# A reader that is gone before the table is written (`gridgatectl assets |
# head`, here one that reads nothing): exit 141 as a shell reports SIGPIPE,
# and nothing on stderr (Python would print a traceback, then complain again
# at exit while flushing stdout).
python3 "$ctl" --url "http://127.0.0.1:$api_port" assets 2>"$servers/pipe.err" | true
status="${PIPESTATUS[0]}"
if ((status != 141)) || [[ -s $servers/pipe.err ]]; then
    fail "assets into a closed pipe: exit $status, stderr:" "$servers/pipe.err"
else
    echo "ok: assets into a closed pipe: exit 141, nothing on stderr"
fi

# Ctrl-C while waiting for an answer: exit 130, no traceback. (A background
# job of a script ignores SIGINT, so it is started with SIGINT restored.)
python3 - "$ctl" "$silent_port" "$servers/int.out" <<'PY'
import signal, subprocess, sys, time
ctl, port, out = sys.argv[1:]
p = subprocess.Popen([sys.executable, ctl, "--url", "http://127.0.0.1:" + port, "health"],
                     stderr=subprocess.PIPE,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(1.0)
p.send_signal(signal.SIGINT)
_, err = p.communicate(timeout=30)
open(out, "w").write(f"exit {p.returncode}\n" + err.decode())
PY
if [[ $(head -1 "$servers/int.out") != "exit 130" ]] || grep -q Traceback "$servers/int.out"; then
    fail "Ctrl-C:" "$servers/int.out"
else
    echo "ok: Ctrl-C while waiting: exit 130, no traceback"
fi

# --map with a JSON file that is not JSON, or not an object.
bad="$work"
printf '{"columns": [' >"$bad/broken.json"
printf '[1, 2]' >"$bad/list.json"
expect 2 "broken.json: not JSON" post "$bad/broken.json" --map a=b
expect 2 "list.json: a JSON schedule is an object" post "$bad/list.json" --map a=b

# A bad GRIDGATE_URL is named as the environment's.
expect_exit 2 "GRIDGATE_URL: 'localhost:8080' is not an http" \
    env GRIDGATE_URL=localhost:8080 python3 "$ctl" health

exit $((failures > 0))
