//! The wizard on the real pgvector plan, in a real terminal (portable-pty + vt100, 120×40),
//! against a seeded test-bed stack: sign the checklist (the name is asked once), start, pause
//! while postgres is being recreated, see the NEW postgres container's startup lines in the log
//! pane (the follower re-follows the recreated container under the same name), roll back from
//! the paused run, and find the stack as it was: old image, no `vector`, compose file
//! byte-identical, exit 1.
//!
//! Rollback is pressed during the run (paused), not after it ended: main's engine refuses to
//! roll back a run that has finished (the `rollback` branch adds that).

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use support::{Stack, docker};

const BEFORE: &str = "cutover-testbed/postgres-before:latest";
const AFTER: &str = "cutover-testbed/postgres-after:latest";
const QDRANT: &str = "cutover-testbed/qdrant-standin:latest";
const ROWS: u16 = 40;
const COLS: u16 = 120;

struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
}

impl Term {
    fn start(dir: &Path) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args([
            "--target-image",
            AFTER,
            "--qdrant-image",
            QDRANT,
            "--pull",
            "never",
        ]);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        cmd.env("CUTOVER_QDRANT_PORTS", "none");
        cmd.env_remove("COMPOSE_FILE");
        cmd.env_remove("COMPOSE_PROJECT_NAME");
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Term {
            parser,
            writer: pair.master.take_writer().unwrap(),
            child,
        }
    }

    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until `pred` holds for the screen; panics with the screen after `secs`.
    fn until(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let text = self.text();
            if pred(&text) {
                return text;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "never saw {what}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.until(&format!("{needle:?}"), secs, |t| t.contains(needle))
    }

    fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A screen row shows this step as running.
fn running(text: &str, title: &str) -> bool {
    text.lines()
        .any(|l| l.contains(title) && l.contains("running"))
}

#[test]
fn pgvector_in_a_real_terminal_rolls_back_to_the_old_image() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(20);
    let compose_before = std::fs::read(stack.compose_file()).unwrap();
    let pg = stack.container("postgres");
    let mut t = Term::start(stack.dir());

    // Checklist: the pre-flight runs, then three items wait for a name.
    let first = t.wait_for("3 to sign", 60);
    assert!(first.contains("Docker engine is reachable"), "{first}");
    t.keys(" ");
    t.wait_for("Your name", 10);
    t.keys("Ann Example\r");
    t.wait_for("operator: Ann Example", 10);
    t.wait_for("2 to sign", 10);
    // The name is asked once: later sign-offs reuse it.
    t.keys("j ");
    let second = t.wait_for("1 to sign", 10);
    assert!(!second.contains("Your name"), "{second}");
    t.keys("j ");
    t.wait_for("ready to start", 10);
    t.keys("S");
    t.wait_for("Start the upgrade?", 10);
    t.keys("y");

    // Run: the log pane follows postgres from the discovery; pause while it is recreated.
    let run = t.wait_for("Pull the new images", 30);
    assert!(run.contains(&pg), "the log pane follows {pg}:\n{run}");
    t.until("postgres being recreated", 120, |s| {
        running(s, "Recreate postgres") || running(s, "New postgres ready")
    });
    t.keys("p");
    let paused = t.wait_for("PAUSED", 120);
    // The follower saw the old container stop and now follows the new one, same name.
    // (Long lines wrap in the pane, so match a part that fits on one row.)
    let logs = t.until("the new postgres's startup lines", 60, |s| {
        s.split("was recreated")
            .nth(1)
            .is_some_and(|after| after.contains("system is ready to accept connections"))
    });
    eprintln!("paused:\n{paused}\nlog pane:\n{logs}");

    // Roll back from the paused run; the question names what will be undone.
    t.keys("R");
    let ask = t.wait_for("Roll back?", 10);
    assert!(ask.contains("Recreate postgres"), "{ask}");
    assert!(ask.contains("Stop every writer"), "{ask}");
    t.keys("y");
    let done = t.until("the rollback to end", 180, |s| {
        s.contains("rolled back") && !s.contains("ROLLING BACK") && s.contains("Result")
    });
    eprintln!("after rollback:\n{done}");
    t.keys("q");
    let status = t.child.wait().unwrap();
    assert_eq!(status.exit_code(), 1, "rolled back is exit 1");

    // The stack is as it was.
    let image = docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]);
    assert_eq!(image, format!("{BEFORE} true"));
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let vector = rt.block_on(async {
        let db = stack.connect().await;
        db.query_opt("SELECT 1 FROM pg_extension WHERE extname = 'vector'", &[])
            .await
            .unwrap()
    });
    assert!(
        vector.is_none(),
        "vector is not installed after the rollback"
    );
}
