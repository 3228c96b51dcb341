//! The run journal: append-only JSON lines in the run directory, one fsync per record.
//!
//! Invariants: a record is validated by the transition table ([`super::recovery::apply`])
//! before it is written; `append` returns only after the record is on disk. When a journal is
//! read back, a last line without its newline is a torn write (the process died inside
//! `append`, so nobody acted on it): it is reported, kept aside as `journal.jsonl.torn`, and cut
//! off before anything else is appended. Any other unreadable line is corruption and an error.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::events::RunOutcome;
use super::recovery::{RunState, StepMeta, apply};
use super::redact::redact_json;
use super::step::{Finish, StepError};

pub const JOURNAL_FILE: &str = "journal.jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: Entry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    RunStarted {
        plan: String,
        stack: String,
        steps: Vec<StepMeta>,
        pid: u32,
        host: String,
    },
    /// Another process took the run over (resume or rollback after a stop or a crash).
    Resumed {
        pid: u32,
        host: String,
        command: String,
    },
    SignedOff {
        step: String,
        by: String,
    },
    StartApproved,
    StepStarted {
        step: String,
    },
    StepOutput {
        step: String,
        output: Value,
    },
    StepFinished {
        step: String,
        outcome: Finish,
    },
    StepFailed {
        step: String,
        error: StepError,
        uncertain: bool,
    },
    RollbackStarted {
        reason: String,
        /// The disaster path: the database is restored from the backup, not kept.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        disaster: bool,
    },
    UndoStarted {
        step: String,
    },
    UndoFinished {
        step: String,
    },
    UndoFailed {
        step: String,
        error: StepError,
    },
    RunStopped {
        outcome: RunOutcome,
    },
    RunFinished {
        outcome: RunOutcome,
    },
}

impl Entry {
    pub fn name(&self) -> &'static str {
        match self {
            Entry::RunStarted { .. } => "run_started",
            Entry::Resumed { .. } => "resumed",
            Entry::SignedOff { .. } => "signed_off",
            Entry::StartApproved => "start_approved",
            Entry::StepStarted { .. } => "step_started",
            Entry::StepOutput { .. } => "step_output",
            Entry::StepFinished { .. } => "step_finished",
            Entry::StepFailed { .. } => "step_failed",
            Entry::RollbackStarted { .. } => "rollback_started",
            Entry::UndoStarted { .. } => "undo_started",
            Entry::UndoFinished { .. } => "undo_finished",
            Entry::UndoFailed { .. } => "undo_failed",
            Entry::RunStopped { .. } => "run_stopped",
            Entry::RunFinished { .. } => "run_finished",
        }
    }
}

pub struct Journal {
    path: PathBuf,
    file: File,
    state: RunState,
    records: Vec<Record>,
    /// Fault injection for tests: after this many records every append fails, as if the
    /// process had died right after the last durable write.
    crash_after: Option<u64>,
}

impl Journal {
    /// Creates a new run directory (mode 0700) and an empty journal in it.
    pub fn create(run_dir: &Path) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(run_dir)
            .with_context(|| format!("cannot create run directory {}", run_dir.display()))?;
        let path = run_dir.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create journal {}", path.display()))?;
        // Make the new directory entry itself durable.
        File::open(run_dir)?.sync_all()?;
        Ok(Self {
            path,
            file,
            state: RunState::default(),
            records: Vec::new(),
            crash_after: None,
        })
    }

    /// Opens an existing journal to continue it, cutting off a torn last line first.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(JOURNAL_FILE);
        let (state, records, good_len) = read_path(&path)?;
        if let Some(torn) = &state.torn_tail {
            fs::write(run_dir.join("journal.jsonl.torn"), torn)?;
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(good_len)?;
            f.sync_all()?;
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open journal {}", path.display()))?;
        Ok(Self {
            path,
            file,
            state,
            records,
            crash_after: None,
        })
    }

    /// Reads a journal without taking it over (status, report).
    pub fn read(run_dir: &Path) -> Result<(RunState, Vec<Record>)> {
        let (state, records, _) = read_path(&run_dir.join(JOURNAL_FILE))?;
        Ok((state, records))
    }

    #[doc(hidden)]
    pub fn set_crash_after(&mut self, records: u64) {
        self.crash_after = Some(records);
    }

    pub fn append(&mut self, mut entry: Entry) -> Result<()> {
        if self.crash_after.is_some_and(|n| self.state.last_seq >= n) {
            bail!(
                "simulated crash: journal closed after record {}",
                self.state.last_seq
            );
        }
        if let Entry::StepOutput { output, .. } = &mut entry {
            redact_json(output);
        }
        let record = Record {
            seq: self.state.last_seq + 1,
            at: Utc::now(),
            entry,
        };
        let mut next = self.state.clone();
        apply(&mut next, &record)?;
        // By value too: an error message or a log can quote a secret the output's keys do not name.
        let mut line = crate::secrets::hide(&serde_json::to_string(&record)?).into_bytes();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("cannot write journal {}", self.path.display()))?;
        self.state = next;
        self.records.push(record);
        Ok(())
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_dir(&self) -> &Path {
        self.path
            .parent()
            .expect("journal lives in a run directory")
    }
}

/// Replays a journal file. Returns the state, the records and the length of the good prefix.
fn read_path(path: &Path) -> Result<(RunState, Vec<Record>, u64)> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read journal {}", path.display()))?;
    let mut state = RunState::default();
    let mut records = Vec::new();
    let mut offset = 0usize;
    for (lineno, chunk) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        if !chunk.ends_with(b"\n") {
            state.torn_tail = Some(String::from_utf8_lossy(chunk).into_owned());
            break;
        }
        let record: Record =
            serde_json::from_slice(&chunk[..chunk.len() - 1]).with_context(|| {
                format!(
                    "{}:{}: unreadable journal record",
                    path.display(),
                    lineno + 1
                )
            })?;
        apply(&mut state, &record).with_context(|| format!("{}:{}", path.display(), lineno + 1))?;
        records.push(record);
        offset += chunk.len();
    }
    Ok((state, records, offset as u64))
}

/// A new run directory's path under `base`, named by the time (a suffix when taken).
pub fn new_run_dir(base: &std::path::Path) -> std::path::PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let mut dir = base.join(&stamp);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = base.join(format!("{stamp}-{n}"));
    }
    dir
}
