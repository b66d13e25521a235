#!/usr/bin/env bash
# Self-test of the scheduler examples, run as written against fake schedulers:
#   bash scripts/test-scheduler-examples.sh target/release/fitbench
#
#   a. SLURM  scripts/slurm/sweep.sbatch, with a fake `sbatch` on PATH that runs the array
#      tasks and the dependent merge job synchronously (from a spool copy of the script, as
#      slurmd does). A single preset, a preset group, and a failing shard (the afterany merge
#      must still run and report the missing runs; resubmitting the task then completes it).
#   b. Kubernetes  scripts/kubernetes/*.yaml: structure checks, then every index of the
#      Indexed Job's container command (with $(VAR) expanded as the kubelet does) and the
#      merge Job's command, with `fitbench` and `fitbench-merge-shards` on PATH as in the image.
#   c. GitHub Actions  .github/workflows/sweep.yml: structure checks, then the plan, shard and
#      merge steps' `run:` scripts with their ${{ }} expressions filled in, artifacts copied as
#      upload/download-artifact would.
# Every merged report must pass `fitbench validate --require-ok` and hold exactly the runs of
# the same sweep run unsharded (same keys, seeds, statuses, iteration counts). The sweeps are
# tiny (the ci preset with one seed and 5 iterations; barbu on diabetes only): seconds in all.
# Needs bash, python3 with PyYAML, jq (the workflow's plan step uses it); no network, no cargo.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/fitbench" >&2
  exit 2
fi
BIN=$(realpath "$1")
[[ -x $BIN ]] || { echo "test-scheduler-examples: $1 is not an executable" >&2; exit 2; }
cd "$(dirname "$0")/.."
REPO=$PWD
for tool in python3 jq; do
  command -v "$tool" >/dev/null || { echo "test-scheduler-examples: $tool not found" >&2; exit 2; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "test-scheduler-examples: python3 lacks PyYAML" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fitbench-scheduler-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
started=$SECONDS

# The tiny sweeps, passed to the examples through their knobs.
TINY_PRESET=ci
TINY_ARGS="--seeds 1 --max-iters 5"
GROUP_PRESET=barbu
GROUP_ARGS="--datasets diabetes --seeds 1 --max-iters 5"

fail() {
  echo "test-scheduler-examples: FAIL: $*" >&2
  exit 1
}
# run_logged LOG CMD…: runs CMD with its output in LOG; on failure shows LOG's tail and fails.
run_logged() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "---- last lines of $log:" >&2
    tail -n 25 "$log" >&2
    fail "command failed: $*"
  fi
}

