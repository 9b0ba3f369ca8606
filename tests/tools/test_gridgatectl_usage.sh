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

exit $((failures > 0))
