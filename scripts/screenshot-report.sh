#!/usr/bin/env bash
# Renders an HTML page written by fitbench (report.html, or a `fitbench check --html` page) in
# headless Chromium, checks that the page's script drew every chart (it sets
# data-rendered="true" on <body>) without a console message, and writes a PNG screenshot.
# Usage: scripts/screenshot-report.sh PAGE.html OUT.png [WIDTHxHEIGHT]   (default 1280x1800)
# Needs Chromium (Debian package `chromium`); exits 3 without it. Nothing is fetched: the
# pages are self-contained, and the browser runs with networking disabled.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PAGE.html OUT.png [WIDTHxHEIGHT]" >&2; exit 2; }
page="$(realpath "$1")"
out="$2"
size="${3:-1280x1800}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "screenshot-report: no Chromium found (install the Debian package chromium)" >&2
  exit 3
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
flags=(--headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run
  --disable-extensions --disable-background-networking --proxy-server=127.0.0.1:9
  --user-data-dir="$tmp/profile" --window-size="${size/x/,}" --virtual-time-budget=15000)
# 1. The DOM after the script ran, and the console (Chromium logs it to stderr).
timeout 120 "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$page" \
  >"$tmp/dom.html" 2>"$tmp/console.log"
if ! grep -q '<body[^>]*data-rendered="true"' "$tmp/dom.html"; then
  echo "screenshot-report: $page was not fully drawn (no data-rendered=\"true\" on <body>)" >&2
  grep -o '<body[^>]*>' "$tmp/dom.html" >&2 || true
  grep -E 'CONSOLE|Uncaught' "$tmp/console.log" >&2 || true
  exit 1
fi
if grep -E 'CONSOLE|Uncaught' "$tmp/console.log" >&2; then
  echo "screenshot-report: the page wrote to the console (above)" >&2
  exit 1
fi
# 2. The screenshot.
timeout 120 "$browser" "${flags[@]}" --screenshot="$tmp/shot.png" "file://$page" 2>/dev/null
[ -s "$tmp/shot.png" ] || { echo "screenshot-report: no screenshot written" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$tmp/shot.png" "$out"
echo "screenshot-report: $page drawn without console messages; wrote $out"
