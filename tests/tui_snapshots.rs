//! Every screen at 80×24 and 120×40, in normal and failure states, rendered with TestBackend
//! from states built by feeding the reducer engine events at fixed instants. Reviewed
//! snapshots live in tests/snapshots/.

mod tui_support;

use cutover::tui::containers::{ContainerInfo, LogEntry};
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::Msg;
use cutover::tui::state::Screen;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snap(name: &str, s: &cutover::tui::State) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(s, w, h));
    }
}

fn with_containers(s: &mut cutover::tui::State) {
    let c = |svc: &str, img: &str, ver: &str| ContainerInfo {
        name: format!("privexbot-{svc}-1"),
        service: svc.into(),
        image: img.into(),
        state: "running".into(),
        health: "healthy".into(),
        version: ver.into(),
    };
    s.containers = vec![
        c("postgres", "postgres:16-alpine", "16.4"),
        c("backend", "privexbot/backend:1.8", "1.8"),
        c("redis", "redis:7", "7.2"),
    ];
    s.outputs.insert(
        "check-world".into(),
        serde_json::json!({"database_size_bytes": 1_288_490_188u64, "free_disk_bytes": 44_238_026_752u64, "libc": "musl → glibc"}),
    );
    s.logs.capacity = 5;
    s.logs.selected = Some(0);
    for i in 0..8 {
        s.logs.push(
            "privexbot-postgres-1",
            LogEntry {
                at: Some(at(i)),
                stderr: i == 7,
                text: format!("LOG:  checkpoint {i} complete"),
                note: false,
            },
        );
    }
}

#[test]
fn overview() {
    let mut s = awaiting();
    s.screen = Screen::Overview;
    snap("overview_empty", &s);
    with_containers(&mut s);
    snap("overview_stack", &s);
}

#[test]
fn checklist() {
    let mut s = awaiting();
    snap("checklist_unsigned", &s);
    let mut failed = state();
    feed(
        &mut failed,
        [
            ev(
                0,
                cutover::engine::EventKind::StepStarted {
                    step: "check-compose".into(),
                    title: "".into(),
                    kind: cutover::engine::StepKind::Check,
                    index: 0,
                    total: 8,
                },
            ),
            ev(
                1,
                cutover::engine::EventKind::StepFailed {
                    step: "check-compose".into(),
                    title: "".into(),
                    error: cutover::engine::StepError::new("compose file is not readable")
                        .with_cause("No such file or directory (os error 2)"),
                    elapsed_ms: 5,
                },
            ),
            ev(
                1,
                cutover::engine::EventKind::RunFinished {
                    outcome: cutover::engine::RunOutcome::PreflightFailed {
                        step: "check-compose".into(),
                    },
                },
            ),
        ],
    );
    failed.screen = Screen::Checklist;
    snap("checklist_preflight_failed", &failed);
    feed(&mut s, [Msg::Cmd(Cmd::SignOff)]);
    snap("checklist_name_prompt", &s);
}

#[test]
fn run_screen() {
    let mut s = running();
    with_containers(&mut s);
    snap("run_backup_in_progress", &s);
    feed(&mut s, [Msg::Cmd(Cmd::Rollback)]);
    snap("run_rollback_confirm", &s);
    let mut f = rolled_back();
    f.screen = Screen::Run;
    snap("run_rolled_back", &f);
}

#[test]
fn result_screen() {
    let s = rolled_back();
    snap("result_rolled_back", &s);
    let mut done = running();
    feed(
        &mut done,
        [
            ev(
                30,
                cutover::engine::EventKind::StepFinished {
                    step: "backup".into(),
                    title: "".into(),
                    outcome: cutover::engine::Finish::Ok,
                    elapsed_ms: 16000,
                },
            ),
            ev(
                40,
                cutover::engine::EventKind::RunFinished {
                    outcome: cutover::engine::RunOutcome::Done,
                },
            ),
        ],
    );
    done.outputs.insert(
        "fingerprint".into(),
        serde_json::json!({"before": {"users rows": 1204, "server_version": "16.4"}, "after": {"users rows": 1204, "server_version": "16.6"}, "db_downtime_ms": 48200}),
    );
    done.outputs.insert("backup".into(), serde_json::json!({"path": "/srv/privexbot/.cutover/runs/R1/backup.dump", "sha256": "ab12"}));
    snap("result_done", &done);
}

#[test]
fn overlays_and_small_terminals() {
    let mut s = running();
    feed(&mut s, [Msg::Cmd(Cmd::Help)]);
    snap("help_overlay", &s);
    let s = running();
    insta::assert_snapshot!("too_small_79x24", render(&s, 79, 24));
    insta::assert_snapshot!("too_small_40x10", render(&s, 40, 10));
    // Every size from tiny to large draws without panicking.
    for w in [1, 10, 79, 80, 81, 100, 200] {
        for h in [1, 5, 23, 24, 25, 60] {
            for screen in Screen::ALL {
                let mut s = rolled_back();
                s.screen = screen;
                let _ = render(&s, w, h);
            }
        }
    }
}
