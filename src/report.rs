//! The run report, built from the journal alone: who signed what and when, each step's
//! outcome and duration, what is uncertain, and what to do next. The headless summary and (later)
//! the TUI's final screen render this same value; `cutover report` prints it as Markdown.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::engine::recovery::{Phase, RunState, StepRecord};
use crate::engine::{Finish, RunOutcome, StepKind, StepState};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plan: String,
    pub stack: String,
    pub run_dir: String,
    pub started_at: Option<DateTime<Utc>>,
    pub last_record_at: Option<DateTime<Utc>>,
    pub status: String,
    pub outcome: Option<RunOutcome>,
    pub sign_offs: Vec<SignOff>,
    pub steps: Vec<StepLine>,
    pub uncertain: Vec<String>,
    pub torn_journal_tail: bool,
    pub next: Option<String>,
    /// The pgvector upgrade's figures (downtime, backup, fingerprints, ...); absent for
    /// other plans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<crate::upgrade::report::UpgradeFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignOff {
    pub item: String,
    pub title: String,
    pub by: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    pub id: String,
    pub title: String,
    pub kind: StepKind,
    pub state: StepState,
    /// It may have left changes behind (crash, timeout, abandoned): shown as UNCERTAIN.
    pub uncertain: bool,
    pub result: String,
    pub duration_ms: Option<i64>,
    pub undo_duration_ms: Option<i64>,
    pub attempts: u32,
}

impl Report {
    pub fn from_state(state: &RunState, run_dir: &Path) -> Self {
        let dir = run_dir.display().to_string();
        let (status, outcome, next) = match &state.phase {
            Phase::Finished { outcome } => (describe(outcome), Some(outcome.clone()), None),
            Phase::Stopped { outcome } => (
                describe(outcome),
                Some(outcome.clone()),
                Some(next_for(outcome, &dir, state.disaster_rollback)),
            ),
            Phase::Open => (
                "interrupted without a clean stop (crash or kill)".to_string(),
                None,
                Some(format!(
                    "cutover resume --run {dir} --yes --break-stale-lock   (continue)\n      cutover rollback --run {dir} --yes --break-stale-lock   (undo everything)"
                )),
            ),
            Phase::Empty => ("empty journal".to_string(), None, None),
        };
        let sign_offs = state
            .steps_meta
            .iter()
            .filter(|m| m.kind == StepKind::SignOff)
            .map(|m| {
                let rec = state.steps.get(&m.id);
                SignOff {
                    item: m.id.clone(),
                    title: m.title.clone(),
                    by: rec.and_then(|r| r.signed_by.clone()),
                    at: rec.and_then(|r| r.finished_at.filter(|_| r.signed_by.is_some())),
                }
            })
            .collect();
        let uncertain = state.uncertain();
        let steps = state
            .steps_meta
            .iter()
            .filter(|m| m.kind != StepKind::SignOff)
            .filter_map(|m| Some((m, state.steps.get(&m.id)?)))
            .map(|(m, r)| StepLine {
                id: m.id.clone(),
                title: m.title.clone(),
                kind: m.kind,
                state: r.state,
                uncertain: uncertain.contains(&m.id.as_str()),
                result: result_text(r),
                duration_ms: span(r.started_at, r.finished_at),
                undo_duration_ms: span(r.undo_started_at, r.undo_finished_at),
                attempts: r.attempts,
            })
            .collect();
        Report {
            plan: state.plan.clone(),
            stack: state.stack.clone(),
            run_dir: dir,
            started_at: state.started_at,
            last_record_at: state.last_at,
            status,
            outcome,
            sign_offs,
            steps,
            uncertain: uncertain.iter().copied().map(String::from).collect(),
            torn_journal_tail: state.torn_tail.is_some(),
            next,
            upgrade: (state.plan == crate::upgrade::plan::PLAN_NAME)
                .then(|| crate::upgrade::report::UpgradeFacts::from_state(state)),
        }
    }