# check_merged MERGED REF: every sweep under REF (REF/report.json or REF/<sub>/report.json)
# has a merged twin under MERGED that validates and holds the same runs; nothing else.
check_merged() {
  local merged=$1 ref=$2 sub
  local -a subs=()
  if [[ -f $ref/report.json ]]; then subs=(.); else
    for f in "$ref"/*/report.json; do sub=${f%/report.json}; subs+=("${sub##*/}"); done
  fi
  [[ ${#subs[@]} -gt 0 ]] || fail "no reference report under $ref"
  for sub in "${subs[@]}"; do
    [[ -f $merged/$sub/report.json ]] || fail "$merged/$sub/report.json was not written"
    run_logged "$TMP/validate.log" "$BIN" validate "$merged/$sub/report.json" --require-ok
  done
  python3 - "$merged" "$ref" "${subs[@]}" <<'PY' || fail "merged runs of $merged differ from the unsharded sweep $ref"
import json, os, sys
merged, ref, subs = sys.argv[1], sys.argv[2], sys.argv[3:]

def runs(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out.append((r["dataset"], r["trainer"], r["repetition"],
                            json.dumps(r["seeds"], sort_keys=True), r["status"], r["iterations"]))
    return sorted(out)

ok = True
for sub in subs:
    a = runs(os.path.join(merged, sub, "runs.jsonl"))
    b = runs(os.path.join(ref, sub, "runs.jsonl"))
    report = json.load(open(os.path.join(merged, sub, "report.json")))
    if a != b or len(report["runs"]) != len(b):
        ok = False
        print(f"  {sub}: merged {len(a)} runs (report {len(report['runs'])}), unsharded {len(b)}", file=sys.stderr)
        for x in sorted(set(a) ^ set(b))[:5]:
            print(f"    only in {'merged' if x in a else 'unsharded'}: {x[:3]} status {x[4]}, {x[5]} iterations", file=sys.stderr)
found = sorted(os.path.relpath(d, merged) for d, _, files in os.walk(merged) if "sweep.json" in files)
if found != sorted(os.path.normpath(s) for s in subs):
    ok = False
    print(f"  sweeps in {merged}: {found}, expected {subs}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
# run_count DIR: the runs of the (reference) sweep(s) under DIR, summed over sub-folders.
run_count() { cat "$1"/runs.jsonl "$1"/*/runs.jsonl 2>/dev/null | grep -c . || true; }

# ---- The reference: the tiny sweeps, unsharded. ----
read -r -a tiny <<<"$TINY_ARGS"
read -r -a group <<<"$GROUP_ARGS"
run_logged "$TMP/ref-flat.log" "$BIN" run --preset "$TINY_PRESET" "${tiny[@]}" --out "$TMP/ref/flat"
run_logged "$TMP/ref-group.log" "$BIN" run --preset "$GROUP_PRESET" "${group[@]}" --out "$TMP/ref/group"
flat_runs=$(run_count "$TMP/ref/flat")
group_runs=$(run_count "$TMP/ref/group")
[[ $flat_runs -gt 0 && $group_runs -gt 0 ]] || fail "the reference sweeps wrote no runs"

# =============================== a. SLURM ===============================
part=$SECONDS
mkdir -p "$TMP/bin"
cat >"$TMP/bin/sbatch" <<'FAKE'
#!/usr/bin/env bash
# Fake sbatch: runs each job at once, synchronously, and records it in $FAKE_SLURM_STATE.
# Understands --parsable, --array=LIST (A-B[:S], N, comma lists, %limit ignored),
# --dependency=afterany|afterok:ID[:ID…], --output=PATTERN (%A %a %j %x), --job-name=NAME,
# --wrap=CMD / --wrap CMD, a script path and its arguments; other --opt=value are ignored.
# As with real SLURM: a job whose --output folder is missing fails, array tasks run a copy
# of the script from a spool folder, and sbatch itself succeeds whatever the job does.
set -euo pipefail
state=${FAKE_SLURM_STATE:?}
parsable=0 array='' dependency='' wrap='' output='' name=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --parsable) parsable=1 ;;
    --array=*) array=${1#*=} ;;
    --dependency=*) dependency=${1#*=} ;;
    --output=*) output=${1#*=} ;;
    --job-name=*) name=${1#*=} ;;
    --wrap=*) wrap=${1#*=} ;;
    --wrap) wrap=$2; shift ;;
    --*=*) ;;
    -*) echo "fake sbatch: unsupported option $1 (use --opt=value)" >&2; exit 1 ;;
    *) break ;;
  esac
  shift
done
script=${1:-}
[[ $# -gt 0 ]] && shift
[[ -n $wrap || -n $script ]] || { echo "fake sbatch: no script and no --wrap" >&2; exit 1; }
echo "sbatch ${array:+--array=$array }${dependency:+--dependency=$dependency }${wrap:+--wrap=…}${script}" >>"$state/calls.log"
jid=$(( $(cat "$state/next" 2>/dev/null || echo 1000) + 1 ))
echo "$jid" >"$state/next"
[[ -n $name ]] || name=$(basename "${script:-wrap}")
say() { if [[ $parsable == 1 ]]; then echo "$jid"; else echo "Submitted batch job $jid"; fi; }

# Dependencies: the jobs ran already; afterok on a failed job means "never runs".
if [[ -n $dependency ]]; then
  IFS=: read -r -a dep <<<"$dependency"
  for id in "${dep[@]:1}"; do
    [[ -f $state/$id.rc ]] || { echo "fake sbatch: dependency on unknown job $id" >&2; exit 1; }
    if [[ ${dep[0]} == afterok && $(cat "$state/$id.rc") != 0 ]]; then
      echo "never ran (DependencyNeverSatisfied)" >"$state/$jid.rc"
      say; exit 0
    fi
    [[ ${dep[0]} == afterany || ${dep[0]} == afterok ]] || { echo "fake sbatch: unsupported dependency $dependency" >&2; exit 1; }
  done
fi

# run_job LOG CMD…: the job's output goes to LOG, whose folder must exist.
run_job() {
  local log=$1
  shift
  [[ -d $(dirname "$log") ]] || { echo "fake sbatch: job $jid: cannot open $log" >>"$state/errors.log"; return 1; }
  "$@" >"$log" 2>&1
}
expand() { local p=$1; p=${p//%A/$jid}; p=${p//%a/${2:-}}; p=${p//%j/$jid}; p=${p//%x/$name}; echo "$p"; }

rc=0
if [[ -n $array ]]; then
  [[ -n $script ]] || { echo "fake sbatch: --array needs a script" >&2; exit 1; }
  ids=()
  IFS=, read -r -a items <<<"${array%%\%*}"
  for item in "${items[@]}"; do
    if [[ $item =~ ^([0-9]+)-([0-9]+)(:([0-9]+))?$ ]]; then
      for ((i = BASH_REMATCH[1]; i <= BASH_REMATCH[2]; i += ${BASH_REMATCH[4]:-1})); do ids+=("$i"); done
    elif [[ $item =~ ^[0-9]+$ ]]; then ids+=("$item")
    else echo "fake sbatch: bad --array=$array" >&2; exit 1; fi
  done
  min=$(printf '%s\n' "${ids[@]}" | sort -n | head -n1)
  max=$(printf '%s\n' "${ids[@]}" | sort -n | tail -n1)
  mkdir -p "$state/spool/$jid"
  cp "$script" "$state/spool/$jid/slurm_script"
  for i in "${ids[@]}"; do
    SLURM_JOB_ID=$jid SLURM_ARRAY_JOB_ID=$jid SLURM_ARRAY_TASK_ID=$i \
      SLURM_ARRAY_TASK_MIN=$min SLURM_ARRAY_TASK_MAX=$max SLURM_ARRAY_TASK_COUNT=${#ids[@]} \
      SLURM_ARRAY_TASK_STEP=1 SLURM_JOB_NAME=$name SLURM_SUBMIT_DIR=$PWD \
      run_job "$(expand "${output:-slurm-%A_%a.out}" "$i")" bash "$state/spool/$jid/slurm_script" "$@" || rc=1
  done
elif [[ -n $wrap ]]; then
  SLURM_JOB_ID=$jid SLURM_JOB_NAME=$name SLURM_SUBMIT_DIR=$PWD \
    run_job "$(expand "${output:-slurm-%j.out}")" bash -c "$wrap" || rc=$?
else
  mkdir -p "$state/spool/$jid"
  cp "$script" "$state/spool/$jid/slurm_script"
  SLURM_JOB_ID=$jid SLURM_JOB_NAME=$name SLURM_SUBMIT_DIR=$PWD \
    run_job "$(expand "${output:-slurm-%j.out}")" bash "$state/spool/$jid/slurm_script" "$@" || rc=$?
fi
echo "$rc" >"$state/$jid.rc"
say
FAKE
chmod +x "$TMP/bin/sbatch"

# slurm_sweep NAME PRESET ARGS [FITBENCH]: submits the sbatch example into $TMP/slurm/NAME
# with 3 shards; sets $slurm_out, $array_id and $merge_id. The fake scheduler's state is $TMP/slurm/NAME.state.
slurm_sweep() {
  local name=$1 preset=$2 args=$3 fitbench=${4:-$BIN}
  slurm_out=$TMP/slurm/$name
  export FAKE_SLURM_STATE=$TMP/slurm/$name.state
  mkdir -p "$FAKE_SLURM_STATE"
  run_logged "$TMP/slurm/$name.submit.log" env PATH="$TMP/bin:$PATH" FITBENCH="$fitbench" \
    PRESET="$preset" SHARDS=3 OUT="$slurm_out" FITBENCH_RUN_ARGS="$args" \
    bash scripts/slurm/sweep.sbatch
  grep -q "submitted array" "$TMP/slurm/$name.submit.log" || fail "slurm/$name: no submission message"
  grep -q -- "--array=0-2 " "$FAKE_SLURM_STATE/calls.log" || fail "slurm/$name: the array was not submitted as 0-2"
  array_id=$(sed -n 's/.*submitted array \([0-9]*\) .*/\1/p' "$TMP/slurm/$name.submit.log")
  merge_id=$(sed -n 's/.*and merge job \([0-9]*\).*/\1/p' "$TMP/slurm/$name.submit.log")
  [[ -n $array_id && -n $merge_id ]] || fail "slurm/$name: no job ids in: $(cat "$TMP/slurm/$name.submit.log")"
  grep -q -- "--dependency=afterany:$array_id " "$FAKE_SLURM_STATE/calls.log" \
    || fail "slurm/$name: the merge job does not depend on array $array_id with afterany: $(cat "$FAKE_SLURM_STATE/calls.log")"
  if [[ -s $FAKE_SLURM_STATE/errors.log ]]; then fail "slurm/$name: $(cat "$FAKE_SLURM_STATE/errors.log")"; fi
  for i in 0 1 2; do
    compgen -G "$slurm_out/logs/shard-*_$i.log" >/dev/null || fail "slurm/$name: no log of task $i in $slurm_out/logs"
  done
}
# slurm_rc ID: what the fake scheduler recorded for job ID (its exit status).
slurm_rc() { cat "$FAKE_SLURM_STATE/$1.rc"; }
# slurm_ok NAME: both jobs succeeded, or fail showing the logs of the failed ones.
slurm_ok() {
  [[ $(slurm_rc "$array_id") == 0 && $(slurm_rc "$merge_id") == 0 ]] && return
  { grep -l -i "error\|crash" "$slurm_out"/logs/*.log || true; } | while read -r log; do
    echo "---- $log:" >&2
    tail -n 5 "$log" >&2
  done
  fail "slurm/$1: a job failed (array: exit $(slurm_rc "$array_id"), merge: exit $(slurm_rc "$merge_id"))"
}

slurm_sweep flat "$TINY_PRESET" "$TINY_ARGS"
slurm_ok flat
check_merged "$slurm_out/merged" "$TMP/ref/flat"

slurm_sweep group "$GROUP_PRESET" "$GROUP_ARGS"
slurm_ok group
check_merged "$slurm_out/merged" "$TMP/ref/group"

# A shard that crashes: submission still succeeds, the merge still runs (afterany), fails,
# and its log names the missing runs.
cat >"$TMP/crashing-fitbench" <<EOF
#!/usr/bin/env bash
if [[ \${SLURM_ARRAY_TASK_ID:-} == 1 ]]; then echo "simulated crash of task 1" >&2; exit 3; fi
exec "$BIN" "\$@"
EOF
chmod +x "$TMP/crashing-fitbench"
slurm_sweep crash "$TINY_PRESET" "$TINY_ARGS" "$TMP/crashing-fitbench"
[[ $(slurm_rc "$array_id") != 0 ]] || fail "slurm/crash: the array should have failed"
[[ $(slurm_rc "$merge_id") =~ ^[1-9][0-9]*$ ]] || fail "slurm/crash: the merge job should have run and failed (got: $(slurm_rc "$merge_id"))"
grep -q "runs are in no shard" "$slurm_out"/logs/merge-*.log \
  || fail "slurm/crash: the merge log does not report the missing runs: $(cat "$slurm_out"/logs/merge-*.log)"
[[ ! -e $slurm_out/merged/report.json ]] || fail "slurm/crash: a report was written despite missing runs"
# Recovery as the sbatch file's header describes it: resubmit the lost task, merge by hand.
(
  cd "$TMP/slurm"
  run_logged "$TMP/slurm/resubmit.log" env PATH="$TMP/bin:$PATH" FITBENCH="$BIN" PRESET="$TINY_PRESET" \
    OUT="$slurm_out" FITBENCH_RUN_ARGS="$TINY_ARGS" SHARDS=3 \
    sbatch --array=1 "$REPO/scripts/slurm/sweep.sbatch"
)
[[ $(slurm_rc "$(tail -n1 "$TMP/slurm/resubmit.log" | grep -o '[0-9]*$')") == 0 ]] \
  || fail "slurm/crash: the resubmitted task failed: $(tail -n 5 "$TMP"/slurm/fitbench-sweep-*.log)"
run_logged "$TMP/slurm/remerge.log" env FITBENCH="$BIN" bash scripts/merge-shards.sh "$slurm_out/shards" "$slurm_out/merged"
check_merged "$slurm_out/merged" "$TMP/ref/flat"
echo "a. SLURM: ok — sweep.sbatch submitted 3-task arrays + afterany merges; ci ($flat_runs runs) and barbu group (h32+h64, $group_runs runs) merged identical to unsharded; a crashed task's merge reported the missing runs, and resubmitting that task (SHARDS=3 sbatch --array=1) completed it ($((SECONDS - part)) s)"

# ============================ b. Kubernetes ============================
part=$SECONDS
mkdir -p "$TMP/k8s/image-bin" "$TMP/k8s/results"
# What the image puts on PATH (see Dockerfile).
ln -s "$BIN" "$TMP/k8s/image-bin/fitbench"
ln -s "$REPO/scripts/merge-shards.sh" "$TMP/k8s/image-bin/fitbench-merge-shards"
python3 - "$TMP/k8s" "$TINY_PRESET" "$TINY_ARGS" >"$TMP/k8s.log" 2>&1 <<'PY' || { cat "$TMP/k8s.log" >&2; fail "kubernetes example"; }
import os, re, shlex, subprocess, sys, yaml

work, tiny_preset, tiny_args = sys.argv[1], sys.argv[2], shlex.split(sys.argv[3])
results = os.path.join(work, "results")

def check(cond, msg):
    if not cond:
        sys.exit(f"kubernetes: {msg}")

def load(path):
    with open(path) as f:
        return yaml.safe_load(f)

pvc = load("scripts/kubernetes/pvc.yaml")
sweep = load("scripts/kubernetes/sweep-job.yaml")
merge = load("scripts/kubernetes/merge-job.yaml")
check(pvc["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in pvc["spec"]["accessModes"],
      "pvc.yaml must be a ReadWriteMany PersistentVolumeClaim")
claim = pvc["metadata"]["name"]

def container(job, name):
    check(job["apiVersion"] == "batch/v1" and job["kind"] == "Job", f"{name} is not a batch/v1 Job")
    pod = job["spec"]["template"]["spec"]
    check(pod.get("restartPolicy") in ("Never", "OnFailure"), f"{name}: restartPolicy")
    check(len(pod["containers"]) == 1, f"{name}: expected one container")
    c = pod["containers"][0]
    check(c["image"] == "fitbench:latest", f"{name}: image is {c['image']}")
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    check("/results" in mounts and vols[mounts["/results"]]["persistentVolumeClaim"]["claimName"] == claim,
          f"{name}: /results must mount the claim {claim}")
    return c

spec = sweep["spec"]
check(spec.get("completionMode") == "Indexed", "sweep-job.yaml: completionMode must be Indexed")
completions = spec["completions"]
check(spec.get("parallelism", 1) <= completions, "sweep-job.yaml: parallelism > completions")
check("backoffLimitPerIndex" in spec or "backoffLimit" in spec, "sweep-job.yaml: no backoff limit")
c = container(sweep, "sweep-job.yaml")
env = {e["name"]: e.get("value") for e in c.get("env", [])}
check(env.get("FITBENCH_SHARD_COUNT") == str(completions),
      f"sweep-job.yaml: FITBENCH_SHARD_COUNT={env.get('FITBENCH_SHARD_COUNT')!r} but completions={completions}")
check(str(c["resources"]["requests"]["cpu"]) in ("1", "1000m"), "sweep-job.yaml: request 1 CPU")
argv = list(c.get("command", [])) + list(c.get("args", []))
check(argv[:2] == ["fitbench", "run"] and "--shard" in argv and argv[argv.index("--shard") + 1] == "auto",
      f"sweep-job.yaml: expected `fitbench run … --shard auto`, got {argv}")

def expand(s, env):
    # The kubelet's $(VAR) expansion of command/args: $$ escapes, unknown names stay as is.
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)

def pod_env(extra):
    # A pod's environment: what the image and the manifest set, not this shell's.
    e = {"HOME": os.environ.get("HOME", "/root"),
         "PATH": os.path.join(work, "image-bin") + os.pathsep + os.environ["PATH"]}
    e.update({k: v for k, v in env.items() if v is not None})
    e.update(extra)
    return e

def to_local(arg):
    # The volume: /results in the pod is work/results here.
    return arg.replace("/results", results)

# The tiny sweep instead of the real one: swap the preset, append the small flags.
i = argv.index("--preset")
argv[i + 1] = tiny_preset
argv += tiny_args
# Every index once, then index 0 again: a pod retried after a failure (backoffLimitPerIndex)
# finds its predecessor's folder and must not fail on it.
for index in list(range(completions)) + [0]:
    e = pod_env({"JOB_COMPLETION_INDEX": str(index)})
    cmd = [to_local(expand(a, e)) for a in argv]
    out = cmd[cmd.index("--out") + 1]
    check(out == f"{results}/shards/{index}", f"index {index}: --out is {out}")
    print("pod", index, ":", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, env=e, cwd=work)
    check(r.returncode == 0, f"index {index} exited {r.returncode}")

m = container(merge, "merge-job.yaml")
margv = list(m.get("command", [])) + list(m.get("args", []))
check("/results/merged" in " ".join(margv), "merge-job.yaml must write /results/merged")
cmd = [to_local(expand(a, pod_env({}))) for a in margv]
print("merge pod:", cmd, flush=True)
r = subprocess.run(cmd, env=pod_env({}), cwd=work)
check(r.returncode == 0, f"the merge Job exited {r.returncode}")
print(f"ok {completions}")
PY
k8s_shards=$(tail -n1 "$TMP/k8s.log" | sed 's/^ok //')
check_merged "$TMP/k8s/results/merged" "$TMP/ref/flat"
# kubectl's client-side dry run still asks the API server for its resource list, so it only
# works with a reachable cluster; use it when it does.
kubectl_note="kubectl dry run skipped (kubectl not installed)"
if command -v kubectl >/dev/null; then
  if timeout 20 kubectl create --dry-run=client --validate=false -o name --request-timeout=5s \
    -f scripts/kubernetes/pvc.yaml -f scripts/kubernetes/sweep-job.yaml -f scripts/kubernetes/merge-job.yaml \
    >"$TMP/kubectl.log" 2>&1; then
    kubectl_note="kubectl dry run ok: $(tr '\n' ' ' <"$TMP/kubectl.log")"
  else
    kubectl_note="kubectl dry run skipped (needs a reachable API server: $(grep -m1 -o 'unable to recognize[^:]*\|connection refused\|error: .*' "$TMP/kubectl.log" | head -c 80))"
  fi
fi
echo "b. Kubernetes: ok — Indexed Job ($k8s_shards indexes and a retried index 0, \$(JOB_COMPLETION_INDEX) expanded, FITBENCH_SHARD_COUNT = completions) + merge Job gave a valid report identical to unsharded; $kubectl_note ($((SECONDS - part)) s)"

# ========================== c. GitHub Actions ==========================
part=$SECONDS
python3 - "$TMP/gha" "$BIN" "$REPO" "$TINY_PRESET" "$TINY_ARGS" >"$TMP/gha.log" 2>&1 <<'PY' || { cat "$TMP/gha.log" >&2; fail "GitHub Actions example"; }
import fnmatch, json, os, re, shutil, subprocess, sys, yaml

work, binary, repo, tiny_preset, tiny_args = sys.argv[1:6]
SHARDS = 3

def check(cond, msg):
    if not cond:
        sys.exit(f"github: {msg}")

wf = yaml.safe_load(open(".github/workflows/sweep.yml"))
on = wf.get("on", wf.get(True))  # PyYAML reads the key `on` as the boolean true
inputs = on["workflow_dispatch"]["inputs"]
check(inputs["preset"]["default"] == "khadilkar", "input preset must default to khadilkar")
check(str(inputs["shards"]["default"]) == "4", "input shards must default to 4")
jobs = wf["jobs"]
plan, shard, merge = jobs["plan"], jobs["shard"], jobs["merge"]

def as_list(x):
    return x if isinstance(x, list) else [x]

def step(job, pred, what):
    found = [s for s in job["steps"] if pred(s)]
    check(len(found) == 1, f"expected one step that {what}, found {len(found)}")
    return found[0]

def uses(prefix):
    return lambda s: s.get("uses", "").startswith(prefix)

plan_step = step(plan, lambda s: s.get("id") == "plan", "has id plan")
check(plan["outputs"]["shards"].replace(" ", "") == "${{steps.plan.outputs.shards}}", "plan must output shards")
check("plan" in as_list(shard["needs"]), "shard must need plan")
check(shard["strategy"].get("fail-fast") is False, "shard: fail-fast must be false")
check(shard["strategy"]["matrix"]["shard"].replace(" ", "") == "${{fromJSON(needs.plan.outputs.shards)}}",
      "shard: matrix.shard must be fromJSON(needs.plan.outputs.shards)")
for job, name in ((shard, "shard"), (merge, "merge")):
    for action in ("actions/checkout@", "dtolnay/rust-toolchain@stable", "Swatinem/rust-cache@v2"):
        step(job, uses(action), f"uses {action} in {name}")
    build = step(job, lambda s: "cargo build" in s.get("run", ""), f"builds in {name}")
    check("--release" in build["run"] and "--bin fitbench" in build["run"], f"{name}: release build of fitbench")
run_step = step(shard, lambda s: "fitbench run" in s.get("run", ""), "runs fitbench run")
up = step(shard, uses("actions/upload-artifact@v4"), "uploads the shard")
check("shard" in as_list(merge["needs"]), "merge must need shard")
check("always()" in str(merge.get("if", "")), "merge must run if: always()")
down = step(merge, uses("actions/download-artifact@v4"), "downloads the shards")
merge_step = step(merge, lambda s: "merge-shards.sh" in s.get("run", ""), "runs scripts/merge-shards.sh")
up_merged = step(merge, uses("actions/upload-artifact@v4"), "uploads merged")
check(up_merged["with"]["name"] == "merged", "merge: the artifact must be named merged")

def evaluate(text, ctx):
    # Fills in ${{ expr }} for the few expressions the workflow uses; anything else fails.
    def one(m):
        expr = m.group(1).strip()
        check(expr in ctx, f"unsupported expression ${{{{ {expr} }}}}")
        return str(ctx[expr])
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))

def run(step_, ctx, cwd, extra_env=None):
    env = dict(os.environ)
    env.update({k: evaluate(v, ctx) for k, v in step_.get("env", {}).items()})
    env.update(extra_env or {})
    script = evaluate(step_["run"], ctx)
    # The runner's default shell for `run:` on Linux.
    r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env)
    check(r.returncode == 0, f"step {step_.get('name', step_['run'][:40])!r} exited {r.returncode}")

ctx = {"inputs.preset": tiny_preset, "inputs.shards": SHARDS, "inputs.run_args": tiny_args}

# plan
out_file = os.path.join(work, "plan.out")
os.makedirs(work)
open(out_file, "w").close()
run(plan_step, ctx, work, {"GITHUB_OUTPUT": out_file})
outputs = dict(line.split("=", 1) for line in open(out_file).read().splitlines() if "=" in line)
shards = json.loads(outputs["shards"])
check(shards == list(range(SHARDS)), f"plan: shards={outputs['shards']} for shards={SHARDS}")
ctx["steps.plan.outputs.shards"] = ctx["needs.plan.outputs.shards"] = outputs["shards"]

def checkout(name):
    # A fresh runner: the repository, with the fitbench the Build step would make.
    ws = os.path.join(work, name)
    os.makedirs(os.path.join(ws, "target", "release"))
    os.symlink(os.path.join(repo, "scripts"), os.path.join(ws, "scripts"))
    os.symlink(binary, os.path.join(ws, "target", "release", "fitbench"))
    return ws

artifacts = os.path.join(work, "artifacts")
for value in shards:
    c = dict(ctx, **{"matrix.shard": value})
    ws = checkout(f"shard-runner-{value}")
    run(run_step, c, ws)
    name, path = evaluate(up["with"]["name"], c), evaluate(up["with"]["path"], c)
    check(os.path.isdir(os.path.join(ws, path)), f"shard {value}: {path} was not written")
    shutil.copytree(os.path.join(ws, path), os.path.join(artifacts, name))  # upload-artifact

ws = checkout("merge-runner")
pattern, dest = down["with"]["pattern"], down["with"].get("path", ".")
names = sorted(n for n in os.listdir(artifacts) if fnmatch.fnmatch(n, pattern))
check(len(names) == SHARDS, f"download pattern {pattern!r} matches {names}, not the {SHARDS} shard artifacts")
check(down["with"].get("merge-multiple") is not True, "download must keep one folder per artifact")
for n in names:  # download-artifact with a pattern: DEST/<artifact name>/
    shutil.copytree(os.path.join(artifacts, n), os.path.join(ws, dest, n))
run(merge_step, ctx, ws)
merged = os.path.join(ws, up_merged["with"]["path"])
check(os.path.isdir(merged), f"merge: {up_merged['with']['path']} was not written")
print(merged)
PY
check_merged "$(tail -n1 "$TMP/gha.log")" "$TMP/ref/flat"
echo "c. GitHub Actions: ok — plan gave [0,1,2], 3 matrix shards ran, artifacts shard-0..2 downloaded and merged into a valid report identical to unsharded ($((SECONDS - part)) s)"

echo "test-scheduler-examples: all passed in $((SECONDS - started)) s"
