//! Reducer tests: state + message → state + effect, with engine events at fixed instants.

mod tui_support;

use cutover::engine::{CancelReason, Command, EventKind, RunOutcome};
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::{Effect, Msg};
use cutover::tui::state::{Ask, Phase, Popup, Screen, Status};
use cutover::tui::update::update;
use tui_support::*;

#[test]
fn the_name_is_asked_once_and_sent_with_every_sign_off() {
    let mut s = awaiting();
    assert_eq!(s.cursor, 2, "the cursor starts on the first unsigned item");
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::SignOff)), None);
    assert!(matches!(s.popup, Some(Popup::Name { .. })));
    for c in "Alice".chars() {
        update(&mut s, Msg::Char(c));
    }
    let eff = update(&mut s, Msg::Cmd(Cmd::Accept));
    assert_eq!(
        eff,
        Some(Effect::Send(Command::SignOff {
            item: "window-announced".into(),
            by: "Alice".into()
        }))
    );
    feed(
        &mut s,
        [ev(
            5,
            EventKind::SignedOff {
                step: "window-announced".into(),
                title: "".into(),
                by: "Alice".into(),
            },
        )],
    );
    update(&mut s, Msg::Cmd(Cmd::Down));
    let eff = update(&mut s, Msg::Cmd(Cmd::SignOff));
    assert_eq!(
        eff,
        Some(Effect::Send(Command::SignOff {
            item: "owner-approval".into(),
            by: "Alice".into()
        }))
    );
    assert!(s.popup.is_none(), "no second name prompt");
}

#[test]
fn start_is_refused_with_reasons_until_every_item_is_signed() {
    let mut s = awaiting();
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Start)), None);
    assert!(s.popup.is_none());
    assert!(s.notice.as_deref().unwrap().contains("cannot start"));
    let reasons = s.start_blockers();
    assert_eq!(reasons.len(), 2);
    assert!(reasons.iter().all(|(_, why)| why == "not signed off yet"));
    feed(
        &mut s,
        [
            ev(
                5,
                EventKind::SignedOff {
                    step: "window-announced".into(),
                    title: "".into(),
                    by: "A".into(),
                },
            ),
            ev(
                6,
                EventKind::SignedOff {
                    step: "owner-approval".into(),
                    title: "".into(),
                    by: "A".into(),
                },
            ),
            ev(6, EventKind::AwaitingStart { unsigned: vec![] }),
        ],
    );
    assert!(s.start_blockers().is_empty());
    update(&mut s, Msg::Cmd(Cmd::Start));
    assert!(matches!(&s.popup, Some(Popup::Confirm(q)) if q.ask == Ask::Start));
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::Send(Command::Start))
    );
}

#[test]
fn rollback_asks_and_says_what_will_be_undone_newest_first() {
    let mut s = running();
    assert_eq!(s.screen, Screen::Run);
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Rollback)), None);
    let Some(Popup::Confirm(q)) = &s.popup else {
        panic!("no question")
    };
    let undo: Vec<_> = q.lines.iter().filter(|l| l.contains('↶')).collect();
    assert_eq!(undo, ["  ↶ Take the backup", "  ↶ Stop the writers"]);
    assert!(q.lines[0].contains("is running: it finishes first"));
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Dismiss)), None);
    update(&mut s, Msg::Cmd(Cmd::Rollback));
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::Send(Command::Rollback))
    );
}

#[test]
fn clicking_the_button_is_the_rollback_key() {
    let mut s = running();
    update(
        &mut s,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    update(&mut s, Msg::Click { col: 99, row: 0 });
    assert!(matches!(&s.popup, Some(Popup::Confirm(q)) if q.ask == Ask::Rollback));
    let mut s = running();
    update(&mut s, Msg::Click { col: 5, row: 0 });
    assert!(s.popup.is_none());
}

#[test]
fn quit_during_a_run_asks_then_stops_then_leaves_when_the_run_ends() {
    let mut s = running();
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Quit)), None);
    assert!(matches!(&s.popup, Some(Popup::Confirm(q)) if q.ask == Ask::Quit));
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::Send(Command::Cancel(CancelReason::Quit)))
    );
    let eff = feed(
        &mut s,
        [ev(
            30,
            EventKind::RunFinished {
                outcome: RunOutcome::Interrupted {
                    reason: "Quit".into(),
                },
            },
        )],
    );
    assert_eq!(eff, [Effect::Quit]);
}

#[test]
fn a_second_ctrl_c_escalates_and_after_the_run_q_just_leaves() {
    let mut s = running();
    update(&mut s, Msg::Cmd(Cmd::Interrupt));
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Interrupt)),
        Some(Effect::Send(Command::Cancel(CancelReason::Signal)))
    );
    let mut done = rolled_back();
    assert_eq!(done.screen, Screen::Result);
    assert_eq!(update(&mut done, Msg::Cmd(Cmd::Quit)), Some(Effect::Quit));
}

#[test]
fn engine_events_drive_step_states_and_the_spinner_tick() {
    let s = running();
    assert!(matches!(
        s.step("backup").unwrap().status,
        Status::Running { .. }
    ));
    assert!(s.needs_tick());
    let s = rolled_back();
    assert_eq!(s.step("stop-writers").unwrap().status, Status::Undone);
    assert!(matches!(
        s.phase,
        Phase::Finished(RunOutcome::RolledBack { .. })
    ));
    assert!(!s.needs_tick(), "nothing animates when idle");
}

#[test]
fn container_switching_follows_and_search_scrolls_back() {
    let mut s = running();
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::NextContainer)), None);
    assert_eq!(s.notice.as_deref(), Some("no containers discovered"));
    s.containers = ["pg", "qdrant"]
        .iter()
        .map(|n| cutover::tui::containers::ContainerInfo {
            name: n.to_string(),
            service: n.to_string(),
            image: String::new(),
            state: String::new(),
            health: String::new(),
            version: String::new(),
        })
        .collect();
    s.logs.selected = Some(0);
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::NextContainer)),
        Some(Effect::Follow(Some("qdrant".into())))
    );
    for t in ["ready", "error: x", "ok", "ok"] {
        update(
            &mut s,
            Msg::ContainerLog {
                container: "qdrant".into(),
                entry: cutover::tui::containers::LogEntry {
                    at: None,
                    stderr: false,
                    text: t.into(),
                    note: false,
                },
            },
        );
    }
    update(&mut s, Msg::Cmd(Cmd::Search));
    for c in "error".chars() {
        update(&mut s, Msg::Char(c));
    }
    update(&mut s, Msg::Cmd(Cmd::Accept));
    assert_eq!(s.logs.scroll, 2);
    assert!(!s.logs.follow, "reading back pauses following");
    update(&mut s, Msg::Cmd(Cmd::Bottom));
    assert!(s.logs.follow);
}