    /// Writes `report.md` and `report.json` into the run directory: at the end of a headless
    /// run, and in the wizard as soon as a run or a rollback ends (its Where panel names them).
    pub fn write_files(&self, dir: &Path) -> std::io::Result<()> {
        // By value too: a step's error may quote a secret its keys do not name.
        let hide = crate::secrets::hide;
        std::fs::write(dir.join("report.md"), hide(&self.markdown()))?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), hide(&json))
    }

    /// The short summary printed at the end of a headless run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n== cutover: {} ==", self.status);
        let _ = writeln!(
            s,
            "plan {} on stack {}; run {}",
            self.plan, self.stack, self.run_dir
        );
        for so in &self.sign_offs {
            match (&so.by, so.at) {
                (Some(by), Some(at)) => {
                    let _ = writeln!(
                        s,
                        "  signed   {:<20} by {by} at {}",
                        so.item,
                        at.format("%H:%M:%S UTC")
                    );
                }
                _ => {
                    let _ = writeln!(s, "  unsigned {}", so.item);
                }
            }
        }
        for st in &self.steps {
            let dur = st
                .duration_ms
                .map_or(String::new(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            // An error was already printed once, on stderr, as it happened; the summary names
            // the step and points there (report.md keeps the full text).
            let failed = matches!(st.state, StepState::Failed | StepState::UndoFailed);
            let result = if failed {
                "error printed above (stderr); full text in report.md"
            } else {
                st.result.as_str()
            };
            let _ = writeln!(s, "  {:<8} {:<20} {:>7}  {}", st.word(), st.id, dur, result);
        }
        if let Some(u) = &self.upgrade {
            for line in u.summary_lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
        if self.torn_journal_tail {
            let _ = writeln!(
                s,
                "  note: the journal's last line was torn by a crash; it was set aside"
            );
        }
        if let Some(next) = &self.next {
            let _ = writeln!(s, "next: {next}");
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# cutover report: {}\n", self.plan);
        let _ = writeln!(
            s,
            "- stack: `{}`\n- run: `{}`\n- status: **{}**",
            self.stack, self.run_dir, self.status
        );
        if let Some(t) = self.started_at {
            let _ = writeln!(s, "- started: {}", t.to_rfc3339());
        }
        let _ = writeln!(s, "\n## Sign-offs\n\n| item | by | at |\n|---|---|---|");
        for so in &self.sign_offs {
            let at = so.at.map_or("-".into(), |t| t.to_rfc3339());
            let _ = writeln!(
                s,
                "| {} | {} | {at} |",
                so.title,
                so.by.as_deref().unwrap_or("(not signed)")
            );
        }
        let _ = writeln!(
            s,
            "\n## Steps\n\n| step | state | result | duration | undo |\n|---|---|---|---|---|"
        );
        for st in &self.steps {
            let ms =
                |v: Option<i64>| v.map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                st.title,
                st.word(),
                st.result,
                ms(st.duration_ms),
                ms(st.undo_duration_ms)
            );
        }
        if let Some(u) = &self.upgrade {
            s.push_str(&u.markdown());
        }
        if let Some(next) = &self.next {
            let _ = writeln!(s, "\n## Next\n\n```\n{next}\n```");
        }
        s
    }
}

fn span(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<i64> {
    Some((b? - a?).num_milliseconds())
}

fn result_text(r: &StepRecord) -> String {
    let mut text = match (&r.outcome, &r.error) {
        (Some(Finish::Ok), _) => "ok".to_string(),
        (Some(Finish::Warning(m)), _) => format!("warning: {m}"),
        (Some(Finish::Skipped(m)), _) => format!("skipped: {m}"),
        (None, Some(e)) => std::iter::once(e.message.as_str())
            .chain(e.causes.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(": "),
        (None, None) => String::new(),
    };
    if let Some(e) = &r.undo_error {
        text = format!("{text}; undo failed: {}", e.message);
    }
    text
}

impl StepLine {
    fn word(&self) -> &'static str {
        if self.uncertain {
            "UNCERTAIN"
        } else {
            state_word(self.state)
        }
    }
}

pub fn state_word(s: StepState) -> &'static str {
    match s {
        StepState::Pending => "pending",
        StepState::Running => "UNCERTAIN",
        StepState::Done => "done",
        StepState::Failed => "FAILED",
        StepState::Undoing => "UNCERTAIN",
        StepState::Undone => "undone",
        StepState::UndoFailed => "UNDO-FAIL",
    }
}

pub fn describe(outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Done => "done".into(),
        RunOutcome::PreflightFailed { step } => {
            format!("pre-flight check {step} failed; nothing was changed")
        }
        RunOutcome::RolledBack { reason } => format!("rolled back ({reason})"),
        RunOutcome::FailedNotRolledBack { reason, .. } => {
            format!("FAILED, not rolled back: {reason}")
        }
        RunOutcome::RollbackFailed { step } => format!("ROLLBACK STOPPED: undo of {step} failed"),
        RunOutcome::Interrupted { reason } => {
            format!("stopped ({reason}); nothing is being undone")
        }
    }
}

/// The command to run next. A disaster rollback that stopped must be retried as one: the fast
/// path is refused once the old container is gone.
fn next_for(outcome: &RunOutcome, dir: &str, disaster: bool) -> String {
    let flag = if disaster { " --disaster" } else { "" };
    match outcome {
        RunOutcome::RollbackFailed { step } => format!(
            "fix what made the undo of {step} fail (see above), then: cutover rollback{flag} --run {dir} --yes"
        ),
        _ => format!(
            "cutover resume --run {dir} --yes   (continue)\n      cutover rollback --run {dir} --yes   (undo everything)"
        ),
    }
}
