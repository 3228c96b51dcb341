//! The step model: what a plan is made of.
//!
//! A step is a value with an id, a title, a kind and two idempotent operations, `run` and `undo`.
//! Both must tolerate finding nothing to do: `undo` runs defensively on actions that were seen
//! started but never finished, and on actions that failed (at any point of their change), and
//! `run` runs again on resume. Steps report only through their
//! [`StepContext`]: log lines, progress, and outputs. An output is what a later `undo` (possibly
//! in another process, after a crash) needs; it is journaled and fsync'd before
//! [`StepContext::save_output`] returns, so save it *before* the change that depends on it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::events::{Event, EventKind};
use super::journal::{Entry, Journal};

/// What a step is, which decides when the runner runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Looks, changes nothing, has no undo. Checks before the first action are the pre-flight.
    Check,
    /// An item the operator signs off by name; never run by the machine.
    SignOff,
    /// Changes the world and has an `undo`.
    Action,
}

/// How a step that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "message", rename_all = "snake_case")]
pub enum Finish {
    Ok,
    Warning(String),
    Skipped(String),
}

/// An error as data, so it can cross the journal, the event stream and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            causes: Vec::new(),
        }
    }

    pub fn with_cause(mut self, cause: impl ToString) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Keeps the whole `anyhow` chain, outermost first.
    pub fn from_anyhow(err: &anyhow::Error) -> Self {
        let mut chain = err.chain().map(|c| c.to_string());
        let message = chain.next().unwrap_or_default();
        Self {
            message,
            causes: chain.collect(),
        }
    }
}

impl From<anyhow::Error> for StepError {
    fn from(err: anyhow::Error) -> Self {
        Self::from_anyhow(&err)
    }
}

#[async_trait]
pub trait Step: Send + Sync {
    /// Stable identifier, used in the journal and on the command line (`--sign-off ID=NAME`).
    fn id(&self) -> &str;
    fn title(&self) -> &str;
    fn kind(&self) -> StepKind;
    /// Once this step has finished, the runner no longer rolls back on its own, and
    /// `cutover rollback` refuses: the operator must decide.
    fn past_point_of_no_return(&self) -> bool {
        false
    }
    /// The concrete things this step will touch (container names, image refs, file paths),
    /// shown by `cutover plan`.
    fn touches(&self) -> Vec<String> {
        Vec::new()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }
    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError>;
    /// Only actions are undone; the default is for checks and sign-offs.
    async fn undo(&self, _cx: &StepContext) -> Result<(), StepError> {
        Ok(())
    }
    /// Before a resume: does the world still match what the journal says this step did (or
    /// saw)? Called for every step the journal shows as begun. An error names what differs;
    /// the runner then refuses to continue and offers a rollback, which is defensive and does
    /// not depend on the world matching. The default has nothing to compare.
    async fn check_world(&self, _cx: &StepContext) -> Result<(), StepError> {
        Ok(())
    }
}

/// Everything a running step may use from the engine. Cheap to clone.
#[derive(Clone)]
pub struct StepContext {
    pub(crate) step: String,
    pub(crate) journal: Arc<Mutex<Journal>>,
    pub(crate) events: UnboundedSender<Event>,
    pub(crate) cancel: CancellationToken,
    pub(crate) run_dir: PathBuf,
    /// This context drives an `undo` (or a world check), not a forward `run`.
    pub(crate) undoing: bool,
    /// This context drives a world check (run inline by the runner, not as a task): fault
    /// knobs never fire in it.
    pub(crate) checking_world: bool,
}

impl StepContext {
    pub fn step_id(&self) -> &str {
        &self.step
    }

    /// The run directory: where backups, copies and captured logs belong.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = super::redact::redact_line(&line.into());
        // A closed channel means the front end is gone; the journal still records the outcome.
        let _ = self.events.send(Event::now(EventKind::Log {
            step: self.step.clone(),
            line,
        }));
        self.progress_point();
    }

    pub fn progress(&self, current: u64, total: Option<u64>, unit: &str) {
        let _ = self.events.send(Event::now(EventKind::Progress {
            step: self.step.clone(),
            current,
            total,
            unit: unit.to_string(),
        }));
    }

    /// Journals (and fsyncs) this step's output, replacing any earlier one. Returns only once
    /// the record is durable, so the caller may then make the change that depends on it.
    pub fn save_output<T: Serialize>(&self, output: &T) -> Result<(), StepError> {
        let value = serde_json::to_value(output)
            .map_err(|e| StepError::new("step output is not serializable").with_cause(e))?;
        let mut journal = self.journal.lock().expect("journal lock poisoned");
        journal
            .append(Entry::StepOutput {
                step: self.step.clone(),
                output: value,
            })
            .map_err(|e| StepError::from_anyhow(&e.context("cannot journal step output")))?;
        drop(journal);
        self.progress_point();
        Ok(())
    }

    /// Whether the rollback in progress is the disaster one (restore the backup into a fresh
    /// database) rather than the fast one. Undo paths that would touch the untrusted database
    /// skip themselves when it is.
    pub fn disaster_rollback(&self) -> bool {
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .state()
            .disaster_rollback
    }

    /// This step's state as the journal has it.
    pub fn own_state(&self) -> Option<super::recovery::StepState> {
        let journal = self.journal.lock().expect("journal lock poisoned");
        journal.state().steps.get(&self.step).map(|r| r.state)
    }

    fn progress_point(&self) {
        if !self.checking_world {
            super::fault::progress_point(&self.step, self.undoing);
        }
    }

    /// Whether this context drives an undo.
    pub fn is_undoing(&self) -> bool {
        self.undoing
    }

    /// This step's last saved output, also after a crash (the journal is the source).
    pub fn output<T: DeserializeOwned>(&self) -> Option<T> {
        self.output_of(&self.step)
    }

    /// The last saved output of any step of this run.
    pub fn output_of<T: DeserializeOwned>(&self, step: &str) -> Option<T> {
        let journal = self.journal.lock().expect("journal lock poisoned");
        let value = journal.state().steps.get(step)?.output.clone()?;
        serde_json::from_value(value).ok()
    }

    /// Cancelled when the operator interrupts or the step's time is up: a long step should
    /// stop at the next safe point and return an error.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
