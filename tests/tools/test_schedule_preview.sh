#!/usr/bin/env bash
# schedule-preview as a user runs it: the demo schedule with the demo site,
# column keys mapped on the command line, and every bad use named (exit 2).
#
#   test_schedule_preview.sh SCHEDULE_PREVIEW SOURCE_DIR
set -uo pipefail
preview="$1"
src="$2"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# expect STATUS TEXT ARGS...: schedule-preview exits STATUS and says TEXT.
expect() {
    local want_status="$1" want_text="$2"
    shift 2
    expect_exit "$want_status" "$want_text" "$preview" "$@"
}

schedule="$src/config/examples/demo-schedule.csv"
site="$src/config/examples/demo-site.toml"
expect 0 "8 rows x 5 columns -> 13 commands" "$schedule" --site "$site"
expect 0 "2024-01-15T08:00:00Z      cmd_" "$schedule" --site "$site"
expect 0 "ignored columns: price_eur_mwh" "$schedule" --site "$site"
# --map alone maps the columns; it wins over the site file.
expect 0 "-> 13 commands" "$schedule" --map ev_001=a1 --map ev_002=a2 --map battery=b1
expect 0 "ast_other" "$schedule" --map ev_001=ast_other --map ev_002=a2 --map battery=b1
expect 2 "columns 'ev_002_kw' and 'battery_charge_kw' both drive SET_CHARGE_RATE of asset 'ast_batt_001'" \
    "$schedule" --site "$site" --map ev_002=ast_batt_001
# With a site file, a column must name one of the site's assets, as the
# gateway running that site insists (422).
expect 2 "names unknown asset 'ast_other' ($site has no such asset)" \
    "$schedule" --site "$site" --map ev_001=ast_other
expect 0 "Shows the commands a schedule turns into" --help

expect 2 "no --site or --map given" "$schedule"
expect 2 "no schedule file given"
expect 2 "cannot open: No such file or directory" "$src/does-not-exist.csv" --site "$site"
expect 2 "--map needs a value" "$schedule" --map
expect 2 "--site needs a value" "$schedule" --site
expect 2 "--map 'ev_001': expected KEY=ASSET" "$schedule" --map ev_001
expect 2 "unknown option '--sites'" "$schedule" --sites "$site"
expect 2 "one schedule at a time" "$schedule" "$schedule"
expect 2 "config/examples: is a directory, not a schedule file" "$src/config/examples" --site "$site"

exit $((failures > 0))
