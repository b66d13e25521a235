//! A child process speaking the protocol: one JSON request per line on its stdin, one JSON
//! reply per line on its stdout, each awaited for at most a timeout; its stderr goes to a log
//! file whose tail is quoted when something fails.

use crate::error::ExternalError;
use fitbench_core::CancelToken;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How often a request in flight looks at its cancel token.
pub const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Bytes of the child's stderr quoted in an error.
const STDERR_TAIL_BYTES: u64 = 2_000;

/// A running child and the reader of its replies.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<std::io::Result<String>>,
    stderr_log: PathBuf,
    timeout: Duration,
}

impl Process {
    /// Starts `command` (program and arguments, no shell) in `cwd`, its stderr appended to
    /// `stderr_log`.
    pub fn spawn(
        name: &str,
        command: &[String],
        cwd: Option<&Path>,
        stderr_log: &Path,
        timeout: Duration,
    ) -> Result<Self, ExternalError> {
        let joined = command.join(" ");
        let (program, args) = command.split_first().ok_or_else(|| ExternalError::Spawn {
            command: joined.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        })?;
        let log = std::fs::File::create(stderr_log).map_err(|source| ExternalError::Io {
            trainer: name.to_string(),
            context: format!("creating its log {}", stderr_log.display()),
            source,
        })?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|source| ExternalError::Spawn {
            command: joined,
            source,
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (tx, rx) = channel();
        if let Some(out) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            name: name.to_string(),
            child,
            stdin,
            replies: rx,
            stderr_log: stderr_log.to_path_buf(),
            timeout,
        })
    }

    /// The last bytes of the child's stderr.
    pub fn stderr_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr_log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(STDERR_TAIL_BYTES)));
            let _ = f.read_to_string(&mut text);
        }
        let text = text.trim();
        if text.is_empty() {
            "(nothing)".to_string()
        } else {
            text.to_string()
        }
    }

    /// Sends `request` and returns the reply's JSON object once it says `ok: true`. While
    /// waiting, `cancel` (when given) is polled every [`CANCEL_POLL`]: a cancelled wait kills
    /// the child.
    pub fn request(
        &mut self,
        request: &Value,
        cancel: Option<&CancelToken>,
    ) -> Result<Value, ExternalError> {
        let op = request
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let line = format!("{request}\n");
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush()),
            None => Err(std::io::Error::other("stdin already closed")),
        };
        if sent.is_err() {
            return Err(self.exited(&op));
        }
        let give_up = Instant::now() + self.timeout;
        let reply = loop {
            let now = Instant::now();
            if now >= give_up {
                self.kill();
                return Err(ExternalError::Timeout {
                    trainer: self.name.clone(),
                    op,
                    timeout_s: self.timeout.as_secs_f64(),
                    stderr_tail: self.stderr_tail(),
                });
            }
            if let Some(why) = cancel.and_then(CancelToken::cancelled) {
                self.kill();
                return Err(ExternalError::Cancelled {
                    trainer: self.name.clone(),
                    op,
                    why,
                });
            }
            let wait = (give_up - now).min(CANCEL_POLL);
            match self.replies.recv_timeout(wait) {
                Ok(Ok(reply)) => break reply,
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => return Err(self.exited(&op)),
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let value: Value = serde_json::from_str(&reply).map_err(|e| ExternalError::Malformed {
            trainer: self.name.clone(),
            op: op.clone(),
            detail: format!("{e} in {:?}", truncate(&reply, 200)),
        })?;
        match value.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(value),
            Some(false) => Err(ExternalError::Refused {
                trainer: self.name.clone(),
                op,
                message: value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_string(),
            }),
            None => Err(ExternalError::Malformed {
                trainer: self.name.clone(),
                op,
                detail: format!("no boolean `ok` in {:?}", truncate(&reply, 200)),
            }),
        }
    }

    fn exited(&mut self, op: &str) -> ExternalError {
        // Give a dying child a moment to be reaped, then report what is known.
        let status = match self.child.try_wait() {
            Ok(Some(s)) => s.to_string(),
            _ => {
                std::thread::sleep(Duration::from_millis(50));
                match self.child.try_wait() {
                    Ok(Some(s)) => s.to_string(),
                    _ => "still running, stdout closed".to_string(),
                }
            }
        };
        ExternalError::Exited {
            trainer: self.name.clone(),
            op: op.to_string(),
            status,
            stderr_tail: self.stderr_tail(),
        }
    }

    /// Kills the child and reaps it (no zombie); closes its stdin.
    pub fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the child is still running (not yet exited or killed).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the child to close, waits briefly, then kills it if it is still running.
    pub fn close(&mut self) {
        if self.stdin.is_some() {
            let short = Duration::from_secs(2).min(self.timeout);
            let saved = std::mem::replace(&mut self.timeout, short);
            let _ = self.request(&serde_json::json!({"op": "close"}), None);
            self.timeout = saved;
            self.stdin = None; // EOF for a child that ignores `close`
        }
        for _ in 0..40 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.kill();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.close();
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
