//! The real binary, headless, on the scripted plan: run, failure and rollback, crash then
//! resume or rollback, the lock, and interrupts. Exit codes are part of the contract.

mod scripted_support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use scripted_support::{SIGN, ScriptedStack as Stack, text};

fn run_yes<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--yes"];
    v.extend_from_slice(&SIGN);
    v.extend_from_slice(extra);
    v
}

#[test]
fn run_yes_does_everything_and_writes_the_report() {
    let s = Stack::new();
    let out = s.run(&run_yes(&[]), "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("== cutover: done =="), "{stdout}");
    let report = std::fs::read_to_string(s.latest_journal().with_file_name("report.md")).unwrap();
    assert!(
        report.contains("| Database owner approves the upgrade | Bob |"),
        "{report}"
    );
}

#[test]
fn missing_sign_offs_are_listed_and_refused() {
    let s = Stack::new();
    let out = s.run(&["run", "--yes", "--sign-off", "owner-approval=Bob"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .contains("missing sign-offs, refusing to start: --sign-off window-announced=NAME")
    );
    assert!(!s.dir.join("scripted-world").exists(), "nothing may run");
}

#[test]
fn a_failure_rolls_back_and_exits_1() {
    let s = Stack::new();
    let out = s.run(&run_yes(&[]), "fail=swap-image");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(s.markers().is_empty());
}

#[test]
fn a_failing_undo_or_no_auto_rollback_exits_3() {
    let s = Stack::new();
    let out = s.run(&run_yes(&[]), "fail=swap-image,fail_undo=stop-writers");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers"]);

    let s = Stack::new();
    let out = s.run(&run_yes(&["--no-auto-rollback"]), "fail=swap-image");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("cutover rollback --run"),
        "the next command is printed"
    );
    let out = s.run(&["rollback", "--yes"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.markers().is_empty());
}

#[test]
fn after_a_crash_resume_needs_the_stale_lock_flag_then_completes() {
    let s = Stack::new();
    let out = s.run(&run_yes(&[]), "crash=backup:mid");
    assert!(out.status.code().is_none(), "the process aborted");
    let status = s.run(&["status"], "");
    assert!(
        text(&status).contains("UNCERTAIN backup"),
        "{}",
        text(&status)
    );

    let refused = s.run(&["resume", "--yes"], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused).contains("stale lock"), "{}", text(&refused));

    let out = s.run(&["resume", "--yes", "--break-stale-lock"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
}

#[test]
fn after_a_crash_rollback_restores_everything() {
    let s = Stack::new();
    let out = s.run(&run_yes(&[]), "crash=swap-image:mid");
    assert!(out.status.code().is_none());
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
    let out = s.run(&["rollback", "--yes", "--break-stale-lock"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.markers().is_empty());
    let finished = s.run(&["resume", "--yes"], "");
    assert_eq!(
        finished.status.code(),
        Some(2),
        "a rolled-back run is closed"
    );
}

fn wait_for(path: &Path, needle: &str) {
    let t0 = Instant::now();
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(needle)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {needle}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_slow(s: &Stack) -> Child {
    s.cmd(&run_yes(&[]), "sleep=backup:20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_cutover_is_refused_and_an_interrupt_stops_safely() {
    let s = Stack::new();
    let mut first = spawn_slow(&s);
    let t0 = Instant::now();
    while s
        .dir
        .join(".cutover/runs")
        .read_dir()
        .map_or(true, |mut d| d.next().is_none())
    {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let journal = s.latest_journal();
    wait_for(&journal, r#""type":"step_started","step":"backup""#);

    let second = s.run(&run_yes(&[]), "");
    assert_eq!(second.status.code(), Some(2));
    let msg = text(&second);
    assert!(
        msg.contains("another cutover holds the lock")
            && msg.contains(&format!("pid {}", first.id())),
        "{msg}"
    );

    let pid = nix::unistd::Pid::from_raw(first.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = first.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "interrupted: operator action needed"
    );
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap()
            .contains(r#""outcome":"interrupted""#)
    );

    // The lock was released cleanly, so resume needs no flag.
    let out = s.run(&["resume", "--yes"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.markers(), ["stop-writers", "backup", "swap-image"]);
}

#[test]
fn json_output_is_one_object_per_event() {
    let s = Stack::new();
    let out = s.run(&run_yes(&["--json"]), "");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "signed_off" && e["by"] == "Alice")
    );
}
