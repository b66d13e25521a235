#!/usr/bin/env bash
# Re-runs every committed preset and rewrites results/ (reports, plots, summaries and the
# tables of results/REPRODUCTION.md). Afterwards it compares each new sweep report with the
# one it replaced on the deterministic metrics only (`fitbench check --no-timing`): on one
# machine only timing figures should move (run lengths cut by a time budget are timing
# figures too; what they cut off shows as "inconclusive").
# results/baseline (the CI gate's baseline) is not touched: refresh it with
#   fitbench run --preset ci --out target/ci && fitbench check --update \
#     --baseline results/baseline/report.json --current target/ci/report.json
# Usage: scripts/regenerate-figures.sh [preset ...]   (default: quick khadilkar barbu scaling lnn peers;
# peers runs its Python references with $FITBENCH_PYTHON, e.g. ~/.cache/fitbench-refs/venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin fitbench
bin=target/release/fitbench
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(quick khadilkar barbu scaling lnn peers)
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
for p in "${presets[@]}"; do
  echo "== preset $p"
  if [ -d "results/$p" ]; then
    cp -r "results/$p" "$old/"
    rm -rf "results/$p"
  fi
  if [ "$p" = lnn ]; then
    "$bin" lnn --out "results/$p"
  else
    "$bin" run --preset "$p" --out "results/$p"
  fi
done
"$bin" reproduction
for p in "${presets[@]}"; do
  [ "$p" = lnn ] && continue
  while IFS= read -r new; do
    before="$old/${new#results/}"
    [ -f "$before" ] || continue
    echo "== deterministic metrics: $before vs $new"
    "$bin" check --no-timing --changes-only --allow-new --baseline "$before" --current "$new" ||
      echo "(deterministic metrics moved: see the rows above)"
  done < <(find "results/$p" -name report.json | sort)
done
echo "results/ regenerated; review with: git diff --stat results/"
