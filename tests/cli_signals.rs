//! The real binary, headless, on the scripted plan: a second interrupt escalates. The first
//! SIGINT or SIGTERM asks the running step to stop at a safe point; a step that does not listen
//! (`stubborn=ID:MS`) keeps running. The second signal abandons it: it is journaled as
//! uncertain, cutover prints what to do next and exits 3 promptly, and a resume undoes the
//! step defensively before running it again.

mod scripted_support;

use std::fs::File;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use scripted_support::{SIGN, ScriptedStack as Stack, text};

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(child: &Child, sig: Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

fn wait_exit(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < bound {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs the plan with a backup step that makes its change and then ignores interrupts for a
/// minute, sends `first` then `second`, and checks the escalation end to end.
fn second_signal_abandons_the_step(first: Signal, second: Signal) {
    let s = Stack::new();
    let mut args = vec!["run", "--yes"];
    args.extend_from_slice(&SIGN);
    let mut child = s
        .cmd(&args, "stubborn=backup:60000")
        .stdout(Stdio::from(File::create(s.out_path("stdout")).unwrap()))
        .stderr(Stdio::from(File::create(s.out_path("stderr")).unwrap()))
        .spawn()
        .unwrap();
    let output = || {
        format!(
            "{}{}",
            std::fs::read_to_string(s.out_path("stdout")).unwrap_or_default(),
            std::fs::read_to_string(s.out_path("stderr")).unwrap_or_default()
        )
    };
    // The backup has made its change and is now deaf to the cancel token.
    wait_until("the backup to run", || {
        s.effects().contains(&"run backup".to_string())
    });

    kill(&child, first);
    wait_until("the first interrupt to be acknowledged", || {
        output().contains("interrupt again")
    });
    assert!(
        wait_exit(&mut child, Duration::from_millis(1500)).is_none(),
        "one interrupt must not stop a step that is still running: {}",
        output()
    );
    assert!(
        !s.journal().contains(r#""type":"step_failed""#),
        "the step is still running: {}",
        s.journal()
    );

    kill(&child, second);
    let t0 = Instant::now();
    let Some(status) = wait_exit(&mut child, Duration::from_secs(5)) else {
        let _ = child.kill();
        panic!("still running 5 s after the second interrupt: {}", output());
    };
    let took = t0.elapsed();
    let out = output();
    assert_eq!(status.code(), Some(3), "operator action needed: {out}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(out.contains("abandoning the current step"), "{out}");
    assert!(
        out.contains("next: cutover resume") && out.contains("cutover rollback"),
        "the next commands are printed: {out}"
    );
    let journal = s.journal();
    assert!(
        journal.contains(r#""type":"step_failed","step":"backup""#)
            && journal.contains(r#""uncertain":true"#),
        "{journal}"
    );
    assert!(journal.contains(r#""outcome":"interrupted""#), "{journal}");
    assert!(
        !s.effects().iter().any(|e| e.contains("swap-image")),
        "nothing after the abandoned step ran"
    );

    let status = s.cmd(&["status"], "").output().unwrap();
    assert!(
        text(&status).contains("UNCERTAIN backup"),
        "{}",
        text(&status)
    );

    // cutover exited on its own, so the lock was released: resume needs no flag.
    let out = s.cmd(&["resume", "--yes"], "").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
    assert_eq!(
        s.effects(),
        [
            "run stop-writers",
            "run backup",
            "undo backup",
            "run backup",
            "run swap-image"
        ],
        "the uncertain backup is undone before it runs again"
    );
}

#[test]
fn sigint_twice_abandons_the_step_and_resume_undoes_it_first() {
    second_signal_abandons_the_step(Signal::SIGINT, Signal::SIGINT);
}

#[test]
fn sigterm_counts_as_the_first_interrupt() {
    second_signal_abandons_the_step(Signal::SIGTERM, Signal::SIGINT);
}
