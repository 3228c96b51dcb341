//! The runner: owns step order, timeouts, cancellation and the journal.
//!
//! It runs one step at a time as a tokio task and listens to the front end's commands while
//! the step runs. Phases: finish whatever a crash left uncertain (undo it defensively), run the
//! pre-flight checks, wait until every sign-off item is signed and `Start` arrives, run the
//! actions and later checks in order. On a failure it stops and, per [`Policy`], undoes the
//! failed action and every completed or uncertain one in reverse order (a failed action may
//! have changed something: see `StepRecord::needs_undo`). Every transition is journaled before it is reported, so
//! whatever the front end saw, the journal has.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Result, bail};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::commands::{CancelReason, Command};
use super::events::{Event, EventKind, RunOutcome};
use super::journal::{Entry, Journal};
use super::lock::this_host;
use super::plan::Plan;
use super::recovery::{Phase, ROLLBACK_COMMAND, RunState, StepState};
use super::step::{Finish, Step, StepContext, StepError, StepKind};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Undo completed actions when a step fails (`--no-auto-rollback` turns it off).
    pub auto_rollback: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            auto_rollback: true,
        }
    }
}

/// How one step task ended, as far as the runner could tell.
enum Driven {
    Finished(Finish),
    Failed(StepError),
    /// Ended without a clean result (timeout, panic, abandoned): changes may be left behind.
    Uncertain(StepError),
}

pub struct Runner {
    plan: Plan,
    journal: Arc<Mutex<Journal>>,
    events: UnboundedSender<Event>,
    commands: UnboundedReceiver<Command>,
    commands_open: bool,
    /// Commands that arrived while a step ran and are meant for a later phase.
    deferred: VecDeque<Command>,
    policy: Policy,
    cancel: Option<CancelReason>,
    pause_requested: bool,
    rollback_requested: bool,
}

impl Runner {
    pub fn new(
        plan: Plan,
        journal: Journal,
        events: UnboundedSender<Event>,
        commands: UnboundedReceiver<Command>,
        policy: Policy,
    ) -> Self {
        Self {
            plan,
            journal: Arc::new(Mutex::new(journal)),
            events,
            commands,
            commands_open: true,
            deferred: VecDeque::new(),
            policy,
            cancel: None,
            pause_requested: false,
            rollback_requested: false,
        }
    }

    /// The journal's view of the run so far.
    pub fn state(&self) -> RunState {
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .state()
            .clone()
    }

    /// Starts a fresh run, or continues one after a stop or a crash. If the journal shows a
    /// rollback in progress, the rollback is what continues.
    pub async fn run(mut self, stack: &str) -> Result<RunOutcome> {
        let resumed = self.open("resume", stack)?;
        if self.state().rolling_back {
            let state = self.state();
            let reason = state.rollback_reason.unwrap_or_default();
            return self.rollback_inner(reason, state.disaster_rollback).await;
        }
        if resumed && let Some(outcome) = self.check_world().await? {
            return Ok(outcome);
        }
        if resumed && let Some(outcome) = self.settle_uncertain().await? {
            return Ok(outcome);
        }
        if let Some(outcome) = self.preflight().await? {
            return Ok(outcome);
        }
        if let Some(outcome) = self.await_start().await? {
            return Ok(outcome);
        }
        self.actions().await
    }

    /// Undoes every completed, failed or uncertain action of the run, newest first; also of a run that
    /// ended done (the fast rollback of a completed, not finalized upgrade). `disaster` is
    /// journaled and tells the steps to restore the backup instead of keeping the database.
    pub async fn rollback(
        mut self,
        stack: &str,
        reason: &str,
        disaster: bool,
    ) -> Result<RunOutcome> {
        self.open(ROLLBACK_COMMAND, stack)?;
        self.rollback_inner(reason.to_string(), disaster).await
    }

