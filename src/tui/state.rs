//! Everything the wizard shows, as plain data. Built from the plan's step metadata, then changed
//! only by [`super::update::update`]; views read it and never mutate it.
//!
//! Invariants: `steps` is in plan order and never grows or shrinks; `now` is the injected clock
//! (the app sets it from the wall clock, tests set it by hand) and is the only time views use.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::containers::{ContainerInfo, LogView};
use super::figures::Figures;
use crate::engine::{Plan, RunOutcome, StepError, StepKind};
use crate::report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Checklist,
    Run,
    Result,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Overview,
        Screen::Checklist,
        Screen::Run,
        Screen::Result,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Checklist => "Checklist",
            Screen::Run => "Run",
            Screen::Result => "Result",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// Step metadata taken from the plan before it is handed to the runner.
#[derive(Debug, Clone)]
pub struct StepInfo {
    pub id: String,
    pub title: String,
    pub kind: StepKind,
    pub touches: Vec<String>,
    pub point_of_no_return: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Pending,
    Running { since: DateTime<Utc> },
    Ok,
    Warning(String),
    Skipped(String),
    Failed(StepError),
    Signed { by: String },
    Undoing { since: DateTime<Utc> },
    Undone,
    UndoFailed(StepError),
}

/// The latest progress report of a step, with its first one kept to compute a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub current: u64,
    pub total: Option<u64>,
    pub unit: String,
    pub first: (DateTime<Utc>, u64),
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct StepView {
    pub info: StepInfo,
    pub status: Status,
    pub elapsed_ms: Option<u64>,
    /// The step's last log lines: the evidence shown beside a check.
    pub evidence: Vec<String>,
    pub progress: Option<Progress>,
}

/// Lines of evidence kept per step.
pub const EVIDENCE_LINES: usize = 6;

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Waiting for the runner's first event.
    Starting,
    Preflight,
    AwaitingStart {
        unsigned: Vec<String>,
    },
    Running,
    /// Asked to pause; the runner stops after the current step.
    Pausing,
    Paused,
    RollingBack {
        reason: String,
    },
    Finished(RunOutcome),
}

/// What a confirmed question does. Destructive actions are data, answered in one popup.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Rollback,
    /// A rollback during the run that drops rows the new version received (counted in the
    /// question): "yes" records the operator's consent first (`tui::new_data`).
    RollbackDiscarding,
    /// Undo a run that ended done (the old container is still kept).
    RollbackFinished,
    /// The same, dropping rows the new version received.
    RollbackFinishedDiscarding,
    /// Remove the old postgres container (`cutover finalize`).
    Finalize,
    Quit,
    Start,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub ask: Ask,
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    Confirm(Question),
    /// Asks the operator's name once; then signs `item`.
    Name {
        input: String,
        item: String,
    },
    Search {
        input: String,
    },
}

pub struct State {
    pub plan: String,
    pub stack: String,
    pub run_dir: Option<String>,
    pub resumed: bool,
    pub steps: Vec<StepView>,
    pub phase: Phase,
    pub screen: Screen,
    pub popup: Option<Popup>,
    pub operator: Option<String>,
    pub cursor: usize,
    /// First line of the help overlay shown (it scrolls when the terminal is short).
    pub help_scroll: u16,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    /// Step outputs from the journal (discovery, evidence), refreshed by the app.
    pub outputs: BTreeMap<String, Value>,
    pub containers: Vec<ContainerInfo>,
    /// Why the container list could not be read from the discovery output, if it could not.
    pub discovery_error: Option<String>,
    pub logs: LogView,
    pub report: Option<Report>,
    /// The pgvector plan's figures, re-read from the journal (None for other plans).
    pub figures: Option<Figures>,
    /// What finalize said (or why it failed), once asked.
    pub finalized: Option<Result<String, String>>,
    /// Why an action after the run ended (rollback) did not happen, if it did not.
    pub after_run: Option<String>,
    /// The operator asked to quit: leave as soon as the run has stopped.
    pub quitting: bool,
    pub rollback_requested: bool,
    /// The plan can count the rows a rollback would drop: `R` counts before it asks.
    pub counts_new_data: bool,
    /// Shown in the hint bar's place until the next key, e.g. why start was refused.
    pub notice: Option<String>,
    /// The rehearsal started from the checklist (`tui::rehearse`), once there is one.
    pub rehearsal: Option<super::rehearse::Panel>,
    /// The command line handed over a rehearser (`h` works).
    pub rehearses: bool,
    /// Draw cutover's own log with tui-logger (off in snapshot tests: it is process-global).
    pub own_log_widget: bool,
    pub no_color: bool,
}

