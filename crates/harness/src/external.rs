//! Trainers in other processes ([`fitbench_external`]) as a sweep declares them: the
//! `requires` checks that leave a trainer out with one line saying why, and what
//! `fitbench list trainers` shows of each declaration (its `hello`).

use fitbench_core::Options;
use fitbench_report::RunConfig;
use fitbench_report::config::ExternalDecl;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a `requires` command may take.
pub const REQUIRES_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `argv` (no shell) with its output discarded but for stderr's last line; `Ok` when it
/// exits with status 0, else why not.
pub fn check_command(argv: &[String]) -> Result<(), String> {
    let shown = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Ok(());
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < REQUIRES_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{shown}` did not finish within {} s",
                    REQUIRES_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("`{shown}`: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    Err(if last.is_empty() {
        format!("`{shown}` failed ({status})")
    } else {
        format!("`{shown}` failed ({status}): {}", last.trim())
    })
}

/// The name a trainer string (`NAME[:key=value,…]`) starts with.
fn label_name(label: &str) -> &str {
    label.split_once(':').map_or(label, |(n, _)| n).trim()
}

/// Leaves out of `config.trainers` every trainer whose declaration's `requires` command
/// fails, with one line each added to `config.skipped`. Each declaration named by a
/// trainer is checked once.
pub fn apply_requires(config: &mut RunConfig) {
    let mut failed: Vec<(String, String)> = Vec::new();
    for decl in &config.external {
        let used = config.trainers.iter().any(|t| label_name(t) == decl.name);
        if !used || decl.requires.is_empty() {
            continue;
        }
        if let Err(why) = check_command(&decl.requires) {
            failed.push((decl.name.clone(), why));
        }
    }
    for (name, why) in failed {
        let labels: Vec<String> = config
            .trainers
            .iter()
            .filter(|t| label_name(t) == name)
            .cloned()
            .collect();
        config.trainers.retain(|t| label_name(t) != name);
        config.skipped.push(format!(
            "{} skipped: its requirement {why}; the other trainers run",
            labels.join(", ")
        ));
    }
}

/// One line per declaration for `fitbench list trainers`: its command, and what its
/// `hello` says (name, versions, options) or why it could not be asked.
pub fn describe(external: &[ExternalDecl]) -> Vec<String> {
    external
        .iter()
        .map(|decl| {
            let spec = crate::registry::TrainerSpec::parse_with(&decl.name, external);
            let config = match spec {
                Ok(s) => s,
                Err(e) => return format!("  {:<10} (invalid: {e})", decl.name),
            };
            let json = config.to_json();
            let cmd = match &json["cmd"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let mut line = format!("  {:<10} external: {cmd}", decl.name);
            if !decl.options.is_empty() {
                let opts = Options(
                    decl.options
                        .iter()
                        .map(|(k, v)| {
                            let v = match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                );
                line.push_str(&format!(" [{}]", opts.to_option_string()));
            }
            if let Err(why) = check_command(&decl.requires) {
                line.push_str(&format!("\n             skipped in a sweep: {why}"));
                return line;
            }
            match fitbench_external::hello(&config_of(&json)) {
                Ok(hello) => {
                    if let Some(options) = hello.get("options").and_then(|o| o.as_object()) {
                        let shown: Vec<String> = options
                            .iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k} [{}]",
                                    v.get("default").unwrap_or(&serde_json::Value::Null)
                                )
                            })
                            .collect();
                        line.push_str(&format!("\n             options: {}", shown.join(", ")));
                    }
                    if let Some(v) = hello.get("versions") {
                        line.push_str(&format!("\n             versions: {v}"));
                    }
                }
                Err(e) => line.push_str(&format!("\n             hello failed: {e}")),
            }
            line
        })
        .collect()
}

/// The `ext` config in `json` (a [`crate::registry::TrainerSpec::to_json`]).
fn config_of(json: &serde_json::Value) -> fitbench_external::ExternalConfig {
    let mut object = json.as_object().cloned().unwrap_or_default();
    object.remove(fitbench_core::registry::TAG);
    serde_json::from_value(serde_json::Value::Object(object)).unwrap_or_default()
}
