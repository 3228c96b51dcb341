//! The real binary, headless, on the scripted plan: a second interrupt escalates. The first
//! SIGINT or SIGTERM asks the running step to stop at a safe point; a step that does not listen
//! (`stubborn=ID:MS`) keeps running. The second signal abandons it: it is journaled as
//! uncertain, cutover prints what to do next and exits 3 promptly, and a resume undoes the
//! step defensively before running it again.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

const SIGN: [&str; 4] = [
    "--sign-off",
    "window-announced=Alice",
    "--sign-off",
    "owner-approval=Bob",
];

struct Stack {
    tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Stack {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("privexbot");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), "services: {}\n").unwrap();
        Self { tmp, dir }
    }

    fn cmd(&self, args: &[&str], knobs: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(args)
            .args(["--plan", "scripted"])
            .current_dir(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env("CUTOVER_SCRIPTED", knobs);
        cmd
    }

    fn out_path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn world(&self, name: &str) -> PathBuf {
        self.dir.join("scripted-world").join(name)
    }

    fn markers(&self) -> Vec<&'static str> {
        ["stop-writers", "backup", "swap-image"]
            .into_iter()
            .filter(|m| self.world(m).exists())
            .collect()
    }

    fn effects(&self) -> Vec<String> {
        std::fs::read_to_string(self.world("effects.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn journal(&self) -> String {
        let Ok(dir) = std::fs::read_dir(self.dir.join(".cutover/runs")) else {
            return String::new();
        };
        let mut runs: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
        runs.sort();
        runs.pop()
            .and_then(|r| std::fs::read_to_string(r.join("journal.jsonl")).ok())
            .unwrap_or_default()
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

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
