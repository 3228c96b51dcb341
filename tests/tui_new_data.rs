//! The rollback question and the new version's data, in the reducer (the real wizard does the
//! same against the test bed in tests/tui_pgvector_pty.rs): with a plan that can count them,
//! `R` counts first and asks after; rows found make the question say they are dropped, with
//! the counts, on its first lines (a long question is cut above the y/n line, never these);
//! "yes" then records the consent before the rollback starts; "no" changes nothing. Beside
//! them, the other question the rehearsal feeds: Start shows the rehearsal's forecast.

mod tui_support;

use cutover::engine::Command;
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::{Effect, Msg};
use cutover::tui::state::{Ask, Popup, Question};
use cutover::tui::update::update;
use cutover::upgrade::rollback::new_data::NewData;
use tui_support::pgvector::done;
use tui_support::render;

fn rows(counts: &[(&str, i64)]) -> Result<Option<NewData>, String> {
    Ok(Some(NewData {
        counts: counts.iter().map(|(t, n)| (t.to_string(), *n)).collect(),
        dump: None,
        discarded: false,
    }))
}

fn question(s: &cutover::tui::State) -> Question {
    match &s.popup {
        Some(Popup::Confirm(q)) => q.clone(),
        other => panic!("no question open: {other:?}"),
    }
}

#[test]
fn rows_found_are_named_first_and_yes_records_the_consent_before_the_rollback() {
    let mut s = done();
    s.counts_new_data = true;
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Rollback)),
        Some(Effect::CountNewData { finished: true })
    );
    assert!(s.popup.is_none(), "nothing is asked before the count");
    assert!(s.notice.as_deref().unwrap().contains("counting"));

    update(
        &mut s,
        Msg::NewDataCounted {
            finished: true,
            counted: rows(&[("chunks", 3), ("documents", 1), ("knowledge_bases", 1)]),
        },
    );
    let q = question(&s);
    assert_eq!(q.ask, Ask::RollbackFinishedDiscarding);
    assert!(q.title.contains("DROP"), "{}", q.title);
    assert_eq!(
        q.lines[0],
        "The new version received 5 rows: chunks 3, documents 1, knowledge_bases 1."
    );
    // At 80×24 the question is cut, but above the y/n line and below the counts.
    let screen = render(&s, 80, 24);
    assert!(screen.contains("chunks 3, documents 1"), "{screen}");
    assert!(
        screen.contains("more lines") && screen.contains(" y "),
        "{screen}"
    );

    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::DiscardNewData { finished: true })
    );
    assert!(s.rollback_requested);
}

#[test]
fn no_keeps_the_upgrade_and_no_rows_asks_the_plain_question() {
    let mut s = done();
    s.counts_new_data = true;
    update(&mut s, Msg::Cmd(Cmd::Rollback));
    update(
        &mut s,
        Msg::NewDataCounted {
            finished: true,
            counted: rows(&[("chunks", 2)]),
        },
    );
    assert_eq!(update(&mut s, Msg::Cmd(Cmd::Dismiss)), None);
    assert!(s.popup.is_none() && !s.rollback_requested);

    // Empty tables: the usual question, which says so; yes is the plain rollback.
    update(&mut s, Msg::Cmd(Cmd::Rollback));
    update(
        &mut s,
        Msg::NewDataCounted {
            finished: true,
            counted: rows(&[("chunks", 0), ("documents", 0)]),
        },
    );
    let q = question(&s);
    assert_eq!(q.ask, Ask::RollbackFinished);
    assert!(
        q.lines
            .contains(&"New-version data: none (chunks 0, documents 0).".to_string()),
        "{:?}",
        q.lines
    );
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::RollbackFinished)
    );
}

#[test]
fn a_count_that_failed_is_said_and_the_password_is_not() {
    cutover::secrets::register("s3cr3t-pw");
    let mut s = done();
    s.counts_new_data = true;
    update(&mut s, Msg::Cmd(Cmd::Rollback));
    update(
        &mut s,
        Msg::NewDataCounted {
            finished: true,
            counted: Err("connecting to postgres://privexbot:s3cr3t-pw@db/x: refused".into()),
        },
    );
    let q = question(&s);
    assert_eq!(q.ask, Ask::RollbackFinished, "nothing consented");
    assert!(q.lines[0].starts_with("Could not count"), "{:?}", q.lines);
    assert!(!q.lines.join("\n").contains("s3cr3t-pw"), "{:?}", q.lines);
}

#[test]
fn during_the_run_the_count_comes_first_too() {
    let mut s = tui_support::running();
    s.counts_new_data = true;
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Rollback)),
        Some(Effect::CountNewData { finished: false })
    );
    update(
        &mut s,
        Msg::NewDataCounted {
            finished: false,
            counted: rows(&[("chunks", 4)]),
        },
    );
    assert_eq!(question(&s).ask, Ask::RollbackDiscarding);
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::DiscardNewData { finished: false })
    );
    // Without a plan that counts, the question is asked at once, as before.
    let mut s = tui_support::running();
    update(&mut s, Msg::Cmd(Cmd::Rollback));
    assert_eq!(question(&s).ask, Ask::Rollback);
    assert_eq!(
        update(&mut s, Msg::Cmd(Cmd::Accept)),
        Some(Effect::Send(Command::Rollback))
    );
}

#[test]
fn the_start_question_shows_the_rehearsals_forecast() {
    use cutover::engine::EventKind;
    let mut s = tui_support::pgvector::checklist();
    let line = "Rehearsal passed at 2026-12-05 02:55 UTC on a copy of 1.07 GB: forecast: DB \
                downtime 0.6 s, app downtime 18.6 s";
    tui_support::feed(
        &mut s,
        [
            tui_support::ev(
                40,
                EventKind::Log {
                    step: "rehearsal".into(),
                    line: line.into(),
                },
            ),
            tui_support::ev(
                41,
                EventKind::SignedOff {
                    step: "window-agreed".into(),
                    title: "".into(),
                    by: "Ann Example".into(),
                },
            ),
        ],
    );
    update(&mut s, Msg::Cmd(Cmd::Start));
    let q = question(&s);
    assert_eq!(q.ask, Ask::Start);
    assert!(q.lines.iter().any(|l| l == line), "{:?}", q.lines);
}
