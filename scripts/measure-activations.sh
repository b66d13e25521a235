#!/usr/bin/env bash
# Issue #26's side-by-side timings per activation, in one job on one machine: the developers'
# reference script (../shared/refs/measure.sh, beside the checkout; not part of fitbench) three
# times with each Adam engine (burn `adam`, faer `adam-faer`), then the same comparison at
# n = 1 000 training rows (a 1 250-row teacher file; the reference keeps the first 80 %).
# Ratios only: absolute times drift between runs and machines.
# Usage, from the project root after `cargo build --release`: scripts/measure-activations.sh
set -euo pipefail
cd "$(dirname "$0")/.."
refs="${FITBENCH_REFS:-../shared/refs}"
[ -x "$refs/measure.sh" ] || { echo "no $refs/measure.sh (set FITBENCH_REFS)"; exit 2; }
bin="${FITBENCH:-target/release/fitbench}"
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first (or set FITBENCH)"; exit 2; }
export FITBENCH_ACTS="${FITBENCH_ACTS:-tanh sigmoid softplus leaky_relu}"
for rep in 1 2 3; do
  for spec in adam:lr=1e-3 adam-faer:lr=1e-3; do
    echo "== rep $rep FITBENCH_ADAM=$spec"
    FITBENCH_ADAM=$spec "$refs/measure.sh"
  done
done
py="${FITBENCH_REFS_VENV:-$HOME/.cache/fitbench-refs/venv}/bin/python"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$py" "$refs/make_teacher_csv.py" "$tmp/n1250.csv" 1250 16 32 1
for rep in 1 2 3; do
  for act in relu tanh sigmoid softplus leaky_relu; do
    ref=$("$py" "$refs/torch_adam_epoch.py" "$tmp/n1250.csv" 64 "$act")
    line="n=1000 $act torch $("$py" -c "print(f'{$ref*1e3:.4f}')") ms"
    for spec in adam:lr=1e-3 adam-faer:lr=1e-3; do
      out="$tmp/o-$act-${spec%%:*}-$rep"
      "$bin" run --csv "$tmp/n1250.csv" --target y --trainers "$spec" --hidden 64 --activation "$act" \
        --seeds 1 --max-iters 2000 --out "$out" >/dev/null 2>&1
      ours=$("$py" - "$out" <<'PY'
import glob, json, sys
r = json.load(open(glob.glob(sys.argv[1] + "/**/report.json", recursive=True)[0]))
c = r["runs"][0]["curve"]
print(c[-1]["time_s"] / max(1, c[-1]["iter"]))
PY
)
      line="$line | ${spec%%:*} $("$py" -c "print(f'{$ours*1e3:.4f} ms = {$ours/$ref:.2f}x torch')")"
    done
    echo "$line"
  done
done
