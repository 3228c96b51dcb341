//! Bad input, through the real binary against one real stack: each case gives one clear
//! message saying what is wrong and how to fix it, exits 2, and leaves the stack untouched
//! (container ids, states and images, and the compose file's bytes, compared before and after).
//!
//! Cases: no compose file; a compose file with a YAML error (the message carries the line); an
//! unknown service name; an unknown extra writer service; a wrong database password; an
//! unreachable engine; unknown config keys (file and environment); a run directory that is not
//! writable; the wizard started without a terminal; the wizard in a terminal below 80×24.

mod fault_support;
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fault_support::{Run, World, assert_no_lock, text};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use support::Stack;

/// Exit 2, the message contains every one of `needles`, and the password is not in it.
fn refused(out: &Output, needles: &[&str], password: &str) -> String {
    let said = text(out);
    assert_eq!(out.status.code(), Some(2), "expected exit 2: {said}");
    for n in needles {
        assert!(said.contains(n), "expected {n:?} in: {said}");
    }
    assert!(!said.contains(password), "the password leaked: {said}");
    said
}

/// The `cutover: ...` lines a refusal prints on stderr: one message, not a cascade.
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("cutover:"))
        .map(String::from)
        .collect()
}

/// A read-only tmpfs mounted for the test's lifetime (we are root in the test bed).
struct ReadOnlyMount(tempfile::TempDir);

impl ReadOnlyMount {
    fn new() -> Option<Self> {
        let d = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
            .arg(d.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(ReadOnlyMount(d))
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_one_clear_message() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(5);
    let dir = stack.dir();
    let pw = stack.password().to_string();
    let before = World::of(&stack);
    let untouched = |what: &str| {
        assert_eq!(World::of(&stack), before, "{what}: the stack was touched");
        assert_no_lock(&stack);
    };

    // No compose file where cutover looks.
    let empty = tempfile::tempdir().unwrap();
    let out = Run::upgrade(empty.path()).output();
    refused(&out, &["no compose file in", "--compose-file"], &pw);
    assert_eq!(error_lines(&out).len(), 1, "{}", text(&out));

    // A compose file with a YAML error: the message names the file and the line.
    let broken = tempfile::tempdir().unwrap();
    let bad = broken.path().join("compose.yaml");
    std::fs::write(
        &bad,
        "services:\n  postgres:\n    image: x\n   environment: [oops\n",
    )
    .unwrap();
    let out = Run::new(broken.path(), &["plan"]).output();
    let said = refused(&out, &["compose.yaml", "line 4"], &pw);
    assert_eq!(error_lines(&out).len(), 1, "{said}");

    // Unknown service names: the known ones are listed.
    let out = Run::new(dir, &["plan"])
        .env("CUTOVER_POSTGRES_SERVICE", "postgress")
        .output();
    refused(
        &out,
        &["postgress", "backend, celery-worker, postgres"],
        &pw,
    );
    untouched("unknown postgres service");
    let out = Run::upgrade(dir)
        .env("CUTOVER_EXTRA_WRITER_SERVICES", "scheduler")
        .output();
    refused(&out, &["scheduler", "extra_writer_services"], &pw);
    untouched("unknown extra writer");

    // A wrong database password (set in the configuration): refused in pre-flight.
    let out = Run::upgrade(dir)
        .env("CUTOVER_DB_PASSWORD", "not-the-password")
        .output();
    let said = refused(
        &out,
        &["password authentication failed", "db_password"],
        &pw,
    );
    assert!(!said.contains("not-the-password"), "{said}");
    // The error once, on stderr; stdout (the results) names the step but does not repeat it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stderr.matches("refused the login").count(), 1, "{said}");
    assert_eq!(stdout.matches("refused the login").count(), 0, "{said}");
    assert!(stdout.contains("error printed above (stderr)"), "{said}");
    untouched("wrong password");

    // An unreachable engine.
    let out = Run::upgrade(dir)
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output();
    refused(
        &out,
        &["cannot reach the Docker engine", "DOCKER_HOST"],
        &pw,
    );
    untouched("unreachable engine");

    // Unknown configuration keys, in the file (with its line) and in the environment.
    std::fs::write(
        dir.join("cutover.toml"),
        "# tuned for the window\ncolation_policy = \"check\"\n",
    )
    .unwrap();
    let out = Run::upgrade(dir).output();
    refused(
        &out,
        &[
            "cutover.toml:2",
            "unknown key `colation_policy`",
            "collation_policy",
        ],
        &pw,
    );
    assert_eq!(error_lines(&out).len(), 1);
    std::fs::remove_file(dir.join("cutover.toml")).unwrap();
    let out = Run::upgrade(dir)
        .env("CUTOVER_READY_TIMEOUT", "60")
        .output();
    refused(&out, &["CUTOVER_READY_TIMEOUT", "unknown key"], &pw);
    untouched("unknown config keys");

    // A run directory that cannot be written.
    if let Some(ro) = ReadOnlyMount::new() {
        let runs = ro.0.path().join("runs");
        let out = Run::upgrade(dir)
            .arg("--run-dir")
            .arg(runs.to_str().unwrap())
            .output();
        let said = refused(&out, &[runs.to_str().unwrap(), "run_dir"], &pw);
        assert_eq!(error_lines(&out).len(), 1, "{said}");
        untouched("run directory not writable");
    } else {
        eprintln!("SKIPPED: read-only run directory (cannot mount a tmpfs here)");
    }

    // The wizard without a terminal (stdout is a pipe here).
    let out = Run::new(dir, &[]).output();
    let said = refused(&out, &["needs a terminal", "cutover run --yes"], &pw);
    assert_eq!(error_lines(&out).len(), 1, "{said}");
    untouched("no terminal");

    // The wizard in a terminal below the minimum size.
    let (code, screen) = wizard_in_pty(dir, 60, 20);
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("60×20")
            && screen.contains("80×24")
            && screen.contains("cutover run --yes"),
        "{screen}"
    );
    untouched("terminal too small");
}

/// Starts `cutover` (the wizard) in a pseudo-terminal of `cols`×`rows`; returns its exit code
/// and everything it wrote.
fn wizard_in_pty(dir: &Path, cols: u16, rows: u16) -> (u32, String) {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let run = Run::new(dir, &[]);
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(["--target-image", &run.target, "--pull", "never"]);
    cmd.cwd(dir);
    cmd.env("TERM", "xterm-256color");
    cmd.env("CUTOVER_QDRANT_PORTS", "none");
    cmd.env_remove("COMPOSE_FILE");
    cmd.env_remove("COMPOSE_PROJECT_NAME");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let collected = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the wizard did not refuse a {cols}×{rows} terminal within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(pair.master);
    let bytes = collected.join().unwrap();
    (
        status.exit_code(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}
