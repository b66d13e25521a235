#!/usr/bin/env bash
# Issue #27's measurements of the process protocol, in one job on one machine (ratios only:
# absolute times drift between runs and machines):
#  1. the protocol's round trip (the `protocol_overhead_s` counter: median of the empty pings
#     each external run makes at init) against a step of burn's `adam`, at n = 1 000 and
#     n = 8 000 training rows (d = 16, h = 64, ReLU, f32, full batch);
#  2. `torch-adam` timed through fitbench (clients/python/examples/torch_adam.py) against the
#     developers' reference ../shared/refs/torch_adam_epoch.py timing torch natively, on the
#     same n = 8 000 data, alternated REPS times, each pinned to one core (PIN, default
#     `taskset -c 0`: harness, child and the native script alike; an unpinned child wakes on
#     the other core every step, which costs it its cache) and in steady state: fitbench's
#     time per step from iteration 20 to 300 (the reference discards 20 warm-up epochs too).
# The teacher files come from ../shared/refs/make_teacher_csv.py (beside the checkout; not part
# of fitbench); torch from its venv (FITBENCH_REFS_VENV).
# Usage, from the project root after `cargo build --release`: scripts/measure-peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
refs="${FITBENCH_REFS:-../shared/refs}"
[ -f "$refs/torch_adam_epoch.py" ] || { echo "no $refs/torch_adam_epoch.py (set FITBENCH_REFS)"; exit 2; }
bin="${FITBENCH:-target/release/fitbench}"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first (or set FITBENCH)"; exit 2; }
py="${FITBENCH_REFS_VENV:-$HOME/.cache/fitbench-refs/venv}/bin/python"
[ -x "$py" ] || { echo "no $py: run ../shared/refs/measure.sh once to make the venv"; exit 2; }
reps="${REPS:-3}"
pin="${PIN-taskset -c 0}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$py" "$refs/make_teacher_csv.py" "$tmp/n1250.csv" 1250 16 32 1
"$py" "$refs/make_teacher_csv.py" "$tmp/n10000.csv" 10000 16 32 1
torch_adam="ext:name=torch-adam,cmd=$py clients/python/examples/torch_adam.py,lr=1e-3"
stat() {  # report folder, trainer id -> "seconds-per-step overhead-s steady-seconds-per-step child-seconds-per-step"
  "$py" - "$1" "$2" <<'PY'
import glob, json, sys
r = json.load(open(glob.glob(sys.argv[1] + "/**/report.json", recursive=True)[0]))
run = [x for x in r["runs"] if x["trainer_id"] == sys.argv[2]][0]
c = run.get("counters", {})
curve = run["curve"]; a = [p for p in curve if p["iter"] >= 20][0]; b = curve[-1]
steady = (b["time_s"] - a["time_s"]) / max(1, b["iter"] - a["iter"])
child = c["child_step_s"] / c["child_steps"] if c.get("child_steps") else 0.0
print(run["train_s"] / max(1, run["iterations"]), c.get("protocol_overhead_s", 0.0), steady, child)
PY
}
for rep in $(seq "$reps"); do
  for n in 1250 10000; do
    out="$tmp/o-$n-$rep"
    $pin "$bin" run --csv "$tmp/n$n.csv" --target y --trainers "adam:lr=1e-3;$torch_adam" --hidden 64 \
      --activation relu --seeds 1 --max-iters 300 --budget-s 60 --out "$out" >/dev/null 2>&1
    read -r adam _ adam_steady _ < <(stat "$out" adam)
    read -r torch overhead torch_steady child < <(stat "$out" torch-adam)
    "$py" -c "print(f'rep $rep n={int($n*0.8)}: empty round trip {$overhead*1e6:.1f} us = {$overhead/$adam_steady*100:.2f} % of a steady adam step ({$adam_steady*1e3:.3f} ms); torch-adam steady step {$torch_steady*1e3:.3f} ms, of which the child measured {$child*1e3:.3f} ms (all steps), the rest {($torch_steady-$child)*1e6:.0f} us')"
  done
  ref=$($pin "$py" "$refs/torch_adam_epoch.py" "$tmp/n10000.csv" 64 relu)
  read -r _ _ torch _ < <(stat "$tmp/o-10000-$rep" torch-adam)
  "$py" -c "print(f'rep $rep n=8000: torch-adam through fitbench {$torch*1e3:.3f} ms per steady step, torch natively {$ref*1e3:.3f} ms, fitbench/native = {$torch/$ref:.3f}')"
done
