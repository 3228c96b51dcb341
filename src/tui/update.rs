//! The reducer: `update(&mut State, Msg) -> Option<Effect>`. Pure apart from the state it is
//! given; no I/O, no clock (time comes in as `Msg::Tick` and event timestamps).
//!
//! Engine events are folded in here; keys and clicks are in [`super::input`].

use super::containers;
use super::msg::{Effect, Msg};
use super::state::{EVIDENCE_LINES, Phase, Progress, Screen, State, Status};
use crate::engine::{Event, EventKind, Finish, RunOutcome, StepKind, StepState};

pub fn update(state: &mut State, msg: Msg) -> Option<Effect> {
    match msg {
        Msg::Engine(ev) => on_event(state, ev),
        Msg::Cmd(cmd) => super::input::on_cmd(state, cmd),
        Msg::Char(c) => {
            super::input::on_char(state, c);
            None
        }
        Msg::Click { col, row } => super::input::on_click(state, col, row),
        Msg::Resize { width, height } => {
            state.size = (width, height);
            None
        }
        Msg::Tick(now) => {
            state.now = now;
            None
        }
        Msg::Journal(run) => on_journal(state, &run),
        Msg::Report(report) => {
            state.report = Some(*report);
            None
        }
        Msg::ContainerLog { container, entry } => {
            state.logs.push(&container, entry);
            None
        }
        Msg::Finalized(r) => {
            state.notice = Some(match &r {
                Ok(said) => said.clone(),
                Err(e) => format!("finalize failed: {e}"),
            });
            state.finalized = Some(r);
            None
        }
        Msg::NewDataCounted { finished, counted } => {
            on_new_data_counted(state, finished, &counted);
            None
        }
        Msg::Rehearsal(report) => super::rehearse::on_report(state, report),
        Msg::AfterRunRefused(why) => {
            state.rollback_requested = false;
            state.after_run = Some(why);
            None
        }
        Msg::ContainerLogEnded { container, why } => {
            let current = super::input::followed(state);
            if current.as_deref() == Some(container.as_str()) {
                state.logs.ended = Some(why);
            }
            None
        }
    }
}

fn on_event(state: &mut State, ev: Event) -> Option<Effect> {
    let at = ev.at;
    match ev.kind {
        EventKind::RunStarted {
            run_dir, resumed, ..
        } => {
            state.run_dir = Some(run_dir);
            state.resumed = resumed;
            state.phase = Phase::Preflight;
        }
        EventKind::StepStarted { step, kind, .. } => {
            if kind == StepKind::Action
                && matches!(state.phase, Phase::AwaitingStart { .. } | Phase::Preflight)
            {
                state.phase = Phase::Running;
                // The operator's attention moves with the run.
                state.screen = Screen::Run;
            }
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::Running { since: at };
                s.elapsed_ms = None;
                s.progress = None;
                // A check re-run (`Command::Recheck`): its old evidence no longer holds.
                s.evidence.clear();
            }
        }
        EventKind::Progress {
            step,
            current,
            total,
            unit,
        } => {
            if let Some(s) = state.step_mut(&step) {
                let first = s.progress.as_ref().map_or((at, current), |p| p.first);
                s.progress = Some(Progress {
                    current,
                    total,
                    unit,
                    first,
                    at,
                });
            }
        }
        EventKind::Log { step, line } => {
            if let Some(s) = state.step_mut(&step) {
                if s.evidence.len() == EVIDENCE_LINES {
                    s.evidence.remove(0);
                }
                s.evidence.push(line);
            }
        }
        EventKind::StepFinished {
            step,
            outcome,
            elapsed_ms,
            ..
        } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = match outcome {
                    Finish::Ok => Status::Ok,
                    Finish::Warning(m) => Status::Warning(m),
                    Finish::Skipped(m) => Status::Skipped(m),
                };
                s.elapsed_ms = Some(elapsed_ms);
            }
        }
        EventKind::StepFailed {
            step,
            error,
            elapsed_ms,
            ..
        } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::Failed(error);
                s.elapsed_ms = Some(elapsed_ms);
            }
        }
        EventKind::AwaitingStart { unsigned } => {
            if matches!(state.phase, Phase::Starting | Phase::Preflight) {
                // Put the cursor on the first item that needs the operator.
                if let Some(i) = state
                    .checklist()
                    .iter()
                    .position(|s| unsigned.contains(&s.info.id))
                {
                    state.cursor = i;
                }
                state.phase = Phase::AwaitingStart { unsigned };
            } else if let Phase::AwaitingStart { unsigned: u } = &mut state.phase {
                *u = unsigned;
            }
        }
        EventKind::SignedOff { step, by, .. } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::Signed { by };
            }
        }
        EventKind::Paused => state.phase = Phase::Paused,
        EventKind::RollbackStarted { reason } => {
            state.phase = Phase::RollingBack { reason };
            state.screen = Screen::Run;
        }
        EventKind::UndoStarted { step, .. } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::Undoing { since: at };
            }
        }
        EventKind::UndoFinished { step, .. } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::Undone;
            }
        }
        EventKind::UndoFailed { step, error, .. } => {
            if let Some(s) = state.step_mut(&step) {
                s.status = Status::UndoFailed(error);
            }
        }
        EventKind::RunFinished { outcome } => {
            state.phase = Phase::Finished(outcome);
            state.screen = Screen::Result;
            // A question about the run no longer applies once it has stopped.
            if matches!(state.popup, Some(super::state::Popup::Confirm(_))) {
                state.popup = None;
            }
            if state.quitting {
                return Some(Effect::Quit);
            }
        }
    }
    None
}

