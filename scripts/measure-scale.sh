#!/usr/bin/env bash
# Measures what #13 promises about running at scale, on this machine, in one go:
#   1. wall time of the quick preset with --jobs 2 against --jobs 1 (run back to back, twice
#      each, alternating), and whether their deterministic metrics agree (fitbench check
#      --no-timing);
#   2. wall time of `fitbench merge` on 1 000 run records (4 shards of a 1 000-run sweep of
#      300-iteration runs).
# Writes results/scale/README.md (figures, machine, commit). Takes about 8 minutes on 2 cores.
# Usage: scripts/measure-scale.sh [BIN] (default: builds target/release/fitbench).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [[ -z $bin ]]; then
  cargo build --release --locked --bin fitbench
  bin=target/release/fitbench
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=results/scale
mkdir -p "$out"

wall() { # wall seconds of a command, its output to a log
  local log=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1
  t1=$(date +%s.%N)
  printf '%.1f' "$(echo "$t1 - $t0" | bc -l)"
}

declare -A t
for round in 1 2; do
  for jobs in 1 2; do
    t[$jobs.$round]=$(wall "$work/quick-j$jobs-$round.log" \
      "$bin" run --preset quick --jobs "$jobs" --out "$work/quick-j$jobs-$round")
    echo "quick --jobs $jobs (round $round): ${t[$jobs.$round]} s"
  done
done
check=$("$bin" check --no-timing --baseline "$work/quick-j1-1/report.json" \
  --current "$work/quick-j2-1/report.json" 2>&1 | tail -n 1)
ratio() { printf '%.3f' "$(echo "$1 / $2" | bc -l)"; }

# 1 000 run records in 4 shards (two shard processes at a time).
for i in 0 1 2 3; do
  "$bin" run --datasets diabetes,wine-red,linear:n=500,friedman1:n=500 \
    --trainers lsq,lm,adam,adam-faer,sgd-faer --activation leaky_relu:0.1 --seeds 50 \
    --max-iters 300 --shard "$i/4" --out "$work/m/s$i" >"$work/m-s$i.log" 2>&1 &
  if (( i % 2 == 1 )); then wait; fi
done
records=$(cat "$work"/m/s*/runs.jsonl | wc -l)
bytes=$(cat "$work"/m/s*/runs.jsonl | wc -c)
merge_s=$(wall "$work/merge.log" "$bin" merge "$work"/m/s0 "$work"/m/s1 "$work"/m/s2 "$work"/m/s3 --out "$work/m/merged")

{
  echo "# Running at scale: measured by scripts/measure-scale.sh"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (crates/ modified)'); $(date -u +%Y-%m-%dT%H:%MZ)."
  echo
  echo "| measurement | round 1 | round 2 |"
  echo "|---|---|---|"
  echo "| quick preset, --jobs 1, wall s | ${t[1.1]} | ${t[1.2]} |"
  echo "| quick preset, --jobs 2, wall s | ${t[2.1]} | ${t[2.2]} |"
  echo "| ratio --jobs 2 / --jobs 1 | $(ratio "${t[2.1]}" "${t[1.1]}") | $(ratio "${t[2.2]}" "${t[1.2]}") |"
  echo
  echo "Deterministic metrics, --jobs 2 against --jobs 1 (fitbench check --no-timing): $check (inconclusive: runs the 2 s budget cut off, whose iteration metrics are unknown)."
  echo
  echo "fitbench merge of $records run records ($((bytes / 1000)) kB of runs.jsonl in 4 shards), report, summary and plots included: $merge_s s wall."
} >"$out/README.md"
cat "$out/README.md"
