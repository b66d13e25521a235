//! An external trainer as a [`fitbench_core::Trainer`].

use crate::child::Process;
use crate::error::ExternalError;
use crate::npy;
use fitbench_core::{Architecture, Dataset, Mlp, StepOutcome, Trainer, TrainerConfig};
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

/// How to start an external trainer, and its options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// The trainer's name in reports.
    pub name: String,
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    /// Working directory of the child (default: the harness's).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Seconds to wait for any one reply before the child is killed.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// The trainer's own options, passed through to its `init`.
    #[serde(default)]
    pub options: serde_json::Map<String, Value>,
}

fn default_timeout() -> f64 {
    60.0
}

impl ExternalConfig {
    /// A config running `command` (split at whitespace) as trainer `name`.
    pub fn new(name: &str, command: &str) -> Self {
        Self {
            name: name.to_string(),
            command: command.split_whitespace().map(str::to_string).collect(),
            cwd: None,
            timeout_s: default_timeout(),
            options: serde_json::Map::new(),
        }
    }
}

impl TrainerConfig for ExternalConfig {
    fn validate(&self) -> fitbench_core::Result<()> {
        if self.command.is_empty() {
            return Err(fitbench_core::Error::config(
                format!("{}.cmd", self.name),
                "(empty)",
                "give the command that starts the trainer, e.g. cmd=python3 my_trainer.py",
            ));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err(fitbench_core::Error::config(
                format!("{}.timeout_s", self.name),
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

/// A running external trainer.
#[derive(Debug)]
pub struct ExternalTrainer {
    name: String,
    process: Mutex<Process>,
    template: Mlp,
    dir: tempfile::TempDir,
    /// Median seconds of an empty round trip, measured at `init`.
    overhead_s: f64,
    /// What the child said of itself at `hello`.
    hello: Value,
}

impl ExternalTrainer {
    /// Writes the problem's files, starts the child, and runs hello, init and the pings.
    pub fn start(
        config: &ExternalConfig,
        train: &Dataset,
        initial: Mlp,
        seed: u64,
    ) -> Result<Self, ExternalError> {
        let dir = tempfile::Builder::new()
            .prefix("fitbench-external-")
            .tempdir()
            .map_err(|source| ExternalError::Io {
                trainer: config.name.clone(),
                context: "creating its temporary folder".into(),
                source,
            })?;
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
        let mut process = Process::spawn(
            &config.name,
            &config.command,
            config.cwd.as_deref(),
            &dir.path().join("stderr.log"),
            Duration::from_secs_f64(config.timeout_s),
        )?;
        let hello = process.request(&json!({"op": "hello", "protocol": PROTOCOL}))?;
        if hello.get("protocol").and_then(Value::as_u64) != Some(PROTOCOL) {
            return Err(ExternalError::Malformed {
                trainer: config.name.clone(),
                op: "hello".into(),
                detail: format!(
                    "protocol {:?}, fitbench speaks {PROTOCOL}",
                    hello.get("protocol")
                ),
            });
        }
        let problem = json!({
            "x": x, "y": y, "params": p0,
            "n": train.n(), "d": train.x.ncols(), "k": train.y.ncols(),
            "widths": initial.widths,
            "activations": initial.activations.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "layout": LAYOUT, "seed": seed, "threads": 1,
        });
        process.request(&json!({"op": "init", "problem": problem, "options": config.options}))?;
        let mut pings = Vec::with_capacity(PINGS);
        for _ in 0..PINGS {
            let t = Instant::now();
            process.request(&json!({"op": "ping"}))?;
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

    fn fetch_params(&self) -> Result<Mlp, ExternalError> {
        let path = self.dir.path().join("params.npy");
        let mut process = self.process.lock().unwrap_or_else(|p| p.into_inner());
        let reply = process.request(&json!({"op": "params", "path": path}))?;
        let values: Vec<f64> = match reply.get("params") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect(),
            _ => npy::read_vector(&path)?.0,
        };
        let malformed = |detail: String| ExternalError::Malformed {
            trainer: self.name.clone(),
            op: "params".into(),
            detail,
        };
        if values.len() != self.template.n_params() {
            return Err(malformed(format!(
                "{} parameters, the network has {}",
                values.len(),
                self.template.n_params()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(malformed(format!("parameter {i} is {}", values[i])));
        }
        let mut mlp = self.template.clone();
        fitbench_classic::engine::unflatten(&values, &mut mlp)
            .map_err(|e| malformed(e.to_string()))?;
        Ok(mlp)
    }
}

impl Trainer for ExternalTrainer {
    /// One `step` round trip.
    fn step(&mut self) -> fitbench_core::Result<StepOutcome> {
        let process = self.process.get_mut().unwrap_or_else(|p| p.into_inner());
        let reply = process
            .request(&json!({"op": "step"}))
            .map_err(|e| e.into_core(&self.name))?;
        Ok(match reply.get("status").and_then(Value::as_str) {
            Some("converged") => StepOutcome::Converged,
            _ => StepOutcome::Continue,
        })
    }

    /// The child's current parameters; NaN weights (so the evaluation records a non-finite
    /// loss) when it cannot give them — a draft: the harness should record the message.
    fn params(&self) -> Mlp {
        match self.fetch_params() {
            Ok(mlp) => mlp,
            Err(e) => {
                eprintln!("fitbench: {e}");
                let mut mlp = self.template.clone();
                for w in &mut mlp.weights {
                    w.fill(f64::NAN);
                }
                mlp
            }
        }
    }

    fn counters(&self) -> Vec<(&'static str, f64)> {
        vec![("protocol_overhead_s", self.overhead_s)]
    }
}
