//! The wizard in a real terminal (portable-pty + vt100, 120×40) on a test-bed stack, run the
//! way an operator runs it: the real binary, the pgvector plan, the test bed's images, no
//! registry (`--pull never`). Tests read the screen as text and type keys.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

use super::cutover::{AFTER, QDRANT};

pub const ROWS: u16 = 40;
pub const COLS: u16 = 120;

pub struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    pub child: Box<dyn Child + Send + Sync>,
}

impl Term {
    pub fn start(dir: &Path) -> Term {
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
        // The test bed's own variable (its rootfs cache) is not a cutover setting: cutover
        // refuses unknown CUTOVER_* keys.
        cmd.env_remove("CUTOVER_TESTBED_CACHE");
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

    pub fn text(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until `pred` holds for the screen; panics with the screen after `secs`.
    pub fn until(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
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

    pub fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.until(&format!("{needle:?}"), secs, |t| t.contains(needle))
    }

    pub fn keys(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
}
