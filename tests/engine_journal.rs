//! The transition table and the stack lock.

use cutover::engine::Entry;
use cutover::engine::Journal;
use cutover::engine::StepKind;
use cutover::engine::lock::{Holder, LockError, StackLock, this_host};
use cutover::engine::recovery::StepMeta;

fn meta(id: &str, kind: StepKind) -> StepMeta {
    StepMeta {
        id: id.into(),
        title: id.into(),
        kind,
        point_of_no_return: false,
    }
}

fn started(dir: &std::path::Path) -> Journal {
    let mut j = Journal::create(dir).unwrap();
    j.append(Entry::RunStarted {
        plan: "p".into(),
        stack: "s".into(),
        steps: vec![
            meta("check", StepKind::Check),
            meta("item", StepKind::SignOff),
            meta("act", StepKind::Action),
        ],
        pid: 1,
        host: "h".into(),
    })
    .unwrap();
    j
}

#[test]
fn the_table_rejects_illegal_sequences_and_writes_nothing_for_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut j = started(&dir);
    let refuse = |j: &mut Journal, e: Entry, why: &str| {
        let err = j.append(e).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    };
    refuse(
        &mut j,
        Entry::StepStarted { step: "act".into() },
        "before the start was approved",
    );
    refuse(
        &mut j,
        Entry::StepFinished {
            step: "check".into(),
            outcome: cutover::engine::Finish::Ok,
        },
        "not running",
    );
    refuse(
        &mut j,
        Entry::StepStarted {
            step: "item".into(),
        },
        "signed, not run",
    );
    refuse(
        &mut j,
        Entry::SignedOff {
            step: "act".into(),
            by: "x".into(),
        },
        "only sign-off items",
    );
    refuse(
        &mut j,
        Entry::UndoStarted { step: "act".into() },
        "nothing of this step to undo",
    );
    refuse(
        &mut j,
        Entry::StepStarted {
            step: "nope".into(),
        },
        "unknown step",
    );
    j.append(Entry::StartApproved).unwrap();
    j.append(Entry::StepStarted { step: "act".into() }).unwrap();
    refuse(
        &mut j,
        Entry::StepStarted {
            step: "check".into(),
        },
        "still running",
    );
    refuse(
        &mut j,
        Entry::RunFinished {
            outcome: cutover::engine::RunOutcome::Done,
        },
        "has not ended",
    );
    // Only the legal records reached the file.
    let (state, records) = Journal::read(&dir).unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(state.uncertain(), ["act"]);
}

#[test]
fn a_second_run_is_refused_with_the_holders_pid_host_and_start() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(".cutover/lock");
    let held = StackLock::acquire(&path, &tmp.path().join("run1"), false).unwrap();
    let err = StackLock::acquire(&path, &tmp.path().join("run2"), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LockError::Held { .. }), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(
        msg.contains(&this_host()) && msg.contains("UTC") && msg.contains("run1"),
        "{msg}"
    );
    drop(held);
    // Released cleanly: the next run takes it without any flag.
    StackLock::acquire(&path, &tmp.path().join("run3"), false).unwrap();
}

#[test]
fn a_stale_lock_is_broken_only_with_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(".cutover/lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let holder = Holder {
        pid: dead,
        host: this_host(),
        started_at: chrono::Utc::now(),
        run_dir: "old".into(),
    };
    std::fs::write(&path, serde_json::to_string(&holder).unwrap()).unwrap();

    let err = StackLock::acquire(&path, tmp.path(), false).unwrap_err();
    assert!(matches!(err, LockError::Stale { .. }), "{err}");
    assert!(err.to_string().contains("--break-stale-lock"));
    StackLock::acquire(&path, tmp.path(), true).unwrap();

    let foreign = Holder {
        host: "elsewhere".into(),
        ..holder
    };
    std::fs::write(&path, serde_json::to_string(&foreign).unwrap()).unwrap();
    let err = StackLock::acquire(&path, tmp.path(), true).unwrap_err();
    assert!(matches!(err, LockError::ForeignHost { .. }), "{err}");
}
