//! A writer that comes back after `stop-writers` (here: the worker started again by hand, as a
//! restart policy, a supervisor or a cron job would) connects while the backup is taken, or
//! soon after. Cutover must notice the session, refuse naming the container, and roll back: exit 1, postgres the same container on the before image,
//! writers running, compose file identical, no qdrant, no parked container, no lock, and the
//! pre-existing tables' fingerprints equal.

mod fault_support;
mod support;

use cutover::adapters::fingerprint::fingerprint;
use fault_support::{Run, World, assert_restored, has_vector, text, wait_journal};
use support::{Stack, docker};

#[tokio::test(flavor = "multi_thread")]
async fn a_writer_that_reconnects_is_named_and_the_window_rolled_back() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    // Big enough that the backup takes a moment after the writers stopped.
    let stack = Stack::up_seeded(3000);
    let dir = stack.dir();
    let pg_id = stack.container_id("postgres");
    let worker = stack.container("celery-worker");
    let before = World::of(&stack);
    let fp_before = fingerprint(&stack.connect().await, "public").await.unwrap();

    let child = Run::upgrade(dir).spawn();
    let runs = dir.join(".cutover/runs");
    assert!(
        wait_journal(&runs, "step_finished", "stop-writers", 60),
        "stop-writers never finished"
    );
    docker(&["start", &worker]);
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("{worker} connected to the database"))
            && said.contains("after the writers were stopped"),
        "names the container and why: {said}"
    );
    // Where it is noticed depends on how soon the worker reconnects against how long the dump
    // takes: during the backup or before the stop (postgres never touched), or after the
    // recreate (its rows went to the new server: the fast rollback keeps them and says so).
    if said.contains("after postgres was recreated") {
        assert!(said.contains("undone   Recreate postgres"), "{said}");
        assert!(
            said.contains("worker_ticks: +") && said.contains("kept"),
            "the worker's rows on the new server are reported kept: {said}"
        );
    } else {
        assert!(
            said.contains("during the backup") || said.contains("before postgres was stopped"),
            "{said}"
        );
        assert!(
            !said.contains("undone   Recreate postgres"),
            "refused before postgres was touched: {said}"
        );
    }
    assert_restored(&stack, &before, &pg_id, &said);
    assert!(!has_vector(&stack).await);
    support::cutover::assert_tables_kept(&stack, &fp_before, "after the rollback").await;
}
