# What the shell tests here share: a scratch directory, processes killed at
# exit, failures counted, and polls for a process to end or a line to appear.
# Source it after `set -uo pipefail`, before starting anything:
#
#   source "$(dirname "$0")/lib.sh"
#
# It sets $work (a directory, removed at exit), pids=() (add each process you
# start; at exit each is killed with SIGKILL, its direct children too, as a
# fleet or a simulator forked by the program under test) and failures=0
# (counted by fail; end with `exit $((failures > 0))`). It owns the EXIT trap:
# a script that needs more at exit sets its own and calls lib_cleanup from it.
# shellcheck shell=bash disable=SC2034

work="$(mktemp -d)"
pids=()
failures=0

# The EXIT trap. Children first: once their parent is gone they are no one's.
lib_cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        pkill -KILL -P "$pid"
        kill -KILL "$pid"
    done 2>/dev/null # also bash's "Killed" notices
    wait 2>/dev/null
    rm -rf "$work"
}
trap lib_cleanup EXIT

# fail MESSAGE [FILE...]: "FAILED: MESSAGE", then each FILE that exists,
# indented; counts the failure.
fail() {
    local file
    echo "FAILED: $1"
    shift
    for file in "$@"; do
        [[ -f $file ]] && sed 's/^/    /' "$file"
    done
    failures=$((failures + 1))
}

# wait_exit PID SECONDS: polls for PID, a child of this shell, to end; then
# reaps it and sets $status to its exit status. After SECONDS (whole) it sets
# status=124 and returns 1, leaving it running. Quiet: bash's "Killed" notice
# for a child killed on purpose would come out here.
wait_exit() {
    local tries=$(($2 * 20))
    while kill -0 "$1"; do
        ((tries-- > 0)) || { status=124; return 1; }
        sleep 0.05
    done
    wait "$1"
    status=$?
    return 0
} 2>/dev/null

# wait_line FILE PATTERN SECONDS: polls for a line matching PATTERN (grep -E)
# in FILE, which may not exist yet; returns 1 if none comes within SECONDS.
wait_line() {
    local tries=$(($3 * 20))
    until grep -qE -- "$2" "$1" 2>/dev/null; do
        ((tries-- > 0)) || return 1
        sleep 0.05
    done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on (just now).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_open PORT: whether something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# expect_exit STATUS TEXT COMMAND...: runs COMMAND (for 10 s at most), which
# must exit STATUS with TEXT somewhere in what it prints (stdout and stderr),
# and without "terminate" (std::terminate's "terminate called ...": an
# uncaught C++ exception) or "Traceback" (an uncaught Python one). Prints
# "ok: COMMAND: LAST LINE", or fails naming the command, its exit status and
# its whole output.
expect_exit() {
    local want_status="$1" want_text="$2" out status
    shift 2
    out="$(timeout 10 "$@" 2>&1)"
    status=$?
    if ((status != want_status)) || [[ $out != *"$want_text"* ]] ||
        [[ $out == *terminate* || $out == *Traceback* ]]; then
        echo "FAILED: $*: exit $status (want $want_status and '$want_text'), output:"
        echo "    ${out//$'\n'/$'\n'    }"
        failures=$((failures + 1))
    else
        echo "ok: $*: $(tail -n 1 <<<"$out")"
    fi
}
