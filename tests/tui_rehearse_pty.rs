//! The checklist's rehearsal action (`h`), in a real terminal, on the test bed's Alpine-shaped
//! stack with the Debian-shaped target, the real binary and engine:
//!
//! - `h` runs the rehearsal with its own panel (status, newest lines); Start is refused while
//!   it runs (the start box names it); when it passes, the `rehearsal` check re-runs on the
//!   same run and shows "Rehearsal passed at ...", and the start question carries the
//!   forecast. The live stack is exactly as it was and nothing of the side stack is left.
//! - quitting in the middle of a rehearsal (after the copy was recreated on the target image)
//!   cancels it and waits for its teardown before the wizard exits: nothing is left, the live
//!   stack is as it was.

mod support;

use std::time::Duration;

use support::Stack;
use support::cutover::side_leftovers;
use support::pty::Term;
use support::world::World;

fn world(stack: &Stack) -> World {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(World::of(stack))
}

/// The checklist row of the `rehearsal` check.
fn rehearsal_row(screen: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains("Rehearsed on a copy"))
        .unwrap_or_default()
        .to_string()
}

/// The wizard left within `secs`; its exit code.
fn exited(t: &mut Term, secs: u64) -> Option<u32> {
    for _ in 0..secs * 10 {
        if let Some(status) = t.child.try_wait().unwrap() {
            return Some(status.exit_code());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the wizard did not exit within {secs} s; screen:\n{}",
        t.text()
    );
}

#[test]
fn h_rehearses_on_a_copy_then_the_rehearsal_check_counts_it_and_nothing_is_left() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(20);
    let before = world(&stack);
    let mut t = Term::start(stack.dir());
    let first = t.wait_for("3 to sign", 120);
    assert!(
        rehearsal_row(&first).contains("warning"),
        "no rehearsal on record yet, the check should warn: {first}"
    );

    t.keys("h");
    let running = t.wait_for("Rehearsal on a copy: running", 20);
    assert!(
        running.contains("a rehearsal is running"),
        "the start box does not name the running rehearsal:\n{running}"
    );
    // The panel shows the side run's own lines as they come.
    t.wait_for("pg_basebackup", 120);

    let done = t.wait_for("Rehearsal on a copy: PASSED", 900);
    assert!(done.contains("forecast"), "{done}");
    // The check re-ran on this run and counts the rehearsal now (its evidence line, "Rehearsal
    // passed at ...", is in the start question below).
    t.until("the rehearsal check ok", 120, |s| {
        rehearsal_row(s).contains(" ok ")
    });
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());

    // Sign off and ask to start: the question carries the forecast; "n" leaves it unstarted.
    t.keys(" ");
    t.wait_for("Your name", 10);
    t.keys("Ann Example\r");
    t.wait_for("2 to sign", 10);
    t.keys("j ");
    t.wait_for("1 to sign", 10);
    t.keys("j ");
    t.wait_for("ready to start", 10);
    t.keys("S");
    let question = t.wait_for("Start the upgrade?", 10);
    assert!(question.contains("Rehearsal passed at"), "{question}");
    t.keys("n");
    t.keys("q");
    t.wait_for("Quit", 10);
    t.keys("y");
    exited(&mut t, 60);

    assert_eq!(world(&stack).diff(&before, &[]), Vec::<String>::new());
    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
}

#[test]
fn quitting_during_a_rehearsal_waits_for_its_teardown_and_leaves_nothing() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(20);
    let before = world(&stack);
    let mut t = Term::start(stack.dir());
    t.wait_for("3 to sign", 120);
    t.keys("h");
    // Quit once the side run has changed something: the copy runs on the target image.
    t.wait_for("Recreate postgres on the new image", 600);
    t.keys("q");
    t.wait_for("Quit", 10);
    t.keys("y");
    t.wait_for("tearing its side stack down", 20);
    exited(&mut t, 300);

    assert_eq!(side_leftovers(stack.project()), Vec::<String>::new());
    assert_eq!(world(&stack).diff(&before, &[]), Vec::<String>::new());
}
