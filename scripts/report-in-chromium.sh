#!/usr/bin/env bash
# Open the impact report of `settle diff --format html` in headless Chromium: take a screenshot
# to look at, and fail if the page logs any console error. Needs Debian's `chromium` package
# (`apt-get install chromium`). Usage: scripts/report-in-chromium.sh [OUTPUT-DIRECTORY]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report}"
mkdir -p "$out"

cargo run --quiet --release -- gen policies/dezhou/employee_inpatient.settle \
    --count 5000 --seed 11 --out "$out/claims.csv"
cargo run --quiet --release -- diff examples/reforms/dezhou_without_2021_07.settle \
    policies/dezhou/employee_inpatient.settle --claims "$out/claims.csv" \
    --format html --out "$out/report.html"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$(mktemp -d)")
chromium "${flags[@]}" --window-size=1000,2200 --screenshot="$out/report.png" \
    "file://$PWD/$out/report.html" 2>/dev/null
# The page's console, through Chromium's own log: any message of level error fails.
chromium "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom \
    "file://$PWD/$out/report.html" >"$out/dom.html" 2>"$out/console.log" || true
if grep -E 'CONSOLE.*(ERROR|error)|Uncaught' "$out/console.log"; then
    echo "console errors in the report page" >&2
    exit 1
fi
grep -q "Largest movers" "$out/dom.html"
echo "screenshot: $out/report.png; no console errors"
