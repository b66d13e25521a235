//! An external trainer as a [`fitbench_core::Trainer`].

use crate::child::Process;
use crate::error::ExternalError;
use crate::npy;
use fitbench_core::{Architecture, CancelToken, Dataset, Mlp, StepOutcome, Trainer, TrainerConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The protocol version this crate speaks.
pub const PROTOCOL: u64 = 1;
/// The flat parameter layout (`fitbench_classic::engine`'s order).
pub const LAYOUT: &str = "fitbench-flat-1";
/// Empty round trips measured at `init`; their median is the run's protocol overhead.
pub const PINGS: usize = 7;
/// Keys of an `ext:…` trainer string that configure the harness's side; every other key is
/// one of the trainer's own options, passed to its `init`.
pub const RESERVED: &[&str] = &["name", "cmd", "cwd", "timeout_s"];

/// The command that starts the child: one string split at whitespace (the quick form,
/// `cmd=python3 my_trainer.py`), or the program and its arguments (a config file's
/// `cmd = ["python3", "my trainer.py"]`, for arguments with spaces). Never run by a shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// Split at whitespace.
    Line(String),
    /// Program and arguments.
    Argv(Vec<String>),
}

impl CommandLine {
    /// Program and arguments.
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandLine::Line(s) => s.split_whitespace().map(str::to_string).collect(),
            CommandLine::Argv(v) => v.clone(),
        }
    }
}

impl Default for CommandLine {
    fn default() -> Self {
        CommandLine::Line(String::new())
    }
}

/// How to start an external trainer, and its options: the config behind `ext:name=…,cmd=…`
/// and behind a config file's `[[external]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalConfig {
    /// The trainer's name in reports (a plain word, not a built-in trainer's name).
    pub name: String,
    /// The command that starts it.
    pub cmd: CommandLine,
    /// Working directory of the child (default: the harness's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Seconds to wait for any one reply (a `step`'s included) before the child is killed
    /// and the run recorded as `unresponsive`.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// The trainer's own options, passed through to its `init` (it validates them).
    #[serde(flatten)]
    pub options: serde_json::Map<String, Value>,
}

fn default_timeout() -> f64 {
    60.0
}

impl Default for ExternalConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            cmd: CommandLine::default(),
            cwd: None,
            timeout_s: default_timeout(),
            options: serde_json::Map::new(),
        }
    }
}

impl ExternalConfig {
    /// A config running `command` (split at whitespace) as trainer `name`.
    pub fn new(name: &str, command: &str) -> Self {
        Self {
            name: name.to_string(),
            cmd: CommandLine::Line(command.to_string()),
            ..Self::default()
        }
    }

    /// With the trainer's option `key` set to `value`.
    pub fn with_option(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.options.insert(key.to_string(), value.into());
        self
    }

    /// With a per-message timeout of `seconds`.
    pub fn with_timeout(mut self, seconds: f64) -> Self {
        self.timeout_s = seconds;
        self
    }
}

impl TrainerConfig for ExternalConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        let what = |key: &str| {
            if self.name.is_empty() {
                format!("ext.{key}")
            } else {
                format!("{}.{key}", self.name)
            }
        };
        if self.name.is_empty()
            || self
                .name
                .chars()
                .any(|c| c.is_whitespace() || [':', ',', '=', ';'].contains(&c))
        {
            return Err(fitbench_core::Error::config(
                what("name"),
                format!("{:?}", self.name),
                "give the trainer a name, a plain word without ':', ',', '=', ';' or spaces (ext:name=my-trainer,cmd=…)",
            ));
        }
        if self.cmd.argv().is_empty() {
            return Err(fitbench_core::Error::config(
                what("cmd"),
                "(empty)",
                "give the command that starts the trainer, e.g. cmd=python3 my_trainer.py",
            ));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err(fitbench_core::Error::config(
                what("timeout_s"),
                self.timeout_s,
                "must be a positive number of seconds",
            ));
        }
        Ok(())
    }

    /// Any architecture: the child is told the widths and activations.
    fn architecture(&self, requested: &Architecture) -> fitbench_core::Result<Architecture> {
        Ok(requested.clone())
    }

    /// The harness's side only: the data and parameters it writes to `.npy` files and reads
    /// back. The child's own memory is its business (not counted).
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        let params: usize = widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        8 * (3 * params as u64) + 8 * (n as u64) * (widths.first().copied().unwrap_or(0) as u64)
    }

    fn declared_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn init(
        &self,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn Trainer>> {
        self.validate()?;
        ExternalTrainer::start(self, train, initial, seed)
            .map(|t| Box::new(t) as Box<dyn Trainer>)
            .map_err(|e| e.into_core(&self.name))
    }
}

