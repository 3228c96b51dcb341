//! Engine scenarios on the scripted plan, in-process: order, rollback on failure, failing
//! undo, timeouts, and a crash at every journal boundary followed by resume or rollback.

use std::path::{Path, PathBuf};

use cutover::engine::journal::JOURNAL_FILE;
use cutover::engine::{Command, Journal, Policy, RunOutcome, Runner};
use cutover::plans::scripted::{self, Knobs};
use tokio::sync::mpsc::unbounded_channel;

struct Bed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Bed {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::write(root.join("compose.yaml"), "services: {}\n").unwrap();
        Self { _tmp: tmp, root }
    }
    fn world(&self) -> PathBuf {
        self.root.join("world")
    }
    fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    fn effects(&self) -> Vec<String> {
        std::fs::read_to_string(self.world().join("effects.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
    fn markers(&self) -> Vec<&'static str> {
        ["stop-writers", "backup", "swap-image"]
            .into_iter()
            .filter(|m| self.world().join(m).exists())
            .collect()
    }
}

fn start_commands() -> Vec<Command> {
    vec![
        Command::SignOff {
            item: "window-announced".into(),
            by: "Alice".into(),
        },
        Command::SignOff {
            item: "owner-approval".into(),
            by: "Bob".into(),
        },
        Command::Start,
    ]
}

enum Go {
    Run,
    Rollback,
}

async fn go(
    bed: &Bed,
    knobs: &Knobs,
    journal: Journal,
    policy: Policy,
    how: Go,
) -> anyhow::Result<RunOutcome> {
    let plan = scripted::plan(bed.root.join("compose.yaml"), bed.world(), knobs.clone()).unwrap();
    let (ev_tx, mut ev_rx) = unbounded_channel();
    let (cmd_tx, cmd_rx) = unbounded_channel();
    for c in start_commands() {
        cmd_tx.send(c).unwrap();
    }
    // Keep the command channel open for the whole run, as a front end would.
    let drain = tokio::spawn(async move { while ev_rx.recv().await.is_some() {} });
    let runner = Runner::new(plan, journal, ev_tx, cmd_rx, policy);
    let out = match how {
        Go::Run => runner.run("test").await,
        Go::Rollback => runner.rollback("test", "test rollback", false).await,
    };
    drop(cmd_tx);
    drain.await.unwrap();
    out
}

async fn fresh(bed: &Bed, spec: &str, policy: Policy) -> anyhow::Result<RunOutcome> {
    let journal = Journal::create(&bed.run_dir()).unwrap();
    go(bed, &Knobs::parse(spec).unwrap(), journal, policy, Go::Run).await
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(JOURNAL_FILE))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn runs_steps_in_plan_order() {
    let bed = Bed::new();
    let out = fresh(&bed, "", Policy::default()).await.unwrap();
    assert_eq!(out, RunOutcome::Done);
    assert_eq!(
        bed.effects(),
        ["run stop-writers", "run backup", "run swap-image"]
    );
    let (state, _) = Journal::read(&bed.run_dir()).unwrap();
    assert_eq!(
        state.steps["owner-approval"].signed_by.as_deref(),
        Some("Bob")
    );
}

/// The failed action may have changed something before it failed: its undo runs first (and
/// finds nothing here, the scripted `fail` knob fails before the change), then the completed
/// ones, newest first.
#[tokio::test]
async fn failure_undoes_the_failed_action_then_the_completed_ones_in_reverse() {
    let bed = Bed::new();
    let out = fresh(&bed, "fail=swap-image", Policy::default())
        .await
        .unwrap();
    assert!(matches!(out, RunOutcome::RolledBack { .. }), "{out:?}");
    assert_eq!(
        bed.effects(),
        [
            "run stop-writers",
            "run backup",
            "undo swap-image",
            "undo backup",
            "undo stop-writers"
        ]
    );
    assert!(bed.markers().is_empty());
}

/// A failed check changed nothing: nothing of it is undone, only the actions before it.
#[tokio::test]
async fn a_failed_check_after_the_actions_has_no_undo() {
    let bed = Bed::new();
    let out = fresh(&bed, "fail=verify", Policy::default()).await.unwrap();
    assert!(matches!(out, RunOutcome::RolledBack { .. }), "{out:?}");
    assert_eq!(
        bed.effects(),
        [
            "run stop-writers",
            "run backup",
            "run swap-image",
            "undo swap-image",
            "undo backup",
            "undo stop-writers"
        ]
    );
    let (state, _) = Journal::read(&bed.run_dir()).unwrap();
    assert!(state.steps["verify"].undo_started_at.is_none());
}

#[tokio::test]
async fn a_failing_undo_stops_the_rollback() {
    let bed = Bed::new();
    let out = fresh(&bed, "fail=swap-image,fail_undo=backup", Policy::default())
        .await
        .unwrap();
    assert_eq!(
        out,
        RunOutcome::RollbackFailed {
            step: "backup".into()
        }
    );
    // stop-writers was not undone: the rollback did not guess past the failed undo.
    assert_eq!(
        bed.effects(),
        ["run stop-writers", "run backup", "undo swap-image"]
    );
    assert_eq!(bed.markers(), ["stop-writers", "backup"]);
}

#[tokio::test]
async fn without_auto_rollback_a_failure_leaves_things_for_the_operator() {
    let bed = Bed::new();
    let out = fresh(
        &bed,
        "fail=swap-image",
        Policy {
            auto_rollback: false,
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(out, RunOutcome::FailedNotRolledBack { .. }),
        "{out:?}"
    );
    assert_eq!(bed.markers(), ["stop-writers", "backup"]);
}

#[tokio::test]
async fn a_failure_past_the_point_of_no_return_is_not_rolled_back() {
    let bed = Bed::new();
    let out = fresh(&bed, "ponr=backup,fail=swap-image", Policy::default())
        .await
        .unwrap();
    assert!(
        matches!(out, RunOutcome::FailedNotRolledBack { .. }),
        "{out:?}"
    );
    assert_eq!(bed.markers(), ["stop-writers", "backup"]);
}

#[tokio::test]
async fn a_timed_out_step_is_uncertain_and_undone_defensively() {
    let bed = Bed::new();
    let out = fresh(
        &bed,
        "sleep=backup:10000,timeout=backup:100",
        Policy::default(),
    )
    .await
    .unwrap();
    assert!(matches!(out, RunOutcome::RolledBack { .. }), "{out:?}");
    // backup never changed anything, but its undo still ran (and found nothing to do).
    assert_eq!(
        bed.effects(),
        ["run stop-writers", "undo backup", "undo stop-writers"]
    );
}

#[tokio::test]
async fn a_failed_preflight_check_changes_nothing() {
    let bed = Bed::new();
    let out = fresh(&bed, "fail=check-world", Policy::default())
        .await
        .unwrap();
    assert_eq!(
        out,
        RunOutcome::PreflightFailed {
            step: "check-world".into()
        }
    );
    assert!(bed.effects().is_empty());
}

/// Runs a fresh run that "crashes" right after journal record `k` is durable.
async fn crash_at(bed: &Bed, k: u64) {
    let mut journal = Journal::create(&bed.run_dir()).unwrap();
    journal.set_crash_after(k);
    let out = go(bed, &Knobs::default(), journal, Policy::default(), Go::Run).await;
    assert!(
        out.is_err(),
        "record {k}: expected the simulated crash, got {out:?}"
    );
    assert_eq!(lines(&bed.run_dir()).len() as u64, k);
}

#[tokio::test]
async fn crash_at_every_boundary_then_resume_completes() {
    let full = Bed::new();
    fresh(&full, "", Policy::default()).await.unwrap();
    let n = lines(&full.run_dir()).len() as u64;
    for k in 1..n {
        let bed = Bed::new();
        crash_at(&bed, k).await;
        let journal = Journal::open(&bed.run_dir()).unwrap();
        let out = go(&bed, &Knobs::default(), journal, Policy::default(), Go::Run)
            .await
            .unwrap();
        assert_eq!(out, RunOutcome::Done, "crash after record {k}");
        assert_eq!(
            bed.markers(),
            ["stop-writers", "backup", "swap-image"],
            "crash after record {k}"
        );
    }
}

#[tokio::test]
async fn crash_at_every_boundary_then_rollback_restores() {
    let full = Bed::new();
    fresh(&full, "", Policy::default()).await.unwrap();
    let n = lines(&full.run_dir()).len() as u64;
    for k in 1..n {
        let bed = Bed::new();
        crash_at(&bed, k).await;
        let journal = Journal::open(&bed.run_dir()).unwrap();
        let out = go(
            &bed,
            &Knobs::default(),
            journal,
            Policy::default(),
            Go::Rollback,
        )
        .await
        .unwrap();
        assert!(
            matches!(out, RunOutcome::RolledBack { .. }),
            "crash after record {k}: {out:?}"
        );
        assert!(
            bed.markers().is_empty(),
            "crash after record {k}: left {:?}",
            bed.markers()
        );
        // Every undo that ran is journaled with its end.
        let (state, _) = Journal::read(&bed.run_dir()).unwrap();
        assert!(state.uncertain().is_empty(), "crash after record {k}");
    }
}

#[tokio::test]
async fn a_torn_last_line_is_set_aside_and_the_run_resumes() {
    let bed = Bed::new();
    crash_at(&bed, 9).await;
    let path = bed.run_dir().join(JOURNAL_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"seq":10,"at":"2026-01-01T00:00"#);
    std::fs::write(&path, bytes).unwrap();

    let (state, _) = Journal::read(&bed.run_dir()).unwrap();
    assert_eq!(
        state.torn_tail.as_deref(),
        Some(r#"{"seq":10,"at":"2026-01-01T00:00"#)
    );
    let journal = Journal::open(&bed.run_dir()).unwrap();
    assert!(bed.run_dir().join("journal.jsonl.torn").is_file());
    let out = go(&bed, &Knobs::default(), journal, Policy::default(), Go::Run)
        .await
        .unwrap();
    assert_eq!(out, RunOutcome::Done);
    // The torn bytes were cut off, so every line is whole JSON again.
    for line in lines(&bed.run_dir()) {
        serde_json::from_str::<serde_json::Value>(&line).unwrap();
    }
}
