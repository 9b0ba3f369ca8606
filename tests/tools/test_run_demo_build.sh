#!/usr/bin/env bash
# tools/run-demo's build step as a newcomer meets it: a build that fails must
# show why (the compiler's message, which ninja writes to stdout), and the
# demo must not start; with --no-build and nothing built it says what to do.
# And tools/run-tests --help shows its usage without building first.
# cmake and dpkg-query are stand-ins (a real failing build would take minutes).
#
#   test_run_demo_build.sh SOURCE_DIR
set -uo pipefail
demo="$1/tools/run-demo"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

mkdir -p "$work/bin"
cat >"$work/bin/dpkg-query" <<'SH'
#!/usr/bin/env bash
printf 'install ok installed'
SH
cat >"$work/bin/cmake" <<'SH'
#!/usr/bin/env bash
# Configuring succeeds; building fails as a compile error does under ninja.
if [[ $1 == --build ]]; then
    echo "FAILED: engine/CMakeFiles/gridgate_engine.dir/src/schedule.cpp.o"
    echo "schedule.cpp:12:5: error: expected ';' before 'return'"
    exit 1
fi
exit 0
SH
chmod +x "$work/bin"/*

out="$(PATH="$work/bin:$PATH" GRIDGATE_BUILD_DIR="$work/build" "$demo" 2>&1)"
status=$?
if ((status == 0)) || [[ $out != *"error: expected ';' before 'return'"* ]] ||
    [[ $out == *"starting gridgate"* ]]; then
    echo "FAILED: a failing build: exit $status, output:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
else
    echo "ok: a failing build shows the compiler's error and stops (exit $status)"
fi

out="$(GRIDGATE_BUILD_DIR="$work/empty" "$demo" --no-build 2>&1)"
status=$?
if ((status != 1)) || [[ $out != *"gridgate is missing; build first (tools/build)"* ]]; then
    echo "FAILED: --no-build with nothing built: exit $status, output:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
else
    echo "ok: --no-build with nothing built: $out"
fi

out="$(PATH="$work/bin:$PATH" GRIDGATE_BUILD_DIR="$work/build" "$1/tools/run-tests" --help 2>&1)"
status=$?
if ((status != 0)) || [[ $out != *"tools/run-tests [CTEST_ARGUMENTS...]"* ]] ||
    [[ $out == *"FAILED"* ]]; then
    echo "FAILED: run-tests --help: exit $status, expected 0 and its usage, no build; output:"
    sed 's/^/    /' <<<"$out"
    failures=$((failures + 1))
else
    echo "ok: run-tests --help shows its usage, without building"
fi

exit $((failures > 0))