/// A running external trainer: the child, its temporary folder (removed on drop, after the
/// child has been closed), and what it said of itself.
#[derive(Debug)]
pub struct ExternalTrainer {
    name: String,
    // Declared before `dir`: dropped (closed, reaped) before the folder is removed.
    process: Mutex<Process>,
    template: Mlp,
    dir: tempfile::TempDir,
    /// Median seconds of an empty round trip, measured at `init`.
    overhead_s: f64,
    /// What the child said of itself at `hello`.
    hello: Value,
    cancel: Option<CancelToken>,
    /// The first failure that ended the child, repeated to every later request.
    failed: Mutex<Option<String>>,
    /// The sum of the step times the child measured itself (`step_s` in its replies).
    child_step_s: f64,
    /// How many replies carried one.
    child_steps: usize,
}

impl ExternalTrainer {
    /// Writes the problem's files, starts the child, and runs hello, init and the pings.
    pub fn start(
        config: &ExternalConfig,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> Result<Self, ExternalError> {
        let dir = temp_dir(config)?;
        let (x, y, p0) = (
            dir.path().join("x.npy"),
            dir.path().join("y.npy"),
            dir.path().join("params0.npy"),
        );
        npy::write_matrix(&x, train.x.as_ref())?;
        npy::write_matrix(&y, train.y.as_ref())?;
        let mut theta = vec![0.0; initial.n_params()];
        fitbench_classic::engine::flatten(&initial, &mut theta).map_err(|e| {
            ExternalError::Malformed {
                trainer: config.name.clone(),
                op: "init".into(),
                detail: e.to_string(),
            }
        })?;
        npy::write_vector(&p0, &theta)?;
        let mut process = spawn_in(config, &dir)?;
        let hello = process.request(&json!({"op": "hello", "protocol": PROTOCOL}), None)?;
        if hello.get("protocol").and_then(Value::as_u64) != Some(PROTOCOL) {
            return Err(ExternalError::Malformed {
                trainer: config.name.clone(),
                op: "hello".into(),
                detail: format!(
                    "protocol {}, fitbench speaks {PROTOCOL}",
                    hello.get("protocol").unwrap_or(&Value::Null)
                ),
            });
        }
        let problem = json!({
            "x": x, "y": y, "params": p0,
            "n": train.n(), "d": train.x.ncols(), "k": train.y.ncols(),
            "widths": initial.widths,
            "activations": initial.activations.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "layout": LAYOUT, "seed": seed, "threads": rayon::current_num_threads(),
        });
        process.request(
            &json!({"op": "init", "problem": problem, "options": config.options}),
            None,
        )?;
        let mut pings = Vec::with_capacity(PINGS);
        for _ in 0..PINGS {
            let t = Instant::now();
            process.request(&json!({"op": "ping"}), None)?;
            pings.push(t.elapsed().as_secs_f64());
        }
        pings.sort_by(f64::total_cmp);
        Ok(Self {
            name: config.name.clone(),
            process: Mutex::new(process),
            template: initial,
            dir,
            overhead_s: pings[PINGS / 2],
            hello,
            cancel: None,
            failed: Mutex::new(None),
            child_step_s: 0.0,
            child_steps: 0,
        })
    }

    /// Median seconds of an empty round trip, measured at `init`.
    pub fn overhead_s(&self) -> f64 {
        self.overhead_s
    }

    /// The child's `hello` reply (name, versions, options).
    pub fn hello(&self) -> &Value {
        &self.hello
    }

    /// The temporary folder holding the problem's files and the child's stderr log.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Sends `request`; after a failure that ended the child, answers every later request
    /// with that failure instead.
    fn request(
        &self,
        process: &mut Process,
        request: &Value,
        cancel: Option<&CancelToken>,
    ) -> Result<Value, ExternalError> {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = failed.as_ref() {
            return Err(ExternalError::Gone {
                trainer: self.name.clone(),
                first: first.clone(),
            });
        }
        let reply = process.request(request, cancel);
        if let Err(e) = &reply
            && !process.is_alive()
        {
            *failed = Some(e.to_string());
        }
        reply
    }

    fn fetch_params(&self) -> Result<Mlp, ExternalError> {
        let path = self.dir.path().join("params.npy");
        let _ = std::fs::remove_file(&path);
        let mut process = self.process.lock().unwrap_or_else(|p| p.into_inner());
        let reply = self.request(&mut process, &json!({"op": "params", "path": path}), None)?;
        let malformed = |detail: String| ExternalError::Malformed {
            trainer: self.name.clone(),
            op: "params".into(),
            detail,
        };
        let values: Vec<f64> = match reply.get("params") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Number(n) => n.as_f64().ok_or(i),
                    // JSON has no NaN or infinity; a client writes them as strings.
                    Value::String(s) => s.parse::<f64>().map_err(|_| i),
                    _ => Err(i),
                })
                .collect::<Result<_, usize>>()
                .map_err(|i| malformed(format!("inline parameter {i} is not a number")))?,
            Some(other) => {
                return Err(malformed(format!(
                    "`params` is {other}, not an array of numbers"
                )));
            }
            None => {
                let (values, shape) = npy::read_vector(&path)?;
                if shape.len() > 2 || shape.iter().filter(|&&s| s != 1).count() > 1 {
                    return Err(malformed(format!(
                        "{} holds an array of shape {shape:?}, not a vector",
                        path.display()
                    )));
                }
                values
            }
        };
        if values.len() != self.template.n_params() {
            return Err(malformed(format!(
                "{} parameters, but the network {:?} has {} (layout {LAYOUT}, docs/protocol.md)",
                values.len(),
                self.template.widths,
                self.template.n_params()
            )));
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(ExternalError::NonFinite {
                trainer: self.name.clone(),
                index,
                len: values.len(),
                value: values[index],
            });
        }
        let mut mlp = self.template.clone();
        fitbench_classic::engine::unflatten(&values, &mut mlp)
            .map_err(|e| malformed(e.to_string()))?;
        Ok(mlp)
    }
}

