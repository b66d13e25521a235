#!/usr/bin/env bash
# Issue #27's measurements of the process protocol, in one job on one machine (ratios only:
# absolute times drift between runs and machines):
#  1. the protocol's round trip (the `protocol_overhead_s` counter: median of the empty pings
#     each external run makes at init) against a step of burn's `adam`, at n = 1 000 and
#     n = 8 000 training rows (d = 16, h = 64, ReLU, f32, full batch);
#  2. `torch-adam` timed through fitbench (clients/python/examples/torch_adam.py) against the
#     developers' reference ../shared/refs/torch_adam_epoch.py timing torch natively, on the
#     same n = 8 000 data, alternated REPS times.
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
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$py" "$refs/make_teacher_csv.py" "$tmp/n1250.csv" 1250 16 32 1
"$py" "$refs/make_teacher_csv.py" "$tmp/n10000.csv" 10000 16 32 1
torch_adam="ext:name=torch-adam,cmd=$py clients/python/examples/torch_adam.py,lr=1e-3"
stat() {  # report folder, trainer id -> "seconds-per-step overhead-s"
  "$py" - "$1" "$2" <<'PY'
import glob, json, sys
r = json.load(open(glob.glob(sys.argv[1] + "/**/report.json", recursive=True)[0]))
run = [x for x in r["runs"] if x["trainer_id"] == sys.argv[2]][0]
print(run["train_s"] / max(1, run["iterations"]), run.get("counters", {}).get("protocol_overhead_s", 0.0))
PY
}
for rep in $(seq "$reps"); do
  for n in 1250 10000; do
    out="$tmp/o-$n-$rep"
    "$bin" run --csv "$tmp/n$n.csv" --target y --trainers "adam:lr=1e-3;$torch_adam" --hidden 64 \
      --activation relu --seeds 1 --max-iters 300 --budget-s 60 --out "$out" >/dev/null 2>&1
    read -r adam _ < <(stat "$out" adam)
    read -r torch overhead < <(stat "$out" torch-adam)
    "$py" -c "print(f'rep $rep n={int($n*0.8)}: round trip {$overhead*1e6:.1f} us = {$overhead/$adam*100:.2f} % of an adam step ({$adam*1e3:.3f} ms), {$overhead/$torch*100:.2f} % of a torch-adam step ({$torch*1e3:.3f} ms)')"
  done
  ref=$("$py" "$refs/torch_adam_epoch.py" "$tmp/n10000.csv" 64 relu)
  read -r torch _ < <(stat "$tmp/o-10000-$rep" torch-adam)
  "$py" -c "print(f'rep $rep n=8000: torch-adam through fitbench {$torch*1e3:.3f} ms, torch natively {$ref*1e3:.3f} ms, fitbench/native = {$torch/$ref:.3f}')"
done
