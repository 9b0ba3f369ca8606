#!/usr/bin/env bash
# tools/run-interop without Node.js (nor openssl), as a user meets it: not root and no
# sudo (it names the command to run as root), or apt-get failing (it says
# so). id, sudo and apt-get are stand-ins on a PATH of their own; no package
# is installed and nothing reaches the network.
#
#   test_run_interop_deps.sh SOURCE_DIR
set -uo pipefail
script="$1/tools/run-interop"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# fake_path NAME [sudo]: bash and dirname, a stand-in id (uid 1000) and
# apt-get (fails), and with "sudo" a stand-in sudo that logs and runs.
fake_path() {
    local dir="$work/$1"
    mkdir -p "$dir"
    for tool in bash dirname env; do ln -sf "$(command -v "$tool")" "$dir/$tool"; done
    printf '#!/usr/bin/env bash\necho 1000\n' >"$dir/id"
    printf '#!/usr/bin/env bash\necho "apt-get $*" >>"%s/apt.log"\nexit 100\n' "$work" \
        >"$dir/apt-get"
    if [[ ${2:-} == sudo ]]; then
        printf '#!/usr/bin/env bash\necho "sudo $*" >>"%s/apt.log"\nexec "$@"\n' "$work" \
            >"$dir/sudo"
    fi
    chmod +x "$dir"/*
    echo "$dir"
}

expect() {
    local what="$1" want_status="$2" want="$3"
    if ((status != want_status)) || [[ $out != *"$want"* ]]; then
        echo "FAILED: $what: exit $status, expected $want_status with '$want'; output:"
        echo "$out" | sed 's/^/    /'
        failures=$((failures + 1))
    else
        echo "ok: $what: exit $status"
    fi
}

path="$(fake_path nosudo)"
out="$(env -i PATH="$path" "$path/bash" "$script" 2>&1)"
status=$?
expect "not root, no sudo" 1 "not root and sudo is not installed; as root, run:
    apt-get update && apt-get install --no-install-recommends nodejs npm openssl"
[[ -e $work/apt.log ]] && fail "not root, no sudo: apt-get ran anyway"

path="$(fake_path withsudo sudo)"
out="$(env -i PATH="$path" "$path/bash" "$script" 2>&1)"
status=$?
expect "apt-get fails" 1 "run-interop: apt-get failed (see above)"
if ! grep -q "^sudo env DEBIAN_FRONTEND=noninteractive apt-get update" "$work/apt.log"; then
    fail "apt-get fails: not run through sudo with DEBIAN_FRONTEND; the log:" "$work/apt.log"
fi
exit $((failures > 0))
