#!/usr/bin/env bash
# Re-runs every committed preset and rewrites results/ (reports, plots, summaries and
# results/REPRODUCTION.md). Only timing figures should change between runs on one machine.
# Usage: scripts/regenerate-figures.sh [preset ...]   (default: quick khadilkar lnn)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin fitbench
bin=target/release/fitbench
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(quick khadilkar lnn)
for p in "${presets[@]}"; do
  echo "== preset $p"
  "$bin" run --preset "$p"
done
"$bin" reproduction
echo "results/ regenerated; review with: git diff --stat results/"
