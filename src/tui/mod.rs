//! The terminal wizard: a view over the engine's events plus a command channel. It never talks
//! to Docker or PostgreSQL for the run itself; the only outside stream it opens is the followed
//! container's log, through the docker adapter, from a task the app loop owns.
//!
//! Shape (see STYLE.md): keys and clicks → `Cmd` through one keymap → `update(&mut State, Msg)
//! -> Option<Effect>` → the app loop executes effects; `views::draw(&State, frame)` is pure.

mod after_run;
mod app;
pub mod containers;
pub mod figures;
mod follow;
pub mod input;
pub mod keymap;
pub mod msg;
pub mod new_data;
pub mod rehearse;
pub mod ring;
pub mod state;
mod terminal;
pub mod update;
pub mod views;

use std::path::Path;

use anyhow::Result;
use tokio::sync::mpsc::unbounded_channel;

use crate::engine::{Command, Journal, Plan, Policy, RunOutcome, Runner};
pub use state::State;

/// What the command line hands over: a plan, its journal (new or resumed) and the policy.
pub struct Launch {
    pub plan: Plan,
    pub journal: Journal,
    pub stack: String,
    pub policy: Policy,
    /// Commands to send first (sign-offs given as flags).
    pub initial: Vec<Command>,
    /// Counts the rows a rollback would drop, before the wizard asks (`new_data`).
    pub guard: Option<std::sync::Arc<dyn new_data::RollbackGuard>>,
    /// Runs `cutover rehearse` from the checklist (`rehearse`); None: the plan has none.
    pub rehearser: Option<std::sync::Arc<dyn rehearse::Rehearser>>,
}

/// Runs the wizard until the operator leaves; the terminal is restored before this returns.
pub fn run(launch: Launch) -> Result<RunOutcome> {
    let run_dir = launch.journal.run_dir().to_path_buf();
    init_logging(&run_dir);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut state = State::new(&launch.plan, &launch.stack, chrono::Utc::now());
        state.own_log_widget = true;
        state.counts_new_data = launch.guard.is_some();
        state.rehearses = launch.rehearser.is_some();
        state.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let (ev_tx, ev_rx) = unbounded_channel();
        let (cmd_tx, cmd_rx) = unbounded_channel();
        for c in launch.initial {
            let _ = cmd_tx.send(c);
        }
        // Kept for a rollback after the run ended: a new runner over the same journal.
        let again = app::Again {
            plan: launch.plan.clone(),
            policy: launch.policy,
            stack: launch.stack.clone(),
        };
        let runner = Runner::new(launch.plan, launch.journal, ev_tx, cmd_rx, launch.policy);
        let stack = launch.stack;
        let runner = tokio::spawn(async move { runner.run(&stack).await });
        let (mut terminal, guard) = terminal::Guard::enter()?;
        let channels = app::Channels {
            events: ev_rx,
            commands: cmd_tx,
            runner,
            run_dir,
            again,
            guard: launch.guard,
            rehearser: launch.rehearser,
        };
        let result = app::run(&mut terminal, state, channels).await;
        drop(guard);
        result
    })
}

/// Cutover's own log: the run directory's cutover.log and the tui-logger pane. No thread is
/// started for tui-logger: the app moves its events right before each draw.
fn init_logging(dir: &Path) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("cutover.log"))
        .ok()
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
        });
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file)
        .with(tui_logger::TuiTracingSubscriberLayer)
        .try_init();
}
