#!/usr/bin/env bash
# Fault campaign (issue #24): nothing a sweep finished is ever lost, and nothing misleading is
# left behind. For each of N injections (seeded: injection i draws from seed SEED+i), a small
# deterministic sweep (stops on iterations, never on time) is started — fresh, or as a
# --resume of a partial folder — and hit at a random moment by one fault:
#   int | term | kill   SIGINT, SIGTERM or SIGKILL to the writer;
#   full                a disk that fills up: a small tmpfs (root), else a file-size limit
#                       (ulimit -f with SIGXFSZ ignored, so writes fail with EFBIG);
#   second              a second writer into the same folder while the first runs.
# Then the sweep is resumed to completion (`run --resume`, on a disk with room again) and the
# campaign asserts:
#   1. every record complete in runs.jsonl before the fault is still there, byte for byte
#      (the log after recovery starts with the log as it was after the fault, torn tail aside);
#   2. a second writer was refused with the holder's pid, or found the folder free;
#   3. no run key twice in the final report, and no finished run twice in runs.jsonl;
#   4. the final report validates (`fitbench validate --require-ok --require-plots`);
#   5. its deterministic results (status, iterations, every scheduled train/test MSE of every
#      run) equal those of one uninterrupted sweep, bit for bit.
# Usage: scripts/fault-campaign.sh [N (default 40)] [BIN (default target/release/fitbench)] [SEED]
# Prints one line per injection and a tally; exits 1 on any violated assertion. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-40}
fb=${2:-target/release/fitbench}
seed=${3:-1}
if ! command -v jq >/dev/null; then
  echo "fault-campaign: skipped: needs jq (Debian package jq)" >&2
  exit 0
fi
[[ -x $fb ]] || { echo "fault-campaign: no binary at $fb (cargo build --release --bin fitbench)" >&2; exit 2; }
fb=$(realpath "$fb")
work=$(mktemp -d)
mnt=$work/tmpfs
failures=0
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt" 2>/dev/null
  if [[ $failures == 0 ]]; then
    rm -rf "$work"
  else
    echo "fault-campaign: the failing injections' folders and logs are kept in $work" >&2
  fi
}
trap cleanup EXIT
sweep=(--datasets 'linear:n=3000,d=8,noise=0.1;teacher:n=3000,d=8,h=8,act=tanh,noise=0.05'
  --trainers 'ols;adam;lbfgs;lsq;lm' --hidden 8 --activation tanh --seeds 2
  --max-iters 60 --budget-s 1000 --threads 1)

# Deterministic content of a report: per run key, status, iterations and scheduled losses.
facts() {
  jq -c '[.runs[] | [.dataset, .trainer, .repetition, .status, .iterations,
          ([.curve[] | select(.off_schedule | not) | [.iter, .train_mse, .test_mse]])]] | sort' "$1"
}
# Complete lines of a log (everything up to its last newline; a torn tail left out).
complete_lines() {
  if [[ -f $1 ]]; then
    head -n "$(tr -cd '\n' <"$1" | wc -c)" "$1"
  fi
}

echo "fault-campaign: reference sweep"
t0=$(date +%s%N)
"$fb" run "${sweep[@]}" --out "$work/ref" >"$work/ref.log" 2>&1
t_ref_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
facts "$work/ref/report.json" >"$work/ref.facts"
"$fb" validate "$work/ref/report.json" --require-ok --require-plots >/dev/null
log_bytes=$(wc -c <"$work/ref/runs.jsonl")
echo "fault-campaign: reference took ${t_ref_ms} ms, runs.jsonl ${log_bytes} bytes, $(jq '.runs | length' "$work/ref/report.json") runs"

can_mount=0
if [[ $(id -u) == 0 ]] && mkdir -p "$mnt" && mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  umount "$mnt"
  can_mount=1
fi

declare -A tally=()
fail() {
  echo "  FAIL: $*"
  failures=$((failures + 1))
  keep_logs=1
}
keep_logs=0