    /// Writes `run_started` or `resumed`. Returns whether the run existed already.
    fn open(&mut self, command: &str, stack: &str) -> Result<bool> {
        let state = self.state();
        let resumed = state.phase != Phase::Empty;
        let done = matches!(
            state.phase,
            Phase::Finished {
                outcome: RunOutcome::Done
            }
        );
        if state.is_final() && !(done && command == ROLLBACK_COMMAND) {
            bail!(
                "this run has already ended ({:?}); start a new one",
                state.phase
            );
        }
        let entry = if resumed {
            let ids: Vec<_> = state.steps_meta.iter().map(|m| m.id.as_str()).collect();
            let ours: Vec<_> = self.plan.steps.iter().map(|s| s.id()).collect();
            if state.plan != self.plan.name || ids != ours {
                bail!(
                    "the journal was written by plan {:?} with steps {ids:?}; this plan is {:?} with steps {ours:?}",
                    state.plan,
                    self.plan.name
                );
            }
            Entry::Resumed {
                pid: std::process::id(),
                host: this_host(),
                command: command.into(),
            }
        } else {
            Entry::RunStarted {
                plan: self.plan.name.clone(),
                stack: stack.to_string(),
                steps: self.plan.meta(),
                pid: std::process::id(),
                host: this_host(),
            }
        };
        self.journal(entry)?;
        let run_dir = self
            .journal
            .lock()
            .expect("journal lock poisoned")
            .run_dir()
            .display()
            .to_string();
        self.emit(EventKind::RunStarted {
            plan: self.plan.name.clone(),
            run_dir,
            resumed,
        });
        Ok(resumed)
    }