impl Trainer for ExternalTrainer {
    /// One `step` round trip. A cancelled step kills the child: the run ends there.
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        let mut process = self.process.lock().unwrap_or_else(|p| p.into_inner());
        let reply = self
            .request(&mut process, &json!({"op": "step"}), self.cancel.as_ref())
            .map_err(|e| e.into_core(&self.name))?;
        if let Some(s) = reply.get("step_s").and_then(Value::as_f64) {
            self.child_step_s += s;
            self.child_steps += 1;
        }
        match reply.get("status").and_then(Value::as_str) {
            Some("continue") | None => Ok(StepOutcome::Continue),
            Some("converged") => Ok(StepOutcome::Converged),
            Some(other) => Err(ExternalError::Malformed {
                trainer: self.name.clone(),
                op: "step".into(),
                detail: format!("status {other:?}; expected \"continue\" or \"converged\""),
            }
            .into_core(&self.name)),
        }
    }

    /// The child's current parameters; NaN weights when it cannot give them (the harness
    /// calls [`Trainer::try_params`], which says why).
    fn params(&self) -> Mlp {
        self.fetch_params().unwrap_or_else(|_| {
            let mut mlp = self.template.clone();
            for w in &mut mlp.weights {
                w.fill(f64::NAN);
            }
            mlp
        })
    }

    fn try_params(&self) -> fitbench_core::Result<Mlp> {
        self.fetch_params().map_err(|e| match e {
            // The step in flight was cancelled and the child killed: the parameters after
            // the last finished step are gone with it.
            ExternalError::Gone { .. }
                if self
                    .cancel
                    .as_ref()
                    .and_then(CancelToken::cancelled)
                    .is_some() =>
            {
                fitbench_core::Error::Cancelled(fitbench_core::Cancelled::Deadline)
            }
            e => e.into_core(&self.name),
        })
    }

    fn remote(&self) -> bool {
        true
    }

    fn info(&self) -> Option<Value> {
        let mut hello = self.hello.clone();
        if let Value::Object(map) = &mut hello {
            map.remove("ok");
        }
        Some(json!({
            "kind": "external",
            "protocol": PROTOCOL,
            "hello": hello,
            "protocol_overhead_s": self.overhead_s,
        }))
    }

    /// `protocol_overhead_s` (the median empty round trip at init) and, when the child
    /// reports the time of its own steps (`step_s`), their sum `child_step_s` and count
    /// `child_steps`: the timed round trips minus those is what the protocol cost.
    fn counters(&self) -> Vec<(&'static str, f64)> {
        let mut c = vec![("protocol_overhead_s", self.overhead_s)];
        if self.child_steps > 0 {
            c.push(("child_step_s", self.child_step_s));
            c.push(("child_steps", self.child_steps as f64));
        }
        c
    }

    fn set_cancel(&mut self, token: CancelToken) {
        self.cancel = Some(token);
    }
}

/// Starts the child of `config`, asks its `hello` and closes it: what `fitbench list
/// trainers` shows of a declared trainer (its name, versions and options).
pub fn hello(config: &ExternalConfig) -> Result<Value, ExternalError> {
    let dir = temp_dir(config)?;
    let mut process = spawn_in(config, &dir)?;
    let reply = process.request(&json!({"op": "hello", "protocol": PROTOCOL}), None);
    process.close();
    reply
}

/// A fresh temporary folder for one child (`fitbench-external-…`, removed on drop).
fn temp_dir(config: &ExternalConfig) -> Result<tempfile::TempDir, ExternalError> {
    tempfile::Builder::new()
        .prefix("fitbench-external-")
        .tempdir()
        .map_err(|source| ExternalError::Io {
            trainer: config.name.clone(),
            context: "creating its temporary folder".into(),
            source,
        })
}

/// Starts the child of `config`, its stderr logged in `dir`.
fn spawn_in(config: &ExternalConfig, dir: &tempfile::TempDir) -> Result<Process, ExternalError> {
    Process::spawn(
        &config.name,
        &config.cmd.argv(),
        config.cwd.as_deref(),
        &dir.path().join("stderr.log"),
        Duration::from_secs_f64(config.timeout_s),
    )
}
