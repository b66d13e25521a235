//! Trainers in other processes through the `fitbench` binary: every failure of a child stays
//! in its run (with its status, message and stderr tail) while the sweep's other trainer
//! finishes; a signal ends the children (no process, no temporary file left); `[[external]]`
//! declarations, `requires`, `fitbench list trainers --config`; `--jobs`, `--shard`/`merge`
//! and `--resume` with external trainers. Needs `python3` (standard library only).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_report::schema::{Report, RunRecord, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fitbench");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `python3 <client path>`.
fn python(relative: &str) -> String {
    format!(
        "python3 {}",
        root().join("clients/python").join(relative).display()
    )
}

/// The well-behaved trainer every failing one runs beside.
fn good() -> String {
    format!("ext:name=good,cmd={},lr=0.1", python("examples/pure_gd.py"))
}

/// A misbehaving trainer (`clients/python/tests/misbehave.py`) named `name`.
fn bad(name: &str, options: &str) -> String {
    format!(
        "ext:name={name},cmd={},{options}",
        python("tests/misbehave.py")
    )
}

/// Runs the binary with `TMPDIR` set to `tmp` (to see what temporary files it leaves).
fn fitbench(args: &[&str], tmp: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("TMPDIR", tmp)
        .output()
        .unwrap()
}

fn text_of(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn report(dir: &Path) -> Report {
    fitbench_report::io::read_report(&dir.join("report.json")).unwrap()
}

fn run_of<'a>(report: &'a Report, id: &str) -> &'a RunRecord {
    report
        .runs
        .iter()
        .find(|r| r.trainer_id == id)
        .unwrap_or_else(|| panic!("no run of {id}"))
}

/// The external trainers' temporary folders left in `tmp`.
fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fitbench-external-"))
        .collect()
}

/// A small sweep of `trainers` into `out`.
fn sweep(trainers: &[String], out: &Path, extra: &[&str], tmp: &Path) -> Output {
    let trainers = trainers.join(";");
    let args = [
        &[
            "run",
            "--datasets",
            "linear:n=120,d=3,noise=0.1",
            "--trainers",
            &trainers,
            "--hidden",
            "4",
            "--max-iters",
            "12",
            "--budget-s",
            "60",
            "--out",
            out.to_str().unwrap(),
        ][..],
        extra,
    ]
    .concat();
    fitbench(&args, tmp)
}

#[test]
fn each_failure_of_a_child_stays_in_its_run_and_the_other_trainer_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // (trainer, expected status, words its message must contain)
    let cases: Vec<(String, Status, Vec<&str>)> = vec![
        (
            bad("crash", "mode=crash"),
            Status::Error,
            vec!["exited before answering `step`", "crashing on purpose"],
        ),
        (
            bad("hang", "mode=hang,timeout_s=1.5"),
            Status::Unresponsive,
            vec!["no answer to `step` within 1.5 s", "hanging on purpose"],
        ),
        (
            bad("garbage", "mode=garbage"),
            Status::Error,
            vec!["malformed answer to `step`", "this is not JSON"],
        ),
        (
            bad("short", "mode=wrong_length"),
            Status::Error,
            vec!["parameters, but the network"],
        ),
        (
            bad("nan", "mode=nan"),
            Status::Diverged,
            vec!["parameter 0", "NaN"],
        ),
        (
            bad("dies", "mode=exit_at_init"),
            Status::Error,
            vec!["init failed", "exiting during init on purpose"],
        ),
        (
            "ext:name=ghost,cmd=/no/such/program".to_string(),
            Status::Error,
            vec!["could not start `/no/such/program`"],
        ),
        (
            bad("typo", "mde=crash"),
            Status::Error,
            vec!["unknown option 'mde'"],
        ),
    ];
    for (trainer, status, words) in &cases {
        let out = dir
            .path()
            .join(trainer.split(',').next().unwrap().replace([':', '='], "-"));
        let o = sweep(&[trainer.clone(), good()], &out, &["--seeds", "1"], &tmp);
        let text = text_of(&o);
        let r = report(&out);
        let failed = r.runs.iter().find(|r| r.trainer_id != "good").unwrap();
        assert_eq!(
            failed.status, *status,
            "{trainer}: {:?}\n{text}",
            failed.message
        );
        let message = failed.message.clone().unwrap_or_default();
        for w in words {
            assert!(message.contains(w), "{trainer}: {w:?} not in {message:?}");
        }
        let g = run_of(&r, "good");
        assert_eq!(g.status, Status::MaxIters, "{trainer}: the other trainer");
        assert_eq!(g.iterations, 12);
        assert!(g.curve.last().unwrap().train_mse < g.curve[0].train_mse);
        let code = if status.is_ok() {
            0
        } else {
            o.status.code().unwrap()
        };
        assert!(matches!(code, 0 | 3), "{trainer}: exit code {code}\n{text}");
        let validated = fitbench(
            &["validate", out.join("report.json").to_str().unwrap()],
            &tmp,
        );
        assert!(validated.status.success(), "{}", text_of(&validated));
    }
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
}

