//! The app loop: the one task that owns the terminal. It waits for anything (an engine event,
//! a key or click, a container log line, a signal, or the spinner tick while a step runs),
//! drains whatever else is already queued, folds it all through the reducer, executes the
//! effects, and draws once. With nothing running there is no timer, so an idle wizard sleeps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEventKind, MouseButton, MouseEventKind,
};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::follow::Follower;
use super::input::scopes;
use super::keymap::{Scope, lookup};
use super::msg::{Effect, Msg};
use super::new_data::RollbackGuard;
use super::rehearse::{Rehearser, Report as RehearsalReport};
use super::state::State;
use super::update::update;
use crate::engine::{
    CancelReason, Command, Event, EventKind, Journal, Plan, Policy, RunOutcome, Runner,
};
use crate::report::Report;

const TICK: Duration = Duration::from_millis(250);

pub struct Channels {
    pub events: UnboundedReceiver<Event>,
    pub commands: UnboundedSender<Command>,
    pub runner: JoinHandle<Result<RunOutcome>>,
    pub run_dir: PathBuf,
    pub again: Again,
    /// Counts the rows a rollback would drop before the question (None: the plan has none).
    pub guard: Option<Arc<dyn RollbackGuard>>,
    /// Runs a rehearsal from the checklist (None: the plan has none).
    pub rehearser: Option<Arc<dyn Rehearser>>,
}

