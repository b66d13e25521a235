//! A trainer outside the harness, written in Rust: the faer engine's `sgd-faer` (or, with
//! `algorithm=adam-faer`, `adam-faer`) behind fitbench's process protocol
//! (`docs/protocol.md`). It is the protocol's reference client in Rust: it reads the
//! requests on stdin, the `.npy` files the harness wrote, and answers on stdout.
//!
//! ```text
//! fitbench run --datasets diabetes \
//!   --trainers 'ext:name=faer-client,cmd=target/release/fitbench-faer-client,lr=0.05;sgd-faer:lr=0.05'
//! ```
//!
//! Given the same problem, seed and options, its curve in iteration space is the in-process
//! `sgd-faer`'s, bit for bit (`crates/external/tests/rust_client.rs`).

use fitbench_classic::{ADAM_FAER, SGD_FAER};
use fitbench_core::registry::TrainerEntry;
use fitbench_core::{Activation, Dataset, Mlp, StepOutcome, Trainer};
use fitbench_external::npy;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::Path;

/// The algorithms this client serves, by the `algorithm` option.
const ALGORITHMS: &[&TrainerEntry] = &[&SGD_FAER, &ADAM_FAER];

/// The running trainer and the network template its flat parameters fill.
struct State {
    trainer: Box<dyn Trainer>,
    n_params: usize,
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut state: Option<State> = None;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let (reply, last) = match serde_json::from_str::<Value>(&line) {
            Ok(request) => answer(&request, &mut state),
            Err(e) => (Err(format!("not JSON: {e}")), false),
        };
        let reply = match reply {
            Ok(mut v) => {
                v["ok"] = true.into();
                v
            }
            Err(message) => json!({"ok": false, "error": message}),
        };
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() || last {
            break;
        }
    }
}

/// The reply to `request` (without `ok`), and whether it was the last.
fn answer(request: &Value, state: &mut Option<State>) -> (Result<Value, String>, bool) {
    let op = request.get("op").and_then(Value::as_str).unwrap_or("");
    let reply = match op {
        "hello" => hello(request),
        "init" => init(request).map(|s| {
            *state = Some(s);
            json!({})
        }),
        "ping" => Ok(json!({})),
        "step" => match state.as_mut() {
            None => Err("`step` before `init`".to_string()),
            Some(s) => s.trainer.step().map_err(|e| e.to_string()).map(|o| {
                json!({"status": if o == StepOutcome::Converged { "converged" } else { "continue" }})
            }),
        },
        "params" => match state.as_ref() {
            None => Err("`params` before `init`".to_string()),
            Some(s) => params(request, s),
        },
        "close" => return (Ok(json!({})), true),
        other => Err(format!("unknown op {other:?}")),
    };
    (reply, false)
}

/// "sgd-faer or adam-faer", from the entries.
fn names() -> String {
    ALGORITHMS
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(" or ")
}

fn hello(request: &Value) -> Result<Value, String> {
    if request.get("protocol").and_then(Value::as_u64) != Some(1) {
        return Err(format!(
            "protocol {} asked; this client speaks 1",
            request.get("protocol").unwrap_or(&Value::Null)
        ));
    }
    let mut options = serde_json::Map::new();
    options.insert(
        "algorithm".into(),
        json!({"default": SGD_FAER.name, "help": names()}),
    );
    if let Value::Object(defaults) = SGD_FAER.defaults() {
        for (k, v) in defaults {
            options.insert(
                k,
                json!({"default": v, "help": "as in `fitbench list trainers`"}),
            );
        }
    }
    Ok(json!({
        "protocol": 1,
        "name": "faer-client",
        "versions": {"fitbench": env!("CARGO_PKG_VERSION"), "faer": "0.24"},
        "options": options,
    }))
}

fn init(request: &Value) -> Result<State, String> {
    let problem = request.get("problem").ok_or("`init` without `problem`")?;
    let mut options = request
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let algorithm = match options.remove("algorithm") {
        None => SGD_FAER.name.to_string(),
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("option algorithm = {other}: not a name")),
    };
    let entry = ALGORITHMS
        .iter()
        .find(|e| e.name == algorithm)
        .ok_or_else(|| format!("option algorithm = {algorithm:?}: {}", names()))?;
    let config = entry.parse_object(options).map_err(|e| e.to_string())?;
    let path = |key: &str| {
        problem
            .get(key)
            .and_then(Value::as_str)
            .map(Path::new)
            .ok_or_else(|| format!("problem.{key} is not a path"))
    };
    let (x, xs) = npy::read_vector(path("x")?).map_err(|e| e.to_string())?;
    let (y, ys) = npy::read_vector(path("y")?).map_err(|e| e.to_string())?;
    let (theta, _) = npy::read_vector(path("params")?).map_err(|e| e.to_string())?;
    let matrix = |v: &[f64], shape: &[u64]| -> Result<faer::Mat<f64>, String> {
        let [rows, cols] = shape else {
            return Err(format!("an array of shape {shape:?}, not a matrix"));
        };
        let (rows, cols) = (*rows as usize, *cols as usize);
        Ok(faer::Mat::from_fn(rows, cols, |i, j| v[i * cols + j]))
    };
    let (x, y) = (matrix(&x, &xs)?, matrix(&y, &ys)?);
    let d = x.ncols();
    let train = Dataset::new(
        "external",
        x,
        y,
        (0..d).map(|j| format!("x{j}")).collect(),
        vec!["y".into()],
        "the harness's training split",
    )
    .map_err(|e| e.to_string())?;
    let widths: Vec<usize> = serde_json::from_value(problem["widths"].clone())
        .map_err(|e| format!("problem.widths: {e}"))?;
    let activations: Vec<Activation> = problem["activations"]
        .as_array()
        .ok_or("problem.activations is not a list")?
        .iter()
        .map(|a| {
            a.as_str()
                .ok_or_else(|| format!("activation {a} is not a name"))?
                .parse::<Activation>()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let weights = widths
        .windows(2)
        .map(|w| faer::Mat::zeros(w[1], w[0]))
        .collect();
    let biases = widths.windows(2).map(|w| faer::Col::zeros(w[1])).collect();
    let mut initial = Mlp::from_parts(activations, weights, biases).map_err(|e| e.to_string())?;
    fitbench_classic::engine::unflatten(&theta, &mut initial).map_err(|e| e.to_string())?;
    let seed = problem["seed"]
        .as_u64()
        .ok_or("problem.seed is not a u64")?;
    // The harness's thread count, as the in-process trainers get it.
    let threads = problem["threads"].as_u64().unwrap_or(1) as usize;
    faer::set_global_parallelism(if threads <= 1 {
        faer::Par::Seq
    } else {
        faer::Par::rayon(threads)
    });
    let n_params = initial.n_params();
    let trainer = config
        .init(&train, initial, seed)
        .map_err(|e| e.to_string())?;
    Ok(State { trainer, n_params })
}

fn params(request: &Value, state: &State) -> Result<Value, String> {
    let mlp = state.trainer.params();
    let mut theta = vec![0.0; state.n_params];
    fitbench_classic::engine::flatten(&mlp, &mut theta).map_err(|e| e.to_string())?;
    match request.get("path").and_then(Value::as_str) {
        Some(path) => {
            npy::write_vector(Path::new(path), &theta).map_err(|e| e.to_string())?;
            Ok(json!({}))
        }
        None => Ok(json!({"params": theta})),
    }
}