#[test]
fn a_signal_ends_the_children_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let pidfile = dir.path().join("child.pid");
    let out = dir.path().join("out");
    // It hangs in its third step, far inside its reply timeout: only the signal can end it.
    let slow = bad(
        "hangs",
        &format!("mode=hang,at=3,timeout_s=600,pidfile={}", pidfile.display()),
    );
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--datasets",
            "linear:n=80,d=3",
            "--trainers",
            &slow,
            "--seeds",
            "1",
            "--max-iters",
            "100000",
            "--budget-s",
            "600",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&pidfile).map_or(true, |p| p.trim().is_empty()) {
        assert!(started.elapsed().as_secs() < 60, "the child never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} runs"
    );
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let signalled_at = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled_at.elapsed().as_secs() > 60 {
            let _ = child.kill();
            panic!(
                "the harness did not end within 60 s of SIGINT: the step in flight was not cancelled"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    // The child is gone (killed and reaped: not even a zombie) and so is its folder.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} survived"
    );
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
    let r = report(&out);
    assert_eq!(r.runs[0].status, Status::Interrupted);
    assert_eq!(r.runs[0].iterations, 2, "the two steps before the hung one");
}

#[test]
fn declared_trainers_run_by_name_and_a_failed_requirement_skips_one_with_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let config = dir.path().join("peers.toml");
    std::fs::write(
        &config,
        format!(
            r#"name = "declared"
datasets = ["linear:n=100,d=3"]
trainers = ["gd:lr=0.2", "gd-default", "needs-missing", "adam"]
seeds = 1
hidden = [4]
max_iters = 10

[[external]]
name = "gd"
cmd = ["python3", "{gd}"]
options = {{ lr = 0.01 }}

[[external]]
name = "gd-default"
cmd = "python3 {gd}"
timeout_s = 30

[[external]]
name = "needs-missing"
cmd = "python3 {gd}"
requires = ["python3", "-c", "import no_such_module_fitbench"]
"#,
            gd = root().join("clients/python/examples/pure_gd.py").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = fitbench(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &tmp,
    );
    let text = text_of(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("needs-missing skipped") && text.contains("no_such_module_fitbench"),
        "{text}"
    );
    let r = report(&out);
    let ids: Vec<&str> = r.runs.iter().map(|r| r.trainer_id.as_str()).collect();
    assert_eq!(ids, ["gd", "gd-default", "adam"]);
    assert_eq!(r.config.skipped.len(), 1);
    // The command-line option wins over the declaration's; the declaration's over the default.
    assert_eq!(run_of(&r, "gd").trainer_config["lr"], 0.2);
    assert_eq!(run_of(&r, "gd-default").trainer_config["timeout_s"], 30.0);
    let info = run_of(&r, "gd").trainer_info.clone().unwrap();
    assert_eq!(info["hello"]["name"], "pure-gd");
    assert!(info["hello"]["versions"]["python"].is_string());
    assert!(info["protocol_overhead_s"].as_f64().unwrap() > 0.0);

    let listed = fitbench(
        &["list", "trainers", "--config", config.to_str().unwrap()],
        &tmp,
    );
    let list = text_of(&listed);
    assert!(listed.status.success(), "{list}");
    assert!(list.contains("  ext "), "{list}");
    assert!(
        list.contains("gd-default") && list.contains("lr [0.05]"),
        "{list}"
    );
    assert!(list.contains("skipped in a sweep"), "{list}");

    // A declaration may not take a built-in's name.
    std::fs::write(
        &config,
        "datasets = [\"diabetes\"]\ntrainers = [\"adam\"]\n[[external]]\nname = \"adam\"\ncmd = \"python3 x.py\"\n",
    )
    .unwrap();
    let o = fitbench(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        &tmp,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text_of(&o));
    assert!(
        text_of(&o).contains("a built-in trainer has that name"),
        "{}",
        text_of(&o)
    );
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
}

/// (trainer, repetition) → the bits of its curve's training losses.
fn curves(r: &Report) -> Vec<(String, usize, Vec<u64>)> {
    let mut v: Vec<_> = r
        .runs
        .iter()
        .map(|run| {
            (
                run.trainer.clone(),
                run.repetition,
                run.curve.iter().map(|p| p.train_mse.to_bits()).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn jobs_shards_merge_and_resume_work_with_external_trainers() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let trainers = [
        good(),
        format!(
            "ext:name=other,cmd={},lr=0.05",
            python("examples/pure_gd.py")
        ),
    ];
    let seeds = ["--seeds", "2"];
    let one = dir.path().join("one");
    let o = sweep(&trainers, &one, &seeds, &tmp);
    assert!(o.status.success(), "{}", text_of(&o));
    let reference = curves(&report(&one));
    assert_eq!(reference.len(), 4);

    let jobs = dir.path().join("jobs");
    let o = sweep(
        &trainers,
        &jobs,
        &[&seeds[..], &["--jobs", "2"]].concat(),
        &tmp,
    );
    assert!(o.status.success(), "{}", text_of(&o));
    assert_eq!(curves(&report(&jobs)), reference, "--jobs 2");

    let shards: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("shard{i}")))
        .collect();
    for (i, s) in shards.iter().enumerate() {
        let o = sweep(
            &trainers,
            s,
            &[&seeds[..], &["--shard", &format!("{i}/2")]].concat(),
            &tmp,
        );
        assert!(o.status.success(), "{}", text_of(&o));
    }
    let merged = dir.path().join("merged");
    let o = fitbench(
        &[
            "merge",
            shards[0].to_str().unwrap(),
            shards[1].to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ],
        &tmp,
    );
    assert!(o.status.success(), "{}", text_of(&o));
    assert_eq!(curves(&report(&merged)), reference, "shards merged");

    // --resume reuses every finished external run (nothing is started again).
    let o = sweep(&trainers, &one, &[&seeds[..], &["--resume"]].concat(), &tmp);
    assert!(o.status.success(), "{}", text_of(&o));
    assert!(
        text_of(&o).contains("reusing 4 of 4 runs"),
        "{}",
        text_of(&o)
    );
    assert_eq!(curves(&report(&one)), reference, "--resume");
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
}
