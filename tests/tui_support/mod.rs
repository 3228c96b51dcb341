//! Shared by the TUI tests: the scripted plan's state, engine events at fixed instants (the
//! injected clock), and rendering a state to text with ratatui's TestBackend.

#![allow(dead_code)]

pub mod assets;
pub mod pgvector;
pub mod svg;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cutover::engine::{Event, EventKind, Finish, RunOutcome, StepError, StepKind};
use cutover::tui::State;
use cutover::tui::msg::{Effect, Msg};
use cutover::tui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap()
}

pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

pub fn state() -> State {
    let plan = cutover::plans::scripted::plan(
        "/srv/privexbot/compose.yaml".into(),
        "/srv/privexbot/scripted-world".into(),
        Default::default(),
    )
    .unwrap();
    State::new(&plan, "privexbot", t0())
}

pub fn ev(secs: i64, kind: EventKind) -> Msg {
    Msg::Engine(Event { at: at(secs), kind })
}

pub fn feed(s: &mut State, msgs: impl IntoIterator<Item = Msg>) -> Vec<Effect> {
    msgs.into_iter().filter_map(|m| update(s, m)).collect()
}

fn started(secs: i64, step: &str, kind: StepKind, index: usize) -> Msg {
    ev(
        secs,
        EventKind::StepStarted {
            step: step.into(),
            title: step.into(),
            kind,
            index,
            total: 8,
        },
    )
}

fn ok(secs: i64, step: &str, ms: u64) -> Msg {
    ev(
        secs,
        EventKind::StepFinished {
            step: step.into(),
            title: step.into(),
            outcome: Finish::Ok,
            elapsed_ms: ms,
        },
    )
}

/// Pre-flight done; both items unsigned.
pub fn awaiting() -> State {
    let mut s = state();
    feed(
        &mut s,
        [
            ev(
                0,
                EventKind::RunStarted {
                    plan: "scripted".into(),
                    run_dir: "/srv/privexbot/.cutover/runs/R1".into(),
                    resumed: false,
                },
            ),
            started(0, "check-compose", StepKind::Check, 0),
            ev(
                0,
                EventKind::Log {
                    step: "check-compose".into(),
                    line: "compose file /srv/privexbot/compose.yaml: 3 services, 2 volumes".into(),
                },
            ),
            ok(1, "check-compose", 120),
            started(1, "check-world", StepKind::Check, 1),
            ev(
                1,
                EventKind::Log {
                    step: "check-world".into(),
                    line: "free: 41.2 GiB at /srv/privexbot (need 6.0 GiB)".into(),
                },
            ),
            ev(
                2,
                EventKind::StepFinished {
                    step: "check-world".into(),
                    title: "".into(),
                    outcome: Finish::Warning("disk is 82% full".into()),
                    elapsed_ms: 900,
                },
            ),
            ev(
                2,
                EventKind::AwaitingStart {
                    unsigned: vec!["window-announced".into(), "owner-approval".into()],
                },
            ),
            Msg::Tick(at(3)),
        ],
    );
    s
}

/// Signed, started, backup running with progress.
pub fn running() -> State {
    let mut s = awaiting();
    feed(
        &mut s,
        [
            ev(
                10,
                EventKind::SignedOff {
                    step: "window-announced".into(),
                    title: "".into(),
                    by: "Alice".into(),
                },
            ),
            ev(
                11,
                EventKind::SignedOff {
                    step: "owner-approval".into(),
                    title: "".into(),
                    by: "Alice".into(),
                },
            ),
            started(12, "stop-writers", StepKind::Action, 4),
            ok(14, "stop-writers", 2100),
            started(14, "backup", StepKind::Action, 5),
            ev(
                15,
                EventKind::Progress {
                    step: "backup".into(),
                    current: 10 << 20,
                    total: Some(100 << 20),
                    unit: "bytes".into(),
                },
            ),
            ev(
                19,
                EventKind::Progress {
                    step: "backup".into(),
                    current: 50 << 20,
                    total: Some(100 << 20),
                    unit: "bytes".into(),
                },
            ),
            Msg::Tick(at(20)),
        ],
    );
    s
}

/// The backup failed and the rollback undid the first action.
pub fn rolled_back() -> State {
    let mut s = running();
    feed(
        &mut s,
        [
            ev(
                21,
                EventKind::StepFailed {
                    step: "backup".into(),
                    title: "".into(),
                    error: StepError::new("pg_dump exited 1").with_cause("disk full"),
                    elapsed_ms: 7000,
                },
            ),
            ev(
                21,
                EventKind::RollbackStarted {
                    reason: "step backup failed".into(),
                },
            ),
            ev(
                21,
                EventKind::UndoStarted {
                    step: "backup".into(),
                    title: "".into(),
                },
            ),
            ev(
                22,
                EventKind::UndoFinished {
                    step: "backup".into(),
                    title: "".into(),
                    elapsed_ms: 300,
                },
            ),
            ev(
                22,
                EventKind::UndoStarted {
                    step: "stop-writers".into(),
                    title: "".into(),
                },
            ),
            ev(
                24,
                EventKind::UndoFinished {
                    step: "stop-writers".into(),
                    title: "".into(),
                    elapsed_ms: 2000,
                },
            ),
            ev(
                24,
                EventKind::RunFinished {
                    outcome: RunOutcome::RolledBack {
                        reason: "step backup failed".into(),
                    },
                },
            ),
            Msg::Tick(at(25)),
        ],
    );
    s
}

pub fn render(s: &State, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| cutover::tui::views::draw(s, f)).unwrap();
    format!("{}", term.backend())
}