/// A rehearsal running on its thread, and how to stop it.
struct Rehearsing {
    cancel: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the rehearsal on a thread of its own (it runs its own runtime, a side stack and a
/// whole side run); its lines and its end come back as messages on an unbounded channel, so
/// the thread never waits for the app loop.
fn start_rehearsal(r: Arc<dyn Rehearser>, said: UnboundedSender<Msg>) -> Rehearsing {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let thread = std::thread::spawn(move || {
        let lines = said.clone();
        let say = Box::new(move |line: String| {
            let _ = lines.send(RehearsalReport::Said(crate::secrets::hide(&line)).into());
        });
        let ended = r.rehearse(say, token);
        let _ = said.send(RehearsalReport::Ended(ended).into());
    });
    Rehearsing { cancel, thread }
}

/// On the way out: a rehearsal still running is cancelled and its teardown waited for, with
/// its lines still drawn, so no side stack outlives the wizard.
async fn stop_rehearsal(
    terminal: &mut DefaultTerminal,
    state: &mut State,
    rehearsing: Option<Rehearsing>,
    said: &mut UnboundedReceiver<Msg>,
) -> Result<()> {
    let Some(Rehearsing { cancel, thread }) = rehearsing else {
        return Ok(());
    };
    if !thread.is_finished() {
        cancel.cancel();
        state.screen = super::state::Screen::Checklist;
        state.notice = Some("stopping the rehearsal: tearing its side stack down…".into());
    }
    loop {
        while let Ok(m) = said.try_recv() {
            update(state, m);
        }
        draw(terminal, state)?;
        if thread.is_finished() {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let _ = thread.join();
    Ok(())
}

/// What a second runner needs to roll back the run after it ended.
pub struct Again {
    pub plan: Plan,
    pub policy: Policy,
    pub stack: String,
}

type RunnerTask = JoinHandle<Result<RunOutcome>>;

/// Starts the rollback of the ended run on a new runner; its events replace the old stream.
/// A refusal (main's engine does not undo a run that ended) comes back as a message.
fn rollback_again(
    again: &Again,
    run_dir: &Path,
    said: mpsc::Sender<Msg>,
) -> Result<(UnboundedReceiver<Event>, RunnerTask)> {
    let journal = Journal::open(run_dir)?;
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    // No commands for an undo: a closed channel reads as "no more commands".
    let (_cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let runner = Runner::new(again.plan.clone(), journal, ev_tx, cmd_rx, again.policy);
    let stack = again.stack.clone();
    let task = tokio::spawn(async move {
        let r = runner
            .rollback(
                &stack,
                "the operator rolled back the finished upgrade",
                false,
            )
            .await;
        if let Err(e) = &r {
            let why = format!("the engine did not roll back: {e:#}");
            let _ = said.send(Msg::AfterRunRefused(why)).await;
        }
        r
    });
    Ok((ev_rx, task))
}

/// Counts the rows a rollback would drop on a thread of its own (it reads the Compose project
/// and opens its own connection), then hands the count to the reducer.
fn count_new_data(
    guard: Arc<dyn RollbackGuard>,
    run_dir: PathBuf,
    finished: bool,
    said: mpsc::Sender<Msg>,
) {
    std::thread::spawn(move || {
        let counted = guard.count(&run_dir);
        let _ = said.blocking_send(Msg::NewDataCounted { finished, counted });
    });
}

/// "yes" to dropping the new version's rows: records the consent, then the rollback it
/// guarded (the ended run's on a new runner, or the open run's command); a consent that
/// cannot be recorded refuses the rollback.
fn consent(
    guard: &Option<Arc<dyn RollbackGuard>>,
    run_dir: &Path,
    finished: bool,
    state: &mut State,
) -> Option<Effect> {
    let recorded = guard.as_ref().map_or(Ok(()), |g| g.consent(run_dir));
    match recorded {
        Err(e) => update(
            state,
            Msg::AfterRunRefused(format!(
                "cannot record the consent to drop the new version's rows: {e}"
            )),
        ),
        Ok(()) if finished => Some(Effect::RollbackFinished),
        Ok(()) => Some(Effect::Send(Command::Rollback)),
    }
}

pub async fn run(
    terminal: &mut DefaultTerminal,
    mut state: State,
    ch: Channels,
) -> Result<RunOutcome> {
    let Channels {
        mut events,
        commands,
        mut runner,
        run_dir,
        again,
        guard,
        rehearser,
    } = ch;
    let (rehearsal_tx, mut rehearsal_rx) = mpsc::unbounded_channel::<Msg>();
    let mut rehearsing: Option<Rehearsing> = None;
    // The outcome of a runner that ended, kept when a second one (rollback) is started.
    let mut ended: Option<Result<RunOutcome>> = None;
    let (done_tx, mut done_rx) = mpsc::channel::<Msg>(4);
    let mut input = EventStream::new();
    let (log_tx, mut log_rx) = mpsc::channel(4096);
    let mut follower = Follower::new(log_tx, state.logs.capacity as u64);
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(TICK);
    let mut engine_open = true;
    let mut signals = 0u8;
    let size = terminal.size()?;
    update(
        &mut state,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    draw(terminal, &state)?;
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            ev = events.recv(), if engine_open => match ev {
                Some(ev) => batch.push(Msg::Engine(ev)),
                None => engine_open = false,
            },
            Some(Ok(t)) = input.next() => batch.extend(translate(&state, t)),
            Some(m) = log_rx.recv() => batch.push(m),
            Some(m) = done_rx.recv() => batch.push(m),
            Some(m) = rehearsal_rx.recv() => batch.push(m),
            _ = tick.tick(), if state.needs_tick() => {}
            // A signal is a stop request: the runner ends the step safely, then we leave.
            _ = term.recv() => signals += 1,
            _ = hup.recv() => signals += 1,
            _ = int.recv() => signals += 1,
        }
        if signals > 0 {
            let reason = if signals > 1 {
                CancelReason::SecondSignal
            } else {
                CancelReason::Signal
            };
            let _ = commands.send(Command::Cancel(reason));
            state.quitting = true;
            signals = signals.min(2);
            if !state.run_open() {
                break;
            }
        }
        while let Ok(ev) = events.try_recv() {
            batch.push(Msg::Engine(ev));
        }
        while let Ok(m) = log_rx.try_recv() {
            batch.push(m);
        }
        while let Ok(m) = rehearsal_rx.try_recv() {
            batch.push(m);
        }
        let mut quit = false;
        let mut reread = false;
        let mut finished = false;
        update(&mut state, Msg::Tick(Utc::now()));
        for msg in batch {
            if let Msg::Engine(ev) = &msg {
                log_event(ev);
                reread |= matches!(
                    ev.kind,
                    EventKind::RunStarted { .. }
                        | EventKind::StepFinished { .. }
                        | EventKind::StepFailed { .. }
                );
                finished |= ev.is_terminal();
            }
            let effect = match update(&mut state, msg) {
                Some(Effect::DiscardNewData { finished }) => {
                    consent(&guard, &run_dir, finished, &mut state)
                }
                other => other,
            };
            match effect {
                None => {}
                Some(Effect::CountNewData { finished }) => {
                    if let Some(g) = &guard {
                        count_new_data(g.clone(), run_dir.clone(), finished, done_tx.clone());
                    }
                }
                // Turned into the rollback itself (or refused) by `consent` above.
                Some(Effect::DiscardNewData { .. }) => {}
                Some(Effect::Send(cmd)) => {
                    let _ = commands.send(cmd);
                }
                Some(Effect::Follow(c)) => follower.switch(c).await,
                Some(Effect::Quit) => quit = true,
                Some(Effect::Rehearse) => match &rehearser {
                    Some(r) => {
                        rehearsing = Some(start_rehearsal(r.clone(), rehearsal_tx.clone()));
                    }
                    None => state.notice = Some("this plan has no rehearsal".into()),
                },
                Some(Effect::Finalize) => {
                    let (dir, tx) = (run_dir.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let r = crate::upgrade::finalize::finalize(&dir).await;
                        let _ = tx
                            .send(Msg::Finalized(r.map_err(|e| format!("{e:#}"))))
                            .await;
                    });
                }
                Some(Effect::RollbackFinished) => {
                    match rollback_again(&again, &run_dir, done_tx.clone()) {
                        Ok((ev, task)) => {
                            let first = std::mem::replace(&mut runner, task);
                            ended =
                                Some(first.await.unwrap_or_else(|e| Err(anyhow::anyhow!("{e}"))));
                            events = ev;
                            engine_open = true;
                        }
                        Err(e) => {
                            let why = format!("cannot roll back: {e:#}");
                            update(&mut state, Msg::AfterRunRefused(why));
                        }
                    }
                }
            }
        }
        if reread || finished {
            // Outputs and earlier sign-offs live in the journal, not in events.
            if let Ok((run, _)) = Journal::read(&run_dir) {
                if finished {
                    let report = Report::from_state(&run, &run_dir);
                    // Written now, not when the wizard quits: the Where panel already names it,
                    // and a rollback started from the Result screen rewrites it when it ends.
                    if let Err(e) = report.write_files(&run_dir) {
                        tracing::error!("cannot write the report into {}: {e}", run_dir.display());
                    }
                    update(&mut state, Msg::Report(Box::new(report)));
                }
                if let Some(Effect::Follow(c)) = update(&mut state, Msg::Journal(Box::new(run))) {
                    follower.switch(c).await;
                }
            }
        }
        if quit {
            break;
        }
        draw(terminal, &state)?;
    }
    stop_rehearsal(terminal, &mut state, rehearsing.take(), &mut rehearsal_rx).await?;
    follower.switch(None).await;
    drop(commands);
    let last = match runner.await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("the runner task died: {e}")),
    };
    // A refused second runner (rollback of an ended run) leaves the first one's outcome.
    match (last, ended) {
        (Err(_), Some(first)) => first,
        (last, _) => last,
    }
}

fn draw(terminal: &mut DefaultTerminal, state: &State) -> Result<()> {
    tui_logger::move_events();
    terminal.draw(|f| super::views::draw(state, f))?;
    Ok(())
}

/// Step log lines go to cutover's own log (the tui-logger pane and the run's cutover.log).
fn log_event(ev: &Event) {
    match &ev.kind {
        EventKind::Log { step, line } => tracing::info!(target: "step", "{step}: {line}"),
        EventKind::StepFailed { title, error, .. } => {
            tracing::error!("{title} failed: {}", error.message)
        }
        EventKind::UndoFailed { title, error, .. } => {
            tracing::error!("undo of {title} failed: {}", error.message)
        }
        EventKind::RollbackStarted { reason } => tracing::warn!("rolling back: {reason}"),
        EventKind::SignedOff { title, by, .. } => tracing::info!("{title}: signed off by {by}"),
        _ => {}
    }
}

/// Terminal input → messages, through the keymap for the scopes listening now.
fn translate(state: &State, ev: TermEvent) -> Vec<Msg> {
    match ev {
        TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
            let scopes = scopes(state);
            if let Some(cmd) = lookup(&scopes, &k) {
                return vec![Msg::Cmd(cmd)];
            }
            match k.code {
                KeyCode::Char(c) if scopes.contains(&Scope::Text) => vec![Msg::Char(c)],
                _ => Vec::new(),
            }
        }
        TermEvent::Mouse(m) if m.kind == MouseEventKind::Down(MouseButton::Left) => {
            vec![Msg::Click {
                col: m.column,
                row: m.row,
            }]
        }
        TermEvent::Resize(width, height) => vec![Msg::Resize { width, height }],
        _ => Vec::new(),
    }
}
