//! Headless front end: renders the runner's events as lines (or JSON objects) and turns
//! signals into commands. It never decides anything; the runner does.
//!
//! Progress is shown at most twice a second per step (the last tick always shows); every
//! step-level event is shown.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::engine::{CancelReason, Command, Event, EventKind, Finish};

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

pub struct Renderer {
    json: bool,
    t0: Instant,
    last_progress: HashMap<String, Instant>,
    titles: HashMap<String, String>,
}

impl Renderer {
    pub fn new(json: bool) -> Self {
        Self {
            json,
            t0: Instant::now(),
            last_progress: HashMap::new(),
            titles: HashMap::new(),
        }
    }

    /// The line for one event, or `None` if it is thinned out or shown only in the summary.
    pub fn render(&mut self, ev: &Event) -> Option<String> {
        if let EventKind::Progress {
            step,
            current,
            total,
            ..
        } = &ev.kind
        {
            let now = Instant::now();
            let last = total.is_some_and(|t| t == *current);
            if !last
                && self
                    .last_progress
                    .get(step)
                    .is_some_and(|t| now - *t < PROGRESS_EVERY)
            {
                return None;
            }
            self.last_progress.insert(step.clone(), now);
        }
        if self.json {
            return serde_json::to_string(ev).ok();
        }
        let t = format!("{:>7.1}s", self.t0.elapsed().as_secs_f64());
        let secs = |ms: &u64| format!("({:.1}s)", *ms as f64 / 1000.0);
        let line = match &ev.kind {
            EventKind::RunStarted {
                plan,
                run_dir,
                resumed,
            } => {
                let verb = if *resumed { "resuming" } else { "starting" };
                format!("{t}  {verb} plan {plan}; journal in {run_dir}")
            }
            EventKind::StepStarted {
                step,
                title,
                index,
                total,
                ..
            } => {
                self.titles.insert(step.clone(), title.clone());
                format!("{t}  [{}/{total}] {title} ...", index + 1)
            }
            EventKind::Progress {
                step,
                current,
                total,
                unit,
            } => {
                let of = total.map_or(String::new(), |t| format!("/{t}"));
                format!("{t}      {}: {current}{of} {unit}", self.title(step))
            }
            EventKind::Log { step, line } => format!("{t}      {step} | {line}"),
            EventKind::StepFinished {
                title,
                outcome,
                elapsed_ms,
                ..
            } => match outcome {
                Finish::Ok => format!("{t}  ok       {title} {}", secs(elapsed_ms)),
                Finish::Warning(m) => format!("{t}  WARNING  {title}: {m} {}", secs(elapsed_ms)),
                Finish::Skipped(m) => format!("{t}  skipped  {title}: {m} {}", secs(elapsed_ms)),
            },
            EventKind::StepFailed {
                title,
                error,
                elapsed_ms,
                ..
            } => {
                let mut s = format!(
                    "{t}  FAILED   {title}: {} {}",
                    error.message,
                    secs(elapsed_ms)
                );
                for c in &error.causes {
                    s.push_str(&format!("\n             caused by: {c}"));
                }
                s
            }
            EventKind::AwaitingStart { unsigned } if unsigned.is_empty() => {
                format!("{t}  pre-flight passed; every item is signed off")
            }
            EventKind::AwaitingStart { unsigned } => {
                format!("{t}  waiting for sign-off: {}", unsigned.join(", "))
            }
            EventKind::SignedOff { title, by, .. } => format!("{t}  signed   {title} (by {by})"),
            EventKind::Paused => format!("{t}  paused after the current step"),
            EventKind::RollbackStarted { reason } => format!("{t}  ROLLING BACK: {reason}"),
            EventKind::UndoStarted { title, .. } => format!("{t}  undoing  {title} ..."),
            EventKind::UndoFinished {
                title, elapsed_ms, ..
            } => {
                format!("{t}  undone   {title} {}", secs(elapsed_ms))
            }
            EventKind::UndoFailed {
                title,
                error,
                elapsed_ms,
                ..
            } => {
                let mut s = format!(
                    "{t}  UNDO FAILED {title}: {} {}",
                    error.message,
                    secs(elapsed_ms)
                );
                for c in &error.causes {
                    s.push_str(&format!("\n             caused by: {c}"));
                }
                s
            }
            EventKind::RunFinished { .. } => return None,
        };
        Some(line)
    }

    fn title<'a>(&'a self, step: &'a str) -> &'a str {
        self.titles.get(step).map_or(step, String::as_str)
    }
}

/// Whether an event is an error or a warning for the operator: such lines go to stderr (once;
/// the summary on stdout names the step without repeating the message). JSON output keeps
/// every event on stdout, unchanged, for scripts.
fn is_problem(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::StepFailed { .. }
            | EventKind::UndoFailed { .. }
            | EventKind::RollbackStarted { .. }
            | EventKind::StepFinished {
                outcome: Finish::Warning(_),
                ..
            }
    )
}

/// Prints events until the runner drops its sender, and logs the steps' lines.
pub async fn print_events(mut events: UnboundedReceiver<Event>, json: bool) {
    let mut r = Renderer::new(json);
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    while let Some(ev) = events.recv().await {
        // Step log lines also go to the run's cutover.log, as the TUI's do (already redacted).
        if let EventKind::Log { step, line } = &ev.kind {
            tracing::info!(target: "step", "{step}: {line}");
        }
        if let Some(line) = r.render(&ev) {
            // Errors and summaries can quote a secret value (a URL, a server message).
            let line = crate::secrets::hide(&line);
            if !json && is_problem(&ev.kind) {
                let _ = out.flush();
                let _ = writeln!(err, "{line}");
            } else {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
}

/// SIGINT/SIGTERM → `Cancel(Signal)`; a second one → `Cancel(SecondSignal)`.
pub fn forward_signals(
    commands: UnboundedSender<Command>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            count += 1;
            let reason = if count == 1 {
                eprintln!(
                    "cutover: interrupt: stopping the current step safely (interrupt again to abandon it)"
                );
                CancelReason::Signal
            } else {
                eprintln!(
                    "cutover: second interrupt: abandoning the current step; it stays uncertain in the journal"
                );
                CancelReason::SecondSignal
            };
            if commands.send(Command::Cancel(reason)).is_err() {
                return;
            }
        }
    }))
}