RANDOM=$seed
for ((i = 1; i <= n; i++)); do
  modes=(int term kill full second)
  mode=${modes[RANDOM % ${#modes[@]}]}
  # Half the injections hit a --resume of a folder that an earlier fault left partial.
  partial=$((RANDOM % 2))
  delay_ms=$((RANDOM % (t_ref_ms + 1)))
  dir=$work/run-$i
  rm -rf "$dir"
  base_note=""
  if [[ $partial == 1 ]]; then
    # A partial folder: a sweep killed part-way.
    "$fb" run "${sweep[@]}" --out "$dir" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v m=$((RANDOM % (t_ref_ms + 1))) 'BEGIN{printf "%.3f", m/1000}')"
    kill -KILL $pid 2>/dev/null || true
    { wait $pid; } 2>/dev/null || true
    base_note=" (resume of a partial folder)"
  fi
  resume=()
  [[ -d $dir ]] && resume=(--resume)
  # What the partial folder held before the faulted command: must survive it (a --resume that
  # truncated the log would lose it even if the final --resume made the report whole again).
  complete_lines "$dir/runs.jsonl" >"$work/start-$i"
  status=0
  detail=""
  case $mode in
    int | term | kill)
      sig=${mode^^}
      "$fb" run "${sweep[@]}" --out "$dir" "${resume[@]}" >"$work/log-$i" 2>&1 &
      pid=$!
      sleep "$(awk -v m=$delay_ms 'BEGIN{printf "%.3f", m/1000}')"
      kill -"$sig" $pid 2>/dev/null || true
      { wait $pid; } 2>/dev/null || status=$?
      detail="SIG$sig after ${delay_ms} ms, exit $status"
      ;;
    full)
      # Room for a random part of the log: the sweep fails part-way with a clear error.
      room=$(( (RANDOM % 100 + 1) * log_bytes / 100 ))
      if [[ $can_mount == 1 ]]; then
        used=0
        [[ -d $dir ]] && used=$(( $(du -sk "$dir" | cut -f1) * 1024 ))
        mkdir -p "$mnt"
        # tmpfs sizes are whole pages: what the folder holds already plus the room drawn.
        mount -t tmpfs -o size=$(( (used + room) / 4096 * 4096 + 4096 )) tmpfs "$mnt"
        mkdir -p "$mnt/d"
        [[ -d $dir ]] && cp -a "$dir/." "$mnt/d/"
        ( "$fb" run "${sweep[@]}" --out "$mnt/d" "${resume[@]}" >"$work/log-$i" 2>&1 ) || status=$?
        rm -rf "$dir"
        mkdir -p "$dir"
        cp -a "$mnt/d/." "$dir/"
        umount "$mnt"
        detail="tmpfs with ${room} bytes of room, exit $status"
      else
        blocks=$(( room / 1024 + 1 ))
        ( trap '' XFSZ; ulimit -f "$blocks"; exec "$fb" run "${sweep[@]}" --out "$dir" "${resume[@]}" ) >"$work/log-$i" 2>&1 || status=$?
        detail="file-size limit ${blocks} KiB, exit $status"
      fi
      if [[ $status == 2 ]] && ! grep -q -- "--resume" "$work/log-$i"; then
        fail "injection $i: the disk-full error does not name the recovery (--resume): $(tail -n 2 "$work/log-$i")"
      fi
      ;;
    second)
      "$fb" run "${sweep[@]}" --out "$dir" "${resume[@]}" >"$work/log-$i" 2>&1 &
      pid=$!
      sleep "$(awk -v m=$delay_ms 'BEGIN{printf "%.3f", m/2000}')"
      s2=0
      "$fb" run "${sweep[@]}" --out "$dir" --resume >"$work/log2-$i" 2>&1 || s2=$?
      { wait $pid; } 2>/dev/null || status=$?
      if grep -q "in use by another fitbench (pid [0-9]" "$work/log2-$i" "$work/log-$i"; then
        detail="second writer refused (exits $status, $s2)"
        tally[refused]=$((${tally[refused]:-0} + 1))
      else
        detail="writers did not overlap (exits $status, $s2)"
      fi
      if [[ $status != 0 && $status != 2 ]] || [[ $s2 != 0 && $s2 != 2 ]]; then
        fail "injection $i: a writer exited $status / $s2: $(tail -n 2 "$work/log-$i" "$work/log2-$i")"
      fi
      ;;
  esac
  # What the fault left: the complete lines of the log, which must start with what was there.
  complete_lines "$dir/runs.jsonl" >"$work/before-$i"
  if ! cmp -s "$work/start-$i" <(head -c "$(wc -c <"$work/start-$i")" "$work/before-$i"); then
    fail "injection $i: the faulted command lost or changed records of the partial folder it resumed"
  fi
  kept=$(grep -c . "$work/before-$i" || true)
  # Recovery: resume to completion on a disk with room.
  if ! "$fb" run "${sweep[@]}" --out "$dir" --resume >"$work/resume-$i" 2>&1; then
    fail "injection $i: --resume after the fault failed: $(tail -n 3 "$work/resume-$i")"
    continue
  fi
  # 1. Nothing finished is lost: the log starts with what was complete before.
  if ! cmp -s "$work/before-$i" <(head -c "$(wc -c <"$work/before-$i")" "$dir/runs.jsonl"); then
    fail "injection $i: records complete before the fault changed or vanished"
  fi
  # 3. No key twice.
  if [[ -n $(jq -r '.runs[] | "\(.dataset) \(.trainer) \(.repetition)"' "$dir/report.json" | sort | uniq -d) ]]; then
    fail "injection $i: a run key appears twice in the report"
  fi
  if [[ -n $(jq -r 'select(.status != "interrupted" and .status != "error" and .status != "panicked") | "\(.dataset) \(.trainer) \(.repetition)"' "$dir/runs.jsonl" | sort | uniq -d) ]]; then
    fail "injection $i: a finished run is recorded twice in runs.jsonl"
  fi
  # 4. The report validates; 5. it equals the uninterrupted sweep.
  if ! "$fb" validate "$dir/report.json" --require-ok --require-plots >/dev/null 2>"$work/validate-$i"; then
    fail "injection $i: the final report does not validate: $(tail -n 2 "$work/validate-$i")"
  fi
  if ! cmp -s "$work/ref.facts" <(facts "$dir/report.json"); then
    fail "injection $i: the final report's deterministic results differ from the uninterrupted sweep's"
  fi
  tally[$mode]=$((${tally[$mode]:-0} + 1))
  echo "[$i/$n] $mode$base_note: $detail; $kept complete record(s) kept; recovered"
  [[ $keep_logs == 1 ]] || rm -rf "$dir"
done
# The second writers must have met the first one at least once, or the mode proved nothing.
if (( ${tally[second]:-0} >= 3 && ${tally[refused]:-0} == 0 )); then
  fail "no second writer was ever refused (with the holder's pid) in ${tally[second]} tries"
fi
summary=""
for k in int term kill full second refused; do
  summary+=" $k=${tally[$k]:-0}"
done
echo "fault-campaign: $n injection(s) (seed $seed;$summary), disk full by $([[ $can_mount == 1 ]] && echo tmpfs || echo 'file-size limit'): $failures failure(s)"
[[ $failures == 0 ]]