/// Takes what the events do not carry from the journal: outputs, and sign-offs made in an
/// earlier invocation of a resumed run.
fn on_journal(state: &mut State, run: &crate::engine::RunState) -> Option<Effect> {
    state.figures = super::figures::Figures::from_run(run);
    state.outputs = run
        .steps
        .iter()
        .filter_map(|(id, r)| Some((id.clone(), r.output.clone()?)))
        .collect();
    for (id, rec) in &run.steps {
        if let (Some(by), StepState::Done) = (&rec.signed_by, rec.state)
            && let Some(s) = state.step_mut(id)
            && s.status == Status::Pending
        {
            s.status = Status::Signed { by: by.clone() };
        }
        if let Some(s) = state.step_mut(id)
            && s.status == Status::Pending
        {
            // A resumed run: show what earlier invocations did.
            s.status = match rec.state {
                StepState::Done => Status::Ok,
                StepState::Undone => Status::Undone,
                _ => continue,
            };
        }
    }
    let followed = super::input::followed(state);
    match containers::from_outputs(&state.outputs) {
        Ok(list) => {
            state.containers = list;
            state.discovery_error = None;
        }
        Err(e) => state.discovery_error = Some(e),
    }
    // The list can grow (qdrant joins): keep following the same container by name.
    if let Some(name) = followed {
        state.logs.selected = state.containers.iter().position(|c| c.name == name);
        return None;
    }
    // The first time containers are known, follow postgres (the one being upgraded).
    if !state.containers.is_empty() {
        let pick = state
            .containers
            .iter()
            .position(|c| c.service == "postgres")
            .unwrap_or(0);
        state.logs.selected = Some(pick);
        return Some(Effect::Follow(Some(state.containers[pick].name.clone())));
    }
    None
}

/// The outcome word used in headers.
pub fn outcome_word(o: &RunOutcome) -> &'static str {
    match o {
        RunOutcome::Done => "done",
        RunOutcome::PreflightFailed { .. } => "pre-flight failed",
        RunOutcome::RolledBack { .. } => "rolled back",
        RunOutcome::FailedNotRolledBack { .. } => "FAILED, not rolled back",
        RunOutcome::RollbackFailed { .. } => "ROLLBACK FAILED",
        RunOutcome::Interrupted { .. } => "stopped",
    }
}

/// The count a rollback question waited for: ask now, unless the run moved on meanwhile.
fn on_new_data_counted(
    state: &mut State,
    finished: bool,
    counted: &Result<Option<crate::upgrade::rollback::new_data::NewData>, String>,
) {
    state.notice = None;
    if state.rollback_requested || finished == state.run_open() {
        state.notice = Some("the run moved on while counting: press R again".into());
        return;
    }
    let mut q = if finished {
        super::after_run::rollback_question(state)
    } else {
        super::input::open_rollback_question(state)
    };
    super::new_data::amend(&mut q, counted);
    state.popup = Some(super::state::Popup::Confirm(q));
}
