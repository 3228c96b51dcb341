//! Faults around the new postgres image, on one seeded stack (each scenario ends with the stack
//! restored, so the next starts from the same state):
//! - the target image is absent and may not be pulled (`--pull never`): refused in pre-flight,
//!   exit 2, nothing stopped or replaced;
//! - the target image is absent and cannot be pulled (`--pull missing`, registry unreachable):
//!   the pull is the first action, before any writer stops: exit 1, nothing stopped;
//! - the new image exits at once: the recreate or the readiness wait fails, the engine rolls
//!   back by itself: exit 1, the old container (same id) on the before image, writers running,
//!   fingerprint equal, compose file identical, no qdrant, no parked container, no lock;
//! - the new image never becomes ready (`ready_timeout_secs` = 6): same end state;
//! - the same with `--no-auto-rollback`: exit 3, the report names the failure, nothing undone;
//!   then `cutover rollback --yes` restores the stack.
//!
//! The fault images are built locally from the "after" image, so the major-version pre-flight
//! passes honestly (they keep its PATH and PG_MAJOR) and the failure happens in the window.

mod fault_support;
mod support;

use cutover::adapters::fingerprint::fingerprint;
use fault_support::{
    AFTER, Run, World, assert_no_lock, assert_restored, build_image, has_vector, text,
};
use support::Stack;

fn exits_at_once() -> String {
    build_image(
        "cutover-test/postgres-exits:test",
        &format!(
            "FROM {AFTER}\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo 'fault image: exiting' >&2; exit 1\"]\nCMD []\n"
        ),
    )
}

/// Never logs the ready line and never listens; stops promptly on SIGTERM.
fn never_ready() -> String {
    build_image(
        "cutover-test/postgres-never-ready:test",
        &format!(
            "FROM {AFTER}\nENTRYPOINT [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]\nCMD []\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_image_that_fails_is_rolled_back() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let (exits, sleeps) = (exits_at_once(), never_ready());
    let stack = Stack::up_seeded(20);
    let dir = stack.dir();
    let pg_id = stack.container_id("postgres");
    let before = World::of(&stack);
    let fp_before = fingerprint(&stack.connect().await, "public").await.unwrap();

    // Absent and not pullable by policy: a pre-flight refusal, nothing touched.
    let absent = "cutover-test/absent-image:pg17";
    let out = Run::upgrade(dir).target(absent).output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(absent) && said.contains("pull policy is `never`"),
        "{said}"
    );
    assert_eq!(World::of(&stack), before, "nothing stopped or replaced");
    assert_no_lock(&stack);

    // Absent and the registry unreachable (a loopback port nothing listens on): the pre-flight
    // pulls an absent target to probe it, so the run is refused before anything changes.
    let unpullable = "127.0.0.1:9/cutover-test/absent:pg17";
    let mut run = Run::upgrade(dir).target(unpullable);
    run.pull = "missing";
    let out = run.output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(unpullable), "{said}");
    assert_eq!(
        World::of(&stack).containers,
        before.containers,
        "nothing stopped: {said}"
    );
    assert_no_lock(&stack);

    // The new image exits at once, then never becomes ready: both roll back by themselves.
    for (image, why) in [(&exits, "exit"), (&sleeps, "timed out")] {
        let out = Run::upgrade(dir)
            .target(image)
            .env("CUTOVER_READY_TIMEOUT_SECS", "6")
            .output();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{image}: {said}");
        assert!(said.contains(why), "{image}: the failure is named: {said}");
        assert!(
            said.contains("undone   Recreate postgres")
                && said.contains("undone   Stop every writer"),
            "{image}: what was undone is listed: {said}"
        );
        assert_restored(&stack, &before, &pg_id, &said);
        assert!(!has_vector(&stack).await);
        support::cutover::assert_tables_kept(&stack, &fp_before, image).await;
    }

    // Without automatic rollback: exit 3 and the stack left as the failure found it (postgres
    // down, old container parked), the failure named; then the operator rolls back.
    let out = Run::upgrade(dir)
        .target(&exits)
        .arg("--no-auto-rollback")
        .env("CUTOVER_READY_TIMEOUT_SECS", "6")
        .output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("cutover rollback"), "says what to do: {said}");
    assert_eq!(
        crate::support::cutover::parked(stack.project()).len(),
        1,
        "old container parked, not undone"
    );
    assert_no_lock(&stack);
    // A rollback the operator asked for that completed exits 0 (exit 1 is a failed `run`).
    let out = Run::new(dir, &["rollback", "--yes"]).output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_restored(&stack, &before, &pg_id, &said);
}
