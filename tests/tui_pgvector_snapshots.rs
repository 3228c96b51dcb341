//! The wizard's screens on the REAL pgvector plan (built from the test bed's compose file,
//! without Docker), at 80×24 and 120×40: the checklist with one item left to sign, the run
//! screen during the backup (gauge, container logs from the real discovery type), the help
//! overlay at 80×24 (scrolls, nothing cut off), and the Result screen with the plan's figures.
//! States come from synthetic engine events built from the plan's own step metadata
//! (tests/tui_support/pgvector.rs). After a rollback started from the Result screen, the screen
//! shows the rollback's own figures; at 80×24 a table name that cannot fit shows its end.

mod tui_support;

use cutover::adapters::fingerprint::TableFingerprint;
use cutover::engine::EventKind;
use cutover::engine::RunOutcome;
use cutover::tui::State;
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::Msg;
use cutover::tui::state::Screen;
use tui_support::pgvector::{checklist, done, rolled_back_from_result, running};
use tui_support::{ev, feed, render};

fn snap(name: &str, s: &State) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(s, w, h));
    }
}

#[test]
fn real_plan_checklist_and_run() {
    let s = checklist();
    snap("pgvector_checklist", &s);
    let mut r = running();
    assert_eq!(r.screen, Screen::Run);
    snap("pgvector_run_backup", &r);
    feed(&mut r, [Msg::Cmd(Cmd::Rollback)]);
    snap("pgvector_run_rollback_confirm", &r);
}

#[test]
fn help_scrolls_at_80x24() {
    let mut s = running();
    feed(&mut s, [Msg::Cmd(Cmd::Help)]);
    insta::assert_snapshot!("pgvector_help_top_80x24", render(&s, 80, 24));
    feed(&mut s, (0..10).map(|_| Msg::Cmd(Cmd::ScrollDown)));
    insta::assert_snapshot!("pgvector_help_bottom_80x24", render(&s, 80, 24));
}

#[test]
fn result_with_the_plans_figures_and_its_questions() {
    let mut s = done();
    assert_eq!(s.screen, Screen::Result);
    snap("pgvector_result_done", &s);
    feed(&mut s, [Msg::Cmd(Cmd::Finalize)]);
    snap("pgvector_result_finalize_confirm", &s);
    feed(&mut s, [Msg::Cmd(Cmd::Dismiss), Msg::Cmd(Cmd::Rollback)]);
    snap("pgvector_result_rollback_confirm", &s);
    // Rolled back from there: the figures are labelled as the undone run's, not the stack's.
    feed(
        &mut s,
        [
            Msg::Cmd(Cmd::Accept),
            ev(
                90,
                EventKind::RunFinished {
                    outcome: RunOutcome::RolledBack {
                        reason: "the operator rolled back the finished upgrade".into(),
                    },
                },
            ),
        ],
    );
    snap("pgvector_result_rolled_back", &s);
}

#[test]
fn result_after_a_rollback_from_the_result_screen_shows_the_rollback() {
    let s = rolled_back_from_result();
    assert_eq!(s.screen, Screen::Result);
    snap("pgvector_result_rollback_facts", &s);
    let text = render(&s, 120, 40);
    for shown in [
        "path: fast",
        "wall time: 13.0s",
        "undone: portable-dump, start-writers",
        "resumed at checkpoint",
        "users: +12 rows written while the upgrade stood, kept",
        "2 pre-existing tables as expected",
    ] {
        assert!(
            text.contains(shown),
            "the Result screen does not show {shown:?}:\n{text}"
        );
    }
}

#[test]
fn table_names_fit_where_they_can_and_show_their_end_where_they_cannot() {
    let mut s = done();
    let long = "organisation_auth_identities";
    if let Some(fig) = s.figures.as_mut() {
        for fp in [
            &mut fig.facts.fingerprint_before,
            &mut fig.facts.fingerprint_after,
        ] {
            fp.as_mut().unwrap().tables.insert(
                long.into(),
                TableFingerprint {
                    rows: 31,
                    checksum: "77".into(),
                },
            );
        }
    }
    insta::assert_snapshot!("pgvector_result_long_names_80x24", render(&s, 80, 24));
    let small = render(&s, 80, 24);
    // knowledge_bases fits once the number columns take only what they hold.
    assert!(small.contains("knowledge_bases"), "{small}");
    let cut = small
        .lines()
        .find(|l| l.contains("_identities"))
        .unwrap_or("");
    assert!(
        cut.contains("…") && cut.contains("auth_identities 31"),
        "{small}"
    );
    assert!(!small.contains("organisation_auth"), "{small}");
    assert!(render(&s, 120, 40).contains(long));
}
