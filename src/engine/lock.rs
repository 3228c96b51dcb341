//! One run per stack: an OS lock (flock) on `<stack>/.cutover/lock`, plus the holder's pid,
//! host, start time and run directory written inside it.
//!
//! The flock is released by the kernel whenever the holder dies, so "flock free but contents
//! present" means the holder did not finish cleanly: that lock is stale. Breaking a stale lock
//! needs an explicit flag, and only if its pid is provably dead on this host; a lock from
//! another host is never broken by us.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub run_dir: PathBuf,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on {} since {} (run {})",
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.run_dir.display()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another cutover holds the lock {path}: {holder}")]
    Held { path: PathBuf, holder: String },
    #[error(
        "stale lock {path}: {holder} did not release it and is no longer running; \
         pass --break-stale-lock to break it"
    )]
    Stale { path: PathBuf, holder: Holder },
    #[error(
        "lock {path} was left by {holder}, on another host: cutover cannot tell whether it \
         is still running; remove the file by hand once you are sure"
    )]
    ForeignHost { path: PathBuf, holder: Holder },
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// A held lock; dropping it clears the contents and releases the flock.
#[derive(Debug)]
pub struct StackLock {
    file: Option<Flock<File>>,
    path: PathBuf,
}

pub fn this_host() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

fn pid_alive(pid: u32) -> bool {
    // Signal 0 checks existence; EPERM still means the process exists.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

impl StackLock {
    pub fn acquire(path: &Path, run_dir: &Path, break_stale: bool) -> Result<Self, LockError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open lock {}", path.display()))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                let holder = read_holder(&mut f)
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "holder unknown (lock file being written)".into());
                return Err(LockError::Held {
                    path: path.into(),
                    holder,
                });
            }
            Err((_, e)) => {
                return Err(LockError::Io(anyhow::anyhow!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        };
        if let Some(holder) = read_holder(&mut file) {
            if holder.host != this_host() {
                return Err(LockError::ForeignHost {
                    path: path.into(),
                    holder,
                });
            }
            if pid_alive(holder.pid) && holder.pid != std::process::id() {
                // The flock is free, so that pid no longer holds it: a reused pid. Still
                // refuse without the flag, but say the pid is alive.
                return Err(LockError::Held {
                    path: path.into(),
                    holder: format!("{holder} (flock free, pid in use: pid reused?)"),
                });
            }
            if !break_stale {
                return Err(LockError::Stale {
                    path: path.into(),
                    holder,
                });
            }
            tracing::warn!(%holder, "breaking stale lock");
        }
        let holder = Holder {
            pid: std::process::id(),
            host: this_host(),
            started_at: Utc::now(),
            run_dir: run_dir.into(),
        };
        let mut write = || -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(serde_json::to_string(&holder)?.as_bytes())?;
            file.sync_all()
        };
        write().with_context(|| format!("cannot write lock {}", path.display()))?;
        Ok(Self {
            file: Some(file),
            path: path.into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl Drop for StackLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Empty contents mean "released cleanly"; the flock goes with the descriptor.
            let _ = file.set_len(0);
            let _ = file.sync_all();
            drop(file);
        }
    }
}