impl State {
    pub fn new(plan: &Plan, stack: &str, now: DateTime<Utc>) -> Self {
        let steps = plan
            .steps
            .iter()
            .map(|s| StepView {
                info: StepInfo {
                    id: s.id().to_string(),
                    title: s.title().to_string(),
                    kind: s.kind(),
                    touches: s.touches(),
                    point_of_no_return: s.past_point_of_no_return(),
                },
                status: Status::Pending,
                elapsed_ms: None,
                evidence: Vec::new(),
                progress: None,
            })
            .collect();
        Self {
            plan: plan.name.clone(),
            stack: stack.to_string(),
            run_dir: None,
            resumed: false,
            steps,
            phase: Phase::Starting,
            screen: Screen::Checklist,
            popup: None,
            operator: None,
            cursor: 0,
            help_scroll: 0,
            now,
            size: (80, 24),
            outputs: BTreeMap::new(),
            containers: Vec::new(),
            discovery_error: None,
            logs: LogView::default(),
            report: None,
            figures: None,
            finalized: None,
            after_run: None,
            quitting: false,
            rollback_requested: false,
            counts_new_data: false,
            notice: None,
            rehearsal: None,
            rehearses: false,
            own_log_widget: false,
            no_color: false,
        }
    }

    pub fn step(&self, id: &str) -> Option<&StepView> {
        self.steps.iter().find(|s| s.info.id == id)
    }

    pub fn step_mut(&mut self, id: &str) -> Option<&mut StepView> {
        self.steps.iter_mut().find(|s| s.info.id == id)
    }

    /// Items shown on the checklist: the pre-flight checks and the sign-offs.
    pub fn checklist(&self) -> Vec<&StepView> {
        let first_action = self
            .steps
            .iter()
            .position(|s| s.info.kind == StepKind::Action)
            .unwrap_or(self.steps.len());
        self.steps[..first_action].iter().collect()
    }

    pub fn run_open(&self) -> bool {
        !matches!(self.phase, Phase::Finished(_))
    }

    /// Whether anything animates: only then does the app run its spinner tick.
    pub fn needs_tick(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.status, Status::Running { .. } | Status::Undoing { .. }))
    }

    /// Why "start" is not possible yet, one reason per item; empty when it is.
    pub fn start_blockers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in self.checklist() {
            let why = match (&s.info.kind, &s.status) {
                (
                    _,
                    Status::Ok | Status::Warning(_) | Status::Skipped(_) | Status::Signed { .. },
                ) => {
                    continue;
                }
                (StepKind::SignOff, _) => "not signed off yet".to_string(),
                (_, Status::Failed(e)) => format!("check failed: {}", e.message),
                (_, Status::Running { .. }) => "check still running".to_string(),
                _ => "check has not run yet".to_string(),
            };
            out.push((s.info.title.clone(), why));
        }
        if let Some(why) = super::rehearse::blocks_start(self) {
            out.push(("rehearsal".to_string(), why));
        }
        if out.is_empty() && !matches!(self.phase, Phase::AwaitingStart { .. }) {
            let why = match &self.phase {
                Phase::Finished(_) => "the run has ended",
                Phase::Starting | Phase::Preflight => "the pre-flight is still running",
                _ => "the upgrade has already started",
            };
            out.push(("run".to_string(), why.to_string()));
        }
        out
    }

    /// Completed (or possibly half-done) actions, newest first: what a rollback would undo.
    pub fn undo_list(&self) -> Vec<&StepView> {
        self.steps
            .iter()
            .rev()
            .filter(|s| s.info.kind == StepKind::Action)
            .filter(|s| {
                matches!(
                    s.status,
                    Status::Ok
                        | Status::Warning(_)
                        | Status::Skipped(_)
                        | Status::Running { .. }
                        | Status::Failed(_)
                        | Status::UndoFailed(_)
                )
            })
            .collect()
    }
}
