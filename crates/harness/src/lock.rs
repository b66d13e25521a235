//! One writer per sweep folder: an advisory lock on `DIR/.fitbench.lock`.
//!
//! [`FolderLock::acquire`] takes an exclusive `flock`-style lock (std's `File::try_lock`) on
//! the lock file and writes who holds it (pid, start time, command) into it. A second writer
//! is refused with the holder's pid and start time. The kernel drops the lock when its
//! process ends, however it ends (a kill included), so a lock file left behind by a dead
//! process is free: the next writer takes it over and says whose it was. Readers (`fitbench
//! validate`, `plot` of another folder) do not lock.

use crate::error::{HarnessError, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a sweep folder.
pub const LOCK_FILE: &str = ".fitbench.lock";

/// Who holds (or last held) a folder's lock: written into the lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// When it took the lock (Unix seconds).
    pub started_unix_s: u64,
    /// The command line (for the message a refused writer sees).
    pub command: String,
}

impl Holder {
    fn this_process() -> Self {
        Self {
            pid: std::process::id(),
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
        }
    }

    fn describe(&self) -> String {
        format!(
            "pid {}, started {} (`{}`)",
            self.pid,
            fitbench_report::format::utc_time(self.started_unix_s),
            self.command
        )
    }
}

/// An exclusive lock on a sweep folder, held until dropped.
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    path: PathBuf,
    /// The previous holder, when its process had ended without releasing the lock file
    /// (a kill, a crash): the lock was taken over from it.
    pub taken_over: Option<Holder>,
}

impl FolderLock {
    /// Locks `dir` (created if needed) for writing, or refuses with the holder's pid, start
    /// time and command when another process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| HarnessError::io("cannot create output folder", dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| HarnessError::io("cannot open the folder's lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes its details just after taking the lock: they may be
                // missing for an instant.
                let holder = read_holder(&mut file);
                return Err(HarnessError::Busy(format!(
                    "output folder {} is in use by another fitbench ({}); wait for it to finish (or stop it), then run this command again — or write elsewhere",
                    dir.display(),
                    holder.map_or_else(
                        || "its details are not readable yet".to_string(),
                        |h| h.describe()
                    )
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(HarnessError::io("cannot lock", &path, e));
            }
        }
        // Read under the lock: details left in the file are those of a holder that ended
        // without releasing it (a clean release empties the file).
        let previous = read_holder(&mut file);
        let me = Holder::this_process();
        let text = serde_json::to_string(&me).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.sync_data())
            .map_err(|e| HarnessError::io("cannot write", &path, e))?;
        Ok(Self {
            file,
            path,
            taken_over: previous.filter(|h| h.pid != me.pid),
        })
    }

    /// The message to print when the lock was taken over from a dead process.
    pub fn takeover_note(&self) -> Option<String> {
        self.taken_over.as_ref().map(|h| {
            format!(
                "took over the lock of {} from {}, which is no longer running",
                self.path.display(),
                h.describe()
            )
        })
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // A clean release leaves an empty lock file (no stale holder to report); the kernel
        // releases the lock itself when the file is closed.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_and_the_lock_is_free_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(dir.path()).unwrap();
        assert!(first.taken_over.is_none());
        let msg = FolderLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("in use by another fitbench")
                && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        let again = FolderLock::acquire(dir.path()).unwrap();
        assert!(again.taken_over.is_none(), "a clean release is not stale");
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_taken_over_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Holder {
            pid: u32::MAX - 1,
            started_unix_s: 1_700_000_000,
            command: "fitbench run --out x".into(),
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&dead).unwrap(),
        )
        .unwrap();
        let lock = FolderLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.taken_over.as_ref(), Some(&dead));
        let note = lock.takeover_note().unwrap();
        assert!(
            note.contains(&format!("pid {}", u32::MAX - 1))
                && note.contains("2023-11-14T22:13:20Z")
                && note.contains("no longer running"),
            "{note}"
        );
    }
}
