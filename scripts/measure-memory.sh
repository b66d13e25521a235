#!/usr/bin/env bash
# Measures what #16 promises about memory, on this machine, in one go: for each of ols, lsq,
# analytic and adam, one process (`fitbench run`, one trainer, 2 steps) on the issue's
# problem, teacher:n=1000000,d=16 with hidden 64 leaky_relu:0.01, and records
#   - the process's peak resident memory (GNU time's "Maximum resident set size"): data,
#     split, standardised copies, evaluation and the trainer together;
#   - the trainer's own heap peak above what was live when its run started, and its
#     allocations per step (the run record's `memory`, from the counting allocator);
#   - seconds per step.
# Writes results/memory/README.md (figures, ratios to ols, machine, commit). About 2 minutes.
# Usage: scripts/measure-memory.sh [BIN] (default: builds target/release/fitbench).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [[ -z $bin ]]; then
  cargo build --release --locked --bin fitbench
  bin=target/release/fitbench
fi
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time; Debian package 'time')" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=results/memory
mkdir -p "$out"
data="teacher:n=1000000,d=16,h=8,noise=0.1"
trainers=(ols lsq analytic adam)
for t in "${trainers[@]}"; do
  echo "== $t"
  /usr/bin/time -f '%M' -o "$work/$t.rss" "$bin" run --datasets "$data" --hidden 64 \
    --activation leaky_relu:0.01 --trainers "$t" --seeds 1 --max-iters 2 \
    --out "$work/$t" >"$work/$t.log" 2>&1
done
python3 - "$work" "$out/README.md" "${trainers[@]}" <<'EOF'
import json, subprocess, sys
work, dest, trainers = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = {}
env = None
for t in trainers:
    report = json.load(open(f"{work}/{t}/report.json"))
    env = report["environment"]
    run = report["runs"][0]
    m = run["memory"]
    rss = int(open(f"{work}/{t}.rss").read().split()[-1]) * 1024
    rows[t] = dict(
        rss=rss,
        heap=max(m["init_peak_bytes"], m["step_peak_bytes"]),
        allocs=m["step_allocations"] / max(run["iterations"], 1),
        step=run["train_s"] / max(run["iterations"], 1),
        status=run["status"],
    )
gb = lambda b: f"{b / 1e9:.2f} GB"
lines = [
    "# Memory at n = 10⁶ (scripts/measure-memory.sh)",
    "",
    "Written by `scripts/measure-memory.sh`; do not edit. One process per trainer: `fitbench run "
    "--datasets teacher:n=1000000,d=16,h=8,noise=0.1 --hidden 64 --activation leaky_relu:0.01 "
    "--trainers T --max-iters 2` (800 000 training rows).",
    "",
    f"Machine: {env['cpu']}, {env['cores']} cores, {env['threads']} thread(s); commit "
    f"`{env['git_commit'][:10]}`{' (dirty)' if env.get('git_dirty') else ''}; {env['rustc']}.",
    "",
    "| trainer | status | process peak RSS | ÷ ols | trainer heap peak | allocations/step | s/step |",
    "|---|---|---|---|---|---|---|",
]
base = rows["ols"]["rss"]
for t, r in rows.items():
    lines.append(
        f"| `{t}` | {r['status']} | {gb(r['rss'])} | {r['rss'] / base:.2f} | {gb(r['heap'])} | "
        f"{r['allocs']:.1f} | {r['step']:.3f} |"
    )
lines += [
    "",
    "Process peak RSS includes the data (generated, split and standardised: about 0.5 GB here) "
    "and the allocator's retained pages; the trainer heap peak is the run record's `memory` "
    "(heap bytes requested by the trainer's `init` and `step`, above what was live when its run "
    "started).",
    "",
]
open(dest, "w").write("\n".join(lines))
print("\n".join(lines))
EOF
