#!/usr/bin/env bash
# Merge the shard folders of one sharded sweep: scripts/merge-shards.sh ROOT OUT [MERGE ARGS...]
#
# ROOT holds one folder per shard (ROOT/0, ROOT/1, … or ROOT/shard-0, … — any names), each
# written by `fitbench run --shard I/N --out ROOT/<name>`. A single preset (quick, khadilkar,
# ci, a --datasets/--trainers sweep) leaves sweep.json directly in each shard folder: they are
# merged into OUT. A preset group (barbu) leaves one sweep per sub-folder (ROOT/0/h32,
# ROOT/0/h64, …): each sub-folder name is merged separately into OUT/<name> (OUT/h32, …),
# because `fitbench merge` takes the folders of ONE sweep.
#
# Extra arguments go to every `fitbench merge` (e.g. --allow-missing). The binary is $FITBENCH
# (default: `fitbench` on PATH). Used by the SLURM, Kubernetes and GitHub Actions examples.
# Exit status: 0 when every merge succeeded, otherwise that of the last failing merge (every
# sweep is still attempted, so one broken sub-folder does not hide the others' reports).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 ROOT OUT [fitbench merge args...]" >&2
  exit 2
fi
root=${1%/}
out=${2%/}
shift 2
fitbench=${FITBENCH:-fitbench}

if [[ ! -d $root ]]; then
  echo "merge-shards: $root is not a folder" >&2
  exit 2
fi
shopt -s nullglob

# Merges the sweep folders "$@" (after "--") into the folder $1; remembers a failure.
status=0
merge_into() {
  local into=$1
  shift
  if [[ $# -eq 0 ]]; then
    echo "merge-shards: no shard folder of $into holds a sweep.json" >&2
    status=1
    return
  fi
  echo "merge-shards: $fitbench merge $* --out $into ${merge_args[*]}" >&2
  "$fitbench" merge "$@" --out "$into" "${merge_args[@]}" || status=$?
}
merge_args=("$@")

shard_dirs=("$root"/*/)
if [[ ${#shard_dirs[@]} -eq 0 ]]; then
  echo "merge-shards: $root holds no shard folder (did every shard fail before starting?)" >&2
  exit 1
fi

# Sub-folder names that hold a sweep in some shard: a preset group.
declare -A subs=()
for f in "$root"/*/*/sweep.json; do
  sub=${f%/sweep.json}
  subs[${sub##*/}]=1
done

if [[ ${#subs[@]} -eq 0 ]]; then
  dirs=()
  for d in "${shard_dirs[@]}"; do
    # A shard that died before writing sweep.json contributes nothing; its runs are reported
    # missing by the merge (or listed, with --allow-missing).
    if [[ -f $d/sweep.json ]]; then dirs+=("${d%/}"); else echo "merge-shards: skipping $d (no sweep.json)" >&2; fi
  done
  merge_into "$out" "${dirs[@]}"
else
  # Sorted, for a stable order of the log lines.
  mapfile -t names < <(printf '%s\n' "${!subs[@]}" | sort)
  for name in "${names[@]}"; do
    dirs=()
    for d in "${shard_dirs[@]}"; do
      if [[ -f $d/$name/sweep.json ]]; then dirs+=("$d$name"); else echo "merge-shards: skipping $d$name (no sweep.json)" >&2; fi
    done
    merge_into "$out/$name" "${dirs[@]}"
  done
fi
exit "$status"