    /// Before a resume: asks every step the journal shows as begun whether the world still
    /// matches. On the first mismatch the run stops (exit 3) naming what differs; nothing is
    /// changed, and `cutover rollback` is offered (it undoes defensively and does not need the
    /// world to match).
    async fn check_world(&mut self) -> Result<Option<RunOutcome>> {
        let state = self.state();
        for step in self.plan.steps.clone() {
            let begun = state
                .steps
                .get(step.id())
                .is_some_and(|r| r.state != StepState::Pending);
            if !begun || step.kind() == StepKind::SignOff {
                continue;
            }
            let mut cx = self.context(&step, true, CancellationToken::new());
            cx.checking_world = true;
            if let Err(e) = step.check_world(&cx).await {
                let mut reason = format!(
                    "refusing to resume: the world no longer matches the journal at step {}: {}",
                    step.id(),
                    e.message
                );
                for c in &e.causes {
                    reason.push_str(&format!("; {c}"));
                }
                reason.push_str(". Undo what was done with `cutover rollback --yes`");
                return self
                    .stop(RunOutcome::FailedNotRolledBack {
                        step: step.id().into(),
                        reason,
                    })
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// After a crash, a timeout or a second interrupt: an uncertain step is undone defensively
    /// (actions) or marked failed so it runs again (checks).
    async fn settle_uncertain(&mut self) -> Result<Option<RunOutcome>> {
        let state = self.state();
        for id in state.uncertain() {
            let step = self.step(id);
            let rec = &state.steps[id];
            if step.kind() != StepKind::Action {
                if rec.state == StepState::Failed {
                    continue; // already closed; it runs again
                }
                self.journal(Entry::StepFailed {
                    step: id.into(),
                    error: StepError::new("interrupted before it finished; will run again"),
                    uncertain: true,
                })?;
                continue;
            }
            tracing::warn!(step = id, state = ?rec.state, "uncertain step: undoing it defensively");
            if let Some(outcome) = self.undo_one(&step).await? {
                return Ok(Some(outcome));
            }
        }
        Ok(None)
    }

    async fn preflight(&mut self) -> Result<Option<RunOutcome>> {
        let first_action = self.plan.first_action();
        for index in 0..first_action {
            let step = self.plan.steps[index].clone();
            if step.kind() != StepKind::Check || self.step_state(step.id()) == StepState::Done {
                continue;
            }
            if !self.run_one(index, &step).await? {
                let outcome = RunOutcome::PreflightFailed {
                    step: step.id().into(),
                };
                return self.finish(outcome).map(Some);
            }
            if let Some(reason) = self.cancel {
                return self
                    .stop(RunOutcome::Interrupted {
                        reason: reason.to_string(),
                    })
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// Waits for every sign-off and an explicit `Start`. Nothing has changed yet.
    async fn await_start(&mut self) -> Result<Option<RunOutcome>> {
        if self.state().start_approved {
            return Ok(None);
        }
        loop {
            let unsigned = self.unsigned();
            self.emit(EventKind::AwaitingStart {
                unsigned: unsigned.clone(),
            });
            let Some(cmd) = self.next_command().await else {
                return self
                    .stop(RunOutcome::Interrupted {
                        reason: "front end closed".into(),
                    })
                    .map(Some);
            };
            match cmd {
                Command::SignOff { item, by } => self.sign_off(&item, &by)?,
                Command::Start if !self.failed_checks().is_empty() => {
                    let failed = self.failed_checks();
                    tracing::warn!(?failed, "start refused: a re-run check failed");
                }
                Command::Start if unsigned.is_empty() => {
                    self.journal(Entry::StartApproved)?;
                    return Ok(None);
                }
                Command::Start => tracing::warn!(?unsigned, "start refused: items not signed off"),
                Command::Recheck(id) => {
                    self.recheck(&id).await?;
                    if let Some(reason) = self.cancel {
                        let reason = reason.to_string();
                        return self.stop(RunOutcome::Interrupted { reason }).map(Some);
                    }
                }
                Command::Pause => {}
                Command::Rollback | Command::Cancel(_) => {
                    let reason = "stopped before any change".to_string();
                    return self.stop(RunOutcome::Interrupted { reason }).map(Some);
                }
            }
        }
    }

    async fn actions(&mut self) -> Result<RunOutcome> {
        for index in self.plan.first_action()..self.plan.steps.len() {
            let step = self.plan.steps[index].clone();
            if self.step_state(step.id()) == StepState::Done {
                continue;
            }
            if let Some(outcome) = self.between_steps().await? {
                return Ok(outcome);
            }
            if !self.run_one(index, &step).await? {
                if let Some(reason) = self.cancel {
                    return self.stop(RunOutcome::Interrupted {
                        reason: reason.to_string(),
                    });
                }
                return self.on_failure(step.id()).await;
            }
        }
        if let Some(reason) = self.cancel {
            // The last step finished despite the interrupt: the run is complete.
            tracing::info!(
                ?reason,
                "interrupt arrived during the last step, which finished"
            );
        }
        self.finish(RunOutcome::Done)
    }

    /// Honours pause, rollback and cancel requests at a step boundary.
    async fn between_steps(&mut self) -> Result<Option<RunOutcome>> {
        loop {
            if let Some(reason) = self.cancel {
                return self
                    .stop(RunOutcome::Interrupted {
                        reason: reason.to_string(),
                    })
                    .map(Some);
            }
            if self.rollback_requested {
                return self
                    .rollback_inner("the operator asked for a rollback".into(), false)
                    .await
                    .map(Some);
            }
            if !self.pause_requested {
                return Ok(None);
            }
            self.emit(EventKind::Paused);
            match self.next_command().await {
                Some(Command::Start) => self.pause_requested = false,
                Some(Command::Rollback) => self.rollback_requested = true,
                Some(Command::Cancel(r)) => self.raise_cancel(r),
                Some(Command::Pause | Command::SignOff { .. } | Command::Recheck(_)) => {}
                None => self.raise_cancel(CancelReason::Quit),
            }
        }
    }

    async fn on_failure(&mut self, failed: &str) -> Result<RunOutcome> {
        let reason = format!("step {failed} failed");
        if let Some(ponr) = self.state().point_of_no_return_passed() {
            let reason = format!("{reason}; not rolled back: past the point of no return ({ponr})");
            return self.stop(RunOutcome::FailedNotRolledBack {
                step: failed.into(),
                reason,
            });
        }
        if !self.policy.auto_rollback {
            let reason = format!("{reason}; automatic rollback is off");
            return self.stop(RunOutcome::FailedNotRolledBack {
                step: failed.into(),
                reason,
            });
        }
        self.rollback_inner(reason, false).await
    }

    async fn rollback_inner(&mut self, reason: String, disaster: bool) -> Result<RunOutcome> {
        let state = self.state();
        if let Some(ponr) = state.point_of_no_return_passed() {
            let reason = format!("refusing to roll back past the point of no return ({ponr})");
            return self.stop(RunOutcome::FailedNotRolledBack {
                step: ponr.to_string(),
                reason,
            });
        }
        // A check left running by a crash changed nothing; close it so the run can end.
        for id in state.uncertain() {
            if self.step(id).kind() != StepKind::Action
                && state.steps[id].state == StepState::Running
            {
                let error = StepError::new("interrupted before it finished");
                self.journal(Entry::StepFailed {
                    step: id.into(),
                    error,
                    uncertain: true,
                })?;
            }
        }
        self.journal(Entry::RollbackStarted {
            reason: reason.clone(),
            disaster,
        })?;
        self.emit(EventKind::RollbackStarted {
            reason: reason.clone(),
        });
        for step in self.plan.steps.clone().iter().rev() {
            let needs = self
                .state()
                .steps
                .get(step.id())
                .is_some_and(|r| r.needs_undo());
            if step.kind() != StepKind::Action || !needs {
                continue;
            }
            if let Some(outcome) = self.undo_one(step).await? {
                return Ok(outcome);
            }
        }
        self.finish(RunOutcome::RolledBack { reason })
    }

    /// Undoes one step. A failed undo stops everything: it is reported, never guessed around.
    async fn undo_one(&mut self, step: &Arc<dyn Step>) -> Result<Option<RunOutcome>> {
        let id = step.id().to_string();
        self.journal(Entry::UndoStarted { step: id.clone() })?;
        self.emit(EventKind::UndoStarted {
            step: id.clone(),
            title: step.title().into(),
        });
        let t0 = Instant::now();
        // An undo is let finish on the first interrupt: stopping halfway helps nobody.
        let driven = self.drive(step, true).await;
        let elapsed_ms = t0.elapsed().as_millis() as u64;
        let title = step.title().to_string();
        match driven {
            Driven::Finished(_) => {
                self.journal(Entry::UndoFinished { step: id.clone() })?;
                self.emit(EventKind::UndoFinished {
                    step: id,
                    title,
                    elapsed_ms,
                });
                Ok(None)
            }
            Driven::Failed(error) | Driven::Uncertain(error) => {
                self.journal(Entry::UndoFailed {
                    step: id.clone(),
                    error: error.clone(),
                })?;
                self.emit(EventKind::UndoFailed {
                    step: id.clone(),
                    title,
                    error,
                    elapsed_ms,
                });
                self.stop(RunOutcome::RollbackFailed { step: id }).map(Some)
            }
        }
    }

    /// Runs one step forward; journals and reports its end. Returns whether it succeeded.
    async fn run_one(&mut self, index: usize, step: &Arc<dyn Step>) -> Result<bool> {
        let id = step.id().to_string();
        let title = step.title().to_string();
        self.journal(Entry::StepStarted { step: id.clone() })?;
        let total = self.plan.steps.len();
        self.emit(EventKind::StepStarted {
            step: id.clone(),
            title: title.clone(),
            kind: step.kind(),
            index,
            total,
        });
        let t0 = Instant::now();
        let mut driven = self.drive(step, false).await;
        if let (Driven::Finished(_), Some(why)) = (&driven, super::fault::fail_after_change(&id)) {
            // The change is made and its outputs are journaled: only the success is replaced.
            driven = Driven::Failed(StepError::new(why));
        }
        let elapsed_ms = t0.elapsed().as_millis() as u64;
        let (error, uncertain) = match driven {
            Driven::Finished(outcome) => {
                self.journal(Entry::StepFinished {
                    step: id.clone(),
                    outcome: outcome.clone(),
                })?;
                self.emit(EventKind::StepFinished {
                    step: id.clone(),
                    title,
                    outcome,
                    elapsed_ms,
                });
                super::fault::step_finished(&id);
                return Ok(true);
            }
            Driven::Failed(e) => (e, false),
            Driven::Uncertain(e) => (e, true),
        };
        self.journal(Entry::StepFailed {
            step: id.clone(),
            error: error.clone(),
            uncertain,
        })?;
        self.emit(EventKind::StepFailed {
            step: id,
            title,
            error,
            elapsed_ms,
        });
        Ok(false)
    }

    /// Runs `run` or `undo` as a task, under the step's timeout, while listening to commands.
    async fn drive(&mut self, step: &Arc<dyn Step>, undo: bool) -> Driven {
        let token = CancellationToken::new();
        let cx = self.context(step, undo, token.clone());
        let task_step = step.clone();
        let mut handle = tokio::spawn(async move {
            if undo {
                task_step.undo(&cx).await.map(|()| Finish::Ok)
            } else {
                task_step.run(&cx).await
            }
        });
        let deadline = tokio::time::sleep(step.timeout());
        tokio::pin!(deadline);
        if !undo && self.cancel.is_some_and(|r| r >= CancelReason::Signal) {
            token.cancel();
        }
        loop {
            tokio::select! {
                joined = &mut handle => {
                    return match joined {
                        Ok(Ok(finish)) => Driven::Finished(finish),
                        Ok(Err(e)) if token.is_cancelled() => Driven::Uncertain(e),
                        Ok(Err(e)) => Driven::Failed(e),
                        Err(join) => Driven::Uncertain(died(join)),
                    };
                }
                () = &mut deadline => {
                    token.cancel();
                    handle.abort();
                    let _ = (&mut handle).await;
                    let verb = if undo { "undo" } else { "step" };
                    return Driven::Uncertain(StepError::new(format!(
                        "{verb} timed out after {}s", step.timeout().as_secs_f64()
                    )));
                }
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    None => self.commands_open = false,
                    Some(Command::Pause) => self.pause_requested = true,
                    Some(Command::Rollback) => self.rollback_requested = true,
                    Some(Command::Cancel(reason)) => {
                        self.raise_cancel(reason);
                        let strongest = self.cancel.unwrap_or(reason);
                        if strongest >= CancelReason::Signal && !undo {
                            token.cancel();
                        }
                        if strongest == CancelReason::SecondSignal {
                            handle.abort();
                            let _ = (&mut handle).await;
                            return Driven::Uncertain(StepError::new("abandoned after a second interrupt"));
                        }
                    }
                    Some(other) => self.deferred.push_back(other),
                },
            }
        }
    }

    fn context(
        &self,
        step: &Arc<dyn Step>,
        undoing: bool,
        cancel: CancellationToken,
    ) -> StepContext {
        StepContext {
            step: step.id().to_string(),
            journal: self.journal.clone(),
            events: self.events.clone(),
            cancel,
            run_dir: self
                .journal
                .lock()
                .expect("journal lock poisoned")
                .run_dir()
                .to_path_buf(),
            undoing,
            checking_world: false,
        }
    }

    fn raise_cancel(&mut self, reason: CancelReason) {
        // Ordered reasons: a weaker one never replaces a stronger one.
        self.cancel = Some(self.cancel.map_or(reason, |r| r.max(reason)));
    }

    async fn next_command(&mut self) -> Option<Command> {
        if let Some(cmd) = self.deferred.pop_front() {
            return Some(cmd);
        }
        if !self.commands_open {
            return None;
        }
        let cmd = self.commands.recv().await;
        self.commands_open = cmd.is_some();
        cmd
    }

    fn sign_off(&mut self, item: &str, by: &str) -> Result<()> {
        let Some(step) = self
            .plan
            .step(item)
            .filter(|s| s.kind() == StepKind::SignOff)
            .cloned()
        else {
            tracing::warn!(item, "no such sign-off item");
            return Ok(());
        };
        if self.step_state(item) == StepState::Done {
            return Ok(());
        }
        self.journal(Entry::SignedOff {
            step: item.into(),
            by: by.into(),
        })?;
        self.emit(EventKind::SignedOff {
            step: item.into(),
            title: step.title().into(),
            by: by.into(),
        });
        Ok(())
    }

    /// Runs a pre-flight check again while the run waits for `Start`. A check that fails now
    /// blocks `Start` (`failed_checks`) until it passes again; anything else is ignored with a
    /// warning (an action, a sign-off, an unknown id).
    async fn recheck(&mut self, id: &str) -> Result<()> {
        let first_action = self.plan.first_action();
        let Some(index) = self.plan.steps[..first_action]
            .iter()
            .position(|s| s.id() == id && s.kind() == StepKind::Check)
        else {
            tracing::warn!(step = id, "recheck refused: not a pre-flight check");
            return Ok(());
        };
        let step = self.plan.steps[index].clone();
        self.run_one(index, &step).await?;
        Ok(())
    }

    /// Pre-flight checks that are not done (a re-run that failed): `Start` waits for them.
    fn failed_checks(&self) -> Vec<String> {
        let state = self.state();
        self.plan.steps[..self.plan.first_action()]
            .iter()
            .filter(|s| s.kind() == StepKind::Check)
            .filter(|s| {
                state
                    .steps
                    .get(s.id())
                    .is_some_and(|r| r.state == StepState::Failed)
            })
            .map(|s| s.id().to_string())
            .collect()
    }

    fn unsigned(&self) -> Vec<String> {
        let state = self.state();
        self.plan
            .sign_offs()
            .filter(|s| {
                state
                    .steps
                    .get(s.id())
                    .is_none_or(|r| r.state != StepState::Done)
            })
            .map(|s| s.id().to_string())
            .collect()
    }

    fn stop(&mut self, outcome: RunOutcome) -> Result<RunOutcome> {
        self.journal(Entry::RunStopped {
            outcome: outcome.clone(),
        })?;
        self.emit(EventKind::RunFinished {
            outcome: outcome.clone(),
        });
        Ok(outcome)
    }

    fn finish(&mut self, outcome: RunOutcome) -> Result<RunOutcome> {
        self.journal(Entry::RunFinished {
            outcome: outcome.clone(),
        })?;
        self.emit(EventKind::RunFinished {
            outcome: outcome.clone(),
        });
        Ok(outcome)
    }

    fn journal(&self, entry: Entry) -> Result<()> {
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .append(entry)
    }

    fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event::now(kind));
    }

    fn step(&self, id: &str) -> Arc<dyn Step> {
        self.plan
            .step(id)
            .cloned()
            .expect("journal steps match the plan (checked in open)")
    }

    fn step_state(&self, id: &str) -> StepState {
        self.state()
            .steps
            .get(id)
            .map_or(StepState::Pending, |r| r.state)
    }
}

/// The error of a step task that did not return: a panic (a bug), or the unwind of a
/// `fail-in-undo` fault, named as such.
fn died(join: tokio::task::JoinError) -> StepError {
    if join.is_panic() {
        let payload = join.into_panic();
        if let Some(f) = payload.downcast_ref::<super::fault::InjectedUndoFailure>() {
            return StepError::new(f.0.clone());
        }
        let what = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        return StepError::new("the step task panicked").with_cause(what);
    }
    StepError::new("the step task died").with_cause(join)
}
