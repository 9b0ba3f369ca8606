#!/usr/bin/env bash
# tools/install-deps as a newcomer meets it: as root, as a user with sudo, as a
# user without sudo, with apt-get failing. dpkg-query, id, sudo and apt-get are
# stand-ins on a PATH of their own (the real ones would install packages); the
# stand-in sudo resets the environment as the real one does.
#
#   test_install_deps.sh SOURCE_DIR
# check() calls the small test functions below by name: not unreachable code.
# shellcheck disable=SC2317
set -uo pipefail
script="$1/tools/install-deps"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

# fake_path NAME [sudo]: a PATH holding the stand-ins and the few real tools
# the script needs, and nothing else (no real sudo, no real apt-get).
fake_path() {
    local dir="$work/$1"
    mkdir -p "$dir"
    for tool in bash grep env cat; do ln -sf "$(command -v "$tool")" "$dir/$tool"; done
    cat >"$dir/dpkg-query" <<'SH'
#!/usr/bin/env bash
# Every package is missing unless FAKE_INSTALLED=all.
[[ ${FAKE_INSTALLED:-} == all ]] && { printf 'install ok installed'; exit 0; }
exit 1
SH
    cat >"$dir/id" <<'SH'
#!/usr/bin/env bash
echo "${FAKE_UID:-1000}"
SH
    cat >"$dir/apt-get" <<'SH'
#!/usr/bin/env bash
echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset} $*" >>"$FAKE_LOG"
[[ ${FAKE_APT_FAILS:-} == yes ]] && exit 100
exit 0
SH
    if [[ ${2:-} == sudo ]]; then
        cat >"$dir/sudo" <<'SH'
#!/usr/bin/env bash
echo "sudo $*" >>"$FAKE_LOG"
exec env -i PATH="$PATH" FAKE_LOG="$FAKE_LOG" FAKE_APT_FAILS="${FAKE_APT_FAILS:-}" "$@"
SH
    fi
    chmod +x "$dir"/*
    echo "$dir"
}

# run NAME PATH [VAR=VALUE ...]: runs install-deps, sets $status, $out, $log.
run() {
    local name="$1" path="$2"
    shift 2
    : >"$work/$name.log"
    out="$(env -i PATH="$path" FAKE_LOG="$work/$name.log" "$@" "$path/bash" "$script" 2>&1)"
    status=$?
    log="$(cat "$work/$name.log")"
}

indent() {
    local line
    while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$1"
}

# check WHAT COMMAND...: COMMAND (a test of $status, $out and $log) must hold.
check() {
    local what="$1"
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what"
        echo "  exit $status; output:"
        indent "$out"
        echo "  apt-get/sudo calls:"
        indent "$log"
        failures=$((failures + 1))
    fi
}

plain="$(fake_path plain)"
with_sudo="$(fake_path with_sudo sudo)"

run nothing_missing "$plain" FAKE_INSTALLED=all
check "nothing missing: exit 0, apt-get not run" \
    test "$status" -eq 0 -a -z "$log"

installed_non_interactively() {
    [[ $status -eq 0 && $log == *"DEBIAN_FRONTEND=noninteractive install -y"*"libmodbus-dev"* ]]
}
run root "$plain" FAKE_UID=0
check "as root: apt-get install runs non-interactively, exit 0" installed_non_interactively

names_the_command_for_root() {
    [[ $status -eq 1 && $out == *"as root, run:"* && $out == *"apt-get install"*"libmodbus-dev"* &&
        $out != *"command not found"* && -z $log ]]
}
run no_sudo "$plain" FAKE_UID=1000
check "not root, no sudo: exit 1 naming the command to run as root" names_the_command_for_root

installed_through_sudo() {
    [[ $status -eq 0 && $log == *"sudo "*"apt-get install"* &&
        $log == *"DEBIAN_FRONTEND=noninteractive install -y"*"libmodbus-dev"* ]]
}
run sudo "$with_sudo" FAKE_UID=1000
check "not root, with sudo: apt-get install through sudo, non-interactively, exit 0" \
    installed_through_sudo

names_the_command_to_run_by_hand() {
    [[ $status -eq 1 && $out == *"apt-get failed"* && $out == *"apt-get install"*"libmodbus-dev"* ]]
}
run apt_fails "$plain" FAKE_UID=0 FAKE_APT_FAILS=yes
check "apt-get failing: exit 1 naming the command to run by hand" names_the_command_to_run_by_hand

# --fuzz adds clang and libFuzzer to what is installed; without it they stay out.
out="$(env -i PATH="$plain" FAKE_LOG="$work/fuzz.log" FAKE_UID=0 "$plain/bash" "$script" --fuzz 2>&1)"
status=$?
log="$(cat "$work/fuzz.log")"
installed_clang_too() { [[ $status -eq 0 && $log == *"libmodbus-dev"*"clang libclang-rt-14-dev"* ]]; }
check "--fuzz: clang and libclang-rt-14-dev installed with the rest" installed_clang_too
no_clang_as_root() { [[ $(cat "$work/root.log") != *clang* ]]; }
check "without --fuzz: no clang" no_clang_as_root

# Arguments: --help says what it does; anything else is a mistake, and
# nothing is installed either way.
out="$(env -i PATH="$plain" FAKE_LOG="$work/help.log" FAKE_UID=0 "$plain/bash" "$script" --help 2>&1)"
status=$?
log="$(cat "$work/help.log" 2>/dev/null)"  # none: nothing ran
helps() { [[ $status -eq 0 && $out == *"usage: tools/install-deps"* && -z $log ]]; }
check "--help: exit 0, says what it does, installs nothing" helps
out="$(env -i PATH="$plain" FAKE_LOG="$work/bad.log" FAKE_UID=0 "$plain/bash" "$script" -y 2>&1)"
status=$?
log="$(cat "$work/bad.log" 2>/dev/null)"
refuses_the_argument() { [[ $status -eq 2 && $out == *"unknown argument '-y'"* && -z $log ]]; }
check "an unknown argument: exit 2 naming it, installs nothing" refuses_the_argument

exit $((failures > 0))
