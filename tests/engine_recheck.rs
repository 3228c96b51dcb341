//! `Command::Recheck`: a pre-flight check may run again while the run waits for `Start` (the
//! wizard asks for it after a rehearsal). In-process on the scripted plan:
//! - a re-run that now fails blocks `Start` (no action runs) until a later re-run passes;
//! - the journal replays (the check went done → running → failed → running → done);
//! - a recheck of an action, or after the start, changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use cutover::engine::{Command, EventKind, Journal, Policy, RunOutcome, Runner, StepState};
use cutover::plans::scripted::{self, Knobs};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

fn sign_offs() -> Vec<Command> {
    ["window-announced", "owner-approval"]
        .into_iter()
        .map(|item| Command::SignOff {
            item: item.into(),
            by: "Alice".into(),
        })
        .collect()
}

/// Events until one matches `want` (or the runner ends); panics after 20 s.
async fn until(
    ev: &mut UnboundedReceiver<cutover::engine::Event>,
    want: impl Fn(&EventKind) -> bool,
) -> EventKind {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = ev.recv().await.expect("the runner ended early");
            if want(&e.kind) {
                return e.kind;
            }
        }
    })
    .await
    .expect("no such event within 20 s")
}

fn actions_run(world: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(world.join("effects.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn a_recheck_that_fails_blocks_the_start_until_it_passes_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let compose: PathBuf = root.join("compose.yaml");
    std::fs::write(&compose, "services: {}\n").unwrap();
    let world = root.join("world");
    let plan = scripted::plan(compose.clone(), world.clone(), Knobs::default()).unwrap();
    let run_dir = root.join("run");
    let journal = Journal::create(&run_dir).unwrap();
    let (ev_tx, mut ev) = unbounded_channel();
    let (cmd, cmd_rx) = unbounded_channel();
    for c in sign_offs() {
        cmd.send(c).unwrap();
    }
    let runner = Runner::new(
        plan,
        journal,
        ev_tx,
        cmd_rx,
        Policy {
            auto_rollback: true,
        },
    );
    let task = tokio::spawn(async move { runner.run("test").await });
    until(
        &mut ev,
        |k| matches!(k, EventKind::AwaitingStart { unsigned } if unsigned.is_empty()),
    )
    .await;

    // What the check reads goes away: its re-run fails, and Start is refused.
    std::fs::remove_file(&compose).unwrap();
    cmd.send(Command::Recheck("check-compose".into())).unwrap();
    let failed = until(&mut ev, |k| {
        matches!(
            k,
            EventKind::StepFailed { .. } | EventKind::StepFinished { .. }
        )
    })
    .await;
    assert!(
        matches!(&failed, EventKind::StepFailed { step, .. } if step == "check-compose"),
        "{failed:?}"
    );
    cmd.send(Command::Start).unwrap();
    // An action is not a pre-flight check: nothing runs.
    cmd.send(Command::Recheck("stop-writers".into())).unwrap();
    // One wait after the failure, one after the refused Start, one after the refused recheck;
    // an honoured Start would emit no more of them.
    for _ in 0..3 {
        until(&mut ev, |k| matches!(k, EventKind::AwaitingStart { .. })).await;
    }
    assert!(
        actions_run(&world).is_empty(),
        "Start was honoured despite a failed check: {:?}",
        actions_run(&world)
    );
    let (state, _) = Journal::read(&run_dir).unwrap();
    assert_eq!(state.steps["check-compose"].state, StepState::Failed);
    assert!(!state.start_approved);

    // Fixed and re-run: Start goes through and the run completes.
    std::fs::write(&compose, "services: {}\n").unwrap();
    cmd.send(Command::Recheck("check-compose".into())).unwrap();
    let ok = until(&mut ev, |k| {
        matches!(
            k,
            EventKind::StepFailed { .. } | EventKind::StepFinished { .. }
        )
    })
    .await;
    assert!(
        matches!(&ok, EventKind::StepFinished { step, .. } if step == "check-compose"),
        "{ok:?}"
    );
    cmd.send(Command::Start).unwrap();
    let drain = tokio::spawn(async move { while ev.recv().await.is_some() {} });
    let outcome = task.await.unwrap().unwrap();
    drain.await.unwrap();
    assert_eq!(outcome, RunOutcome::Done);
    assert_eq!(
        actions_run(&world),
        ["run stop-writers", "run backup", "run swap-image"]
    );
    let (state, _) = Journal::read(&run_dir).unwrap();
    assert_eq!(state.steps["check-compose"].attempts, 3);
}
