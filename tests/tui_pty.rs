//! The real binary in a real terminal (portable-pty + vt100), on the scripted plan: sign off
//! the checklist, start, see the steps progress, press rollback, confirm, see the undone steps,
//! find report.md written while the wizard is still open, leave, and find the summary on the
//! restored screen and exit code 1.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "never saw {needle:?}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The one run's report.md under `runs`, once it is written (the wizard writes it right after
/// the run's last event; poll briefly rather than race the draw that showed "undone").
fn wait_for_report(runs: &std::path::Path) -> String {
    let t0 = Instant::now();
    loop {
        let md = std::fs::read_dir(runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("report.md")).ok());
        if let Some(md) = md {
            return md;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no report.md under {} while the wizard is still open",
            runs.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sign_off_start_roll_back_in_a_real_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("privexbot");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), "services: {}\n").unwrap();

    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 30,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(["--plan", "scripted"]);
    cmd.cwd(&dir);
    cmd.env("TERM", "xterm-256color");
    cmd.env("CUTOVER_SCRIPTED", "sleep=backup:3000");
    cmd.env_remove("COMPOSE_FILE");
    cmd.env_remove("COMPOSE_PROJECT_NAME");
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        30.try_into().unwrap(),
        100.try_into().unwrap(),
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
    let mut s = Screen {
        parser,
        writer: pair.master.take_writer().unwrap(),
    };

    s.wait_for("2 to sign");
    s.keys(" ");
    s.wait_for("Your name");
    s.keys("Alice\r");
    s.wait_for("operator: Alice");
    s.keys("j ");
    s.wait_for("ready to start");
    s.keys("S");
    s.wait_for("Start the upgrade?");
    s.keys("y");
    let run = s.wait_for("Take the backup");
    assert!(
        run.contains("Steps"),
        "the run screen shows the steps:\n{run}"
    );
    s.wait_for("running");
    s.keys("R");
    let ask = s.wait_for("Roll back?");
    assert!(
        ask.contains("Stop the writers"),
        "the question names what will be undone:\n{ask}"
    );
    s.keys("y");
    s.wait_for("rolled back");
    // The screen may be mid-redraw when the header changes: wait for the steps too.
    s.wait_for("undone");
    // The report is on disk as soon as the run ends, while the wizard is still open.
    let report = wait_for_report(&dir.join(".cutover/runs"));
    assert!(report.contains("**rolled back"), "{report}");
    s.keys("q");
    let status = child.wait().unwrap();
    let summary = s.wait_for("== cutover: rolled back");
    assert!(summary.contains("undone   stop-writers"), "{summary}");
    assert_eq!(status.exit_code(), 1, "rolled back is exit 1");
    let world = dir.join("scripted-world");
    for m in ["stop-writers", "backup", "swap-image"] {
        assert!(!world.join(m).exists(), "{m} was left behind");
    }
}
