//! The checklist's rehearsal action in the reducer (the pgvector plan's checklist): `h` asks
//! the app to rehearse, Start waits while it runs, quitting says the teardown comes first, and
//! its end re-runs the `rehearsal` check; outside the checklist's phase it is refused.

mod tui_support;

use cutover::engine::{Command, EventKind};
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::{Effect, Msg};
use cutover::tui::rehearse::{Ended, Report};
use cutover::tui::state::Popup;
use cutover::tui::update::update;
use tui_support::*;

fn checklist() -> cutover::tui::State {
    let mut s = pgvector::checklist();
    s.rehearses = true;
    s
}

#[test]
fn h_rehearses_start_waits_and_the_end_rechecks_the_rehearsal_check() {
    let mut s = checklist();
    assert!(
        s.start_blockers()
            .iter()
            .all(|(item, _)| item != "rehearsal")
    );
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Rehearse)),
        Some(Effect::Rehearse)
    );
    assert!(s.rehearsal.as_ref().unwrap().running);
    // A second h while it runs starts nothing.
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Rehearse)), None);
    assert!(s.notice.as_deref().unwrap().contains("already running"));

    let blockers = s.start_blockers();
    assert!(
        blockers
            .iter()
            .any(|(item, why)| item == "rehearsal" && why.contains("running")),
        "{blockers:?}"
    );
    update(&mut s, Msg::Cmd(Cmd::Start));
    assert!(
        !matches!(s.popup, Some(Popup::Confirm(_))),
        "Start was asked while a rehearsal runs"
    );
    update(&mut s, Msg::Cmd(Cmd::Quit));
    let Some(Popup::Confirm(q)) = &s.popup else {
        panic!("no quit question")
    };
    assert!(
        q.lines.iter().any(|l| l.contains("torn down first")),
        "{q:?}"
    );
    update(&mut s, Msg::Cmd(Cmd::Dismiss));

    update(
        &mut s,
        Msg::Rehearsal(Report::Said("rehearsal: copying".into())),
    );
    assert_eq!(s.rehearsal.as_ref().unwrap().lines.len(), 1);
    let end = update(
        &mut s,
        Msg::Rehearsal(Report::Ended(Ok(Ended {
            passed: true,
            line: "Rehearsal passed on a copy of 0.01 GB: forecast".into(),
            left_behind: vec![],
        }))),
    );
    assert_eq!(
        end,
        Some(Effect::Send(Command::Recheck("rehearsal".into())))
    );
    assert!(!s.rehearsal.as_ref().unwrap().running);
    assert!(
        s.start_blockers()
            .iter()
            .all(|(item, _)| item != "rehearsal")
    );

    // The re-run check replaces its evidence: the old line goes when it starts again.
    update(
        &mut s,
        ev(
            30,
            EventKind::Log {
                step: "rehearsal".into(),
                line: "no rehearsal on record".into(),
            },
        ),
    );
    update(
        &mut s,
        ev(
            31,
            EventKind::StepStarted {
                step: "rehearsal".into(),
                title: "".into(),
                kind: cutover::engine::StepKind::Check,
                index: 0,
                total: 1,
            },
        ),
    );
    assert!(s.step("rehearsal").unwrap().evidence.is_empty());
}

#[test]
fn h_needs_a_rehearser_and_the_checklist_phase() {
    let mut s = pgvector::checklist();
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Rehearse)), None);
    assert!(s.rehearsal.is_none());
    let mut s = pgvector::running();
    s.rehearses = true;
    s.screen = cutover::tui::state::Screen::Checklist;
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Rehearse)), None);
    assert!(s.notice.as_deref().unwrap().contains("before the start"));
}

/// The panel while it runs (newest lines, the start box names it) and once it passed, at the
/// two sizes; lines wider than the terminal are cut, never wrapped into the start box.
#[test]
fn the_panel_running_and_passed() {
    let mut s = checklist();
    update(&mut s, Msg::Cmd(Cmd::Rehearse));
    for line in [
        "rehearsal: copying cotest (31 MB) from cotest-postgres with pg_basebackup",
        "rehearsal: copied 57 MB in 0.8 s; starting the copy on cutover-testbed/postgres-alpine-shaped:latest",
        "rehearsal: the upgrade, on the copy",
        "rehearsal:   Stop the writers (0.4 s)",
        "rehearsal:   Recreate postgres on the new image (2.1 s)",
    ] {
        update(&mut s, Msg::Rehearsal(Report::Said(line.into())));
    }
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("rehearsal_running_{w}x{h}"), render(&s, w, h));
    }
    update(
        &mut s,
        Msg::Rehearsal(Report::Ended(Ok(Ended {
            passed: true,
            line: "Rehearsal passed on a copy of 0.03 GB: forecast DB downtime 1.0 s, app 9.8 s, \
                   7 indexes to rebuild (0.1 s)"
                .into(),
            left_behind: vec![],
        }))),
    );
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("rehearsal_passed_{w}x{h}"), render(&s, w, h));
    }
}
