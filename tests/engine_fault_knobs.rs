//! The engine's fault knobs on the real binary (scripted plan, no Docker): an action that
//! fails AFTER its change is undone by the rollback, automatic or `cutover rollback`; an undo
//! that fails halfway stops the rollback (exit 3) and the next `cutover rollback` finishes it.

mod scripted_support;

use scripted_support::{SIGN, ScriptedStack as Stack, text};

fn run_yes<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--yes"];
    v.extend_from_slice(&SIGN);
    v.extend_from_slice(extra);
    v
}

fn journal_types(s: &Stack, step: &str) -> Vec<String> {
    s.journal()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["step"] == step)
        .map(|v| v["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn an_action_failing_after_its_change_is_undone_by_the_automatic_rollback() {
    let s = Stack::new();
    let mut cmd = s.cmd(&run_yes(&[]), "");
    let out = cmd
        .env("CUTOVER_FAULT", "fail-after-change:backup")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("step backup fails after its change"),
        "{}",
        text(&out)
    );
    // The change was made (the run went all the way) and was undone.
    assert_eq!(
        s.effects(),
        [
            "run stop-writers",
            "run backup",
            "undo backup",
            "undo stop-writers"
        ]
    );
    assert!(s.markers().is_empty(), "{:?}", s.markers());
    assert_eq!(
        journal_types(&s, "backup"),
        [
            "step_started",
            "step_output",
            "step_failed",
            "undo_started",
            "undo_finished"
        ]
    );
}

#[test]
fn an_action_failing_after_its_change_is_undone_by_cutover_rollback() {
    let s = Stack::new();
    let mut cmd = s.cmd(&run_yes(&["--no-auto-rollback"]), "");
    let out = cmd
        .env("CUTOVER_FAULT", "fail-after-change:swap-image")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
    let out = s.run(&["rollback", "--yes"], "");
    assert!(
        out.status.code() == Some(0),
        "a completed rollback exits 0: {}",
        text(&out)
    );
    assert!(s.markers().is_empty(), "{:?}", s.markers());
    assert_eq!(
        s.effects()[3..],
        ["undo swap-image", "undo backup", "undo stop-writers"]
    );
}

#[test]
fn an_undo_failing_halfway_is_finished_by_the_next_rollback() {
    let s = Stack::new();
    let mut cmd = s.cmd(&run_yes(&[]), "");
    // backup's undo removes its marker, then fails at its first log line.
    let out = cmd
        .env(
            "CUTOVER_FAULT",
            "fail-after-change:swap-image,fail-in-undo:backup:1",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("the undo of backup fails at its point 1"),
        "{}",
        text(&out)
    );
    // Half done: the marker is gone, the effect was never recorded, stop-writers not undone.
    assert_eq!(s.markers(), ["stop-writers"]);
    assert_eq!(
        s.effects(),
        [
            "run stop-writers",
            "run backup",
            "run swap-image",
            "undo swap-image"
        ]
    );
    assert_eq!(
        journal_types(&s, "backup").last().map(String::as_str),
        Some("undo_failed")
    );

    let out = s.run(&["rollback", "--yes"], "");
    assert!(
        out.status.code() == Some(0),
        "a completed rollback exits 0: {}",
        text(&out)
    );
    assert!(s.markers().is_empty(), "{:?}", s.markers());
    assert_eq!(s.effects()[4..], ["undo backup", "undo stop-writers"]);
}
