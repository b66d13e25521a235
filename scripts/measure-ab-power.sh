#!/usr/bin/env bash
# Measures what `fitbench ab` can see on this machine (issue #23): N invocations each of
# `fitbench ab --preset ab` with the same binary on both sides (A/A: how often is any cell
# flagged WORSE?), with `--test-slowdown adam=1.10` (is adam WORSE on every dataset, and
# nothing else?) and with `--test-slowdown lbfgs=1.05` (a slowdown exactly at the threshold),
# plus `fitbench check`'s verdict on the same slowdowns (one `fitbench run --preset ab` with
# and one without, compared). Writes results/ab-power/README.md (the table, machine, commit)
# and each invocation's ab.md under results/ab-power/<config>/. The invocations run one after
# the other; seed i orders the sides of invocation i. About 3.5 minutes per invocation.
# Usage: scripts/measure-ab-power.sh [N (default 8)] [BIN] (default: builds target/release/fitbench).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8}
bin=${2:-}
if [[ -z $bin ]]; then
  cargo build --release --locked --bin fitbench
  bin=target/release/fitbench
fi
# The commit and state of the tree when the measurement starts (the binary's own reports ask
# git at run time, which moves if one commits while this runs).
commit=$(git rev-parse HEAD)
dirty=$([[ -z $(git status --porcelain --untracked-files=no) ]] && echo clean || echo dirty)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Both sides run the same bits: a copy, so that the two paths differ but nothing else does.
cp "$bin" "$work/fitbench-a"
cp "$bin" "$work/fitbench-b"
out=results/ab-power
rm -rf "$out"
mkdir -p "$out"
configs=(same adam=1.10 lbfgs=1.05)
for c in "${configs[@]}"; do
  name=${c/=/-}
  mkdir -p "$out/$name" "$work/$name"
  for i in $(seq 1 "$n"); do
    echo "== $c, invocation $i of $n"
    extra=()
    [[ $c == same ]] || extra=(--test-slowdown "$c")
    start=$(date +%s.%N)
    code=0
    "$work/fitbench-b" ab --preset ab --baseline-bin "$work/fitbench-a" --seed "$i" \
      --accept "$work/no-accept.toml" --out "$work/$name/$i" "${extra[@]}" \
      >"$work/$name/$i.log" 2>&1 || code=$?
    end=$(date +%s.%N)
    echo "$code $start $end" >"$work/$name/$i.exit"
    cp "$work/$name/$i/ab.md" "$out/$name/$i.md"
    tail -n 1 "$work/$name/$i.log"
  done
done
# check's verdict on the same slowdowns: one run of the preset with each, against one without.
"$bin" run --preset ab --out "$work/check/plain" >/dev/null 2>&1
for c in adam=1.10 lbfgs=1.05; do
  name=${c/=/-}
  "$bin" run --preset ab --test-slowdown "$c" --out "$work/check/$name" >/dev/null 2>&1
  code=0
  "$bin" check --baseline "$work/check/plain/report.json" --current "$work/check/$name/report.json" \
    >"$work/check/$name.txt" 2>&1 || code=$?
  echo "$code" >"$work/check/$name.exit"
done
python3 - "$work" "$out/README.md" "$n" "$commit" "$dirty" "${configs[@]}" <<'EOF'
import json, subprocess, sys
work, dest, n, commit, state, configs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
dirty = state == "dirty"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
lines = ["# What `fitbench ab --preset ab` sees on this machine", "",
         f"Written by `scripts/measure-ab-power.sh {n}` at commit `{commit[:10]}`{' (dirty)' if dirty else ''}, "
         f"on {cpu} ({subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores). "
         "Both sides are copies of one binary; `--test-slowdown T=F` makes the current side's T busy-wait to F× its step time "
         "(numerics unchanged). Default settings: 6 rounds × 4 repetitions = 24 pairs per cell, threshold 5 %, "
         "family-wise α = 0.05 (Holm over the 18 cells). Each invocation's `ab.md` is in the folder of its configuration.", ""]
rows = []
detail = []
for c in configs:
    name = c.replace("=", "-")
    target = None if c == "same" else c.split("=")[0]
    any_worse = target_all = other_worse = 0
    walls = []
    ratios = []
    for i in range(1, n + 1):
        r = json.load(open(f"{work}/{name}/{i}/ab.json"))
        code, start, end = open(f"{work}/{name}/{i}.exit").read().split()
        walls.append(float(end) - float(start))
        worse = [(x["dataset"], x["trainer"]) for x in r["cells"] if x["verdict"] == "WORSE"]
        any_worse += bool(worse)
        if target:
            cells = [x for x in r["cells"] if x["trainer"] == target]
            target_all += all(x["verdict"] == "WORSE" for x in cells)
            other_worse += any(t != target for _, t in worse)
            for x in cells:
                s = x["speed"]
                ratios.append(f"{s['ratio']:.3f} [{s['lower']:.3f}, {s['upper']:.3f}]")
        detail.append(f"| {c} | {i} | {code} | {', '.join(f'{d} / {t}' for d, t in worse) or '–'} | {float(end) - float(start):.0f} s |")
    if target:
        rows.append(f"| `--test-slowdown {c}` | {n} | {any_worse} | {target_all} of {n} | {other_worse} | {min(walls):.0f}–{max(walls):.0f} s |")
        detail.append(f"| {c} | ratios of {target} (all invocations, both datasets) | | {'; '.join(ratios)} | |")
    else:
        rows.append(f"| same binary on both sides | {n} | {any_worse} | – | {any_worse} | {min(walls):.0f}–{max(walls):.0f} s |")
lines += ["| configuration | invocations | flag any cell WORSE | flag the slowed trainer WORSE on every dataset | flag another cell WORSE | wall time of one invocation |",
          "|---|---|---|---|---|---|"] + rows + [""]
lines += ["`fitbench check` on the same slowdowns (one `fitbench run --preset ab` with the slowdown, checked against one without; timing verdicts are advisory and never fail):", ""]
for c in configs[1:]:
    name = c.replace("=", "-")
    text = open(f"{work}/check/{name}.txt").read().strip().splitlines()
    target = c.split("=")[0]
    rows_t = [l for l in text if f" {target} " in f" {l} " and "(timing)" in l and "time_per_step" in l]
    lines.append(f"- `--test-slowdown {c}`: exit {open(f'{work}/check/{name}.exit').read().strip()}; last line: `{text[-1]}`")
    for l in rows_t:
        lines.append(f"  - `{' '.join(l.split())}`")
lines += ["", "Every invocation (exit code, WORSE cells, wall time):", "", "| configuration | invocation | exit | WORSE cells | wall |", "|---|---|---|---|---|"] + detail
open(dest, "w").write("\n".join(lines) + "\n")
print(open(dest).read())
EOF
