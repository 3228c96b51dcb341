//! The real release binary in a real pseudo-terminal (portable-pty + vt100), on the scripted
//! plan (no Docker): time from spawn to the first frame on screen, and the CPU an idle wizard
//! uses while it waits at its checklist (utime + stime from /proc/PID/stat over 10 s).

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

pub const BIN: &str = env!("CARGO_BIN_EXE_cutover");

/// A wizard on the scripted plan in its own pty, its output parsed by a reader thread.
struct Wizard {
    parser: Arc<Mutex<vt100::Parser>>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    _dir: tempfile::TempDir,
    spawned: Instant,
}

impl Wizard {
    fn spawn() -> Result<Wizard> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n")?;
        let pair = native_pty_system().openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })?;
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(["--plan", "scripted"]);
        cmd.cwd(dir.path());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("COMPOSE_FILE");
        cmd.env_remove("COMPOSE_PROJECT_NAME");
        let spawned = Instant::now();
        let child = pair.slave.spawn_command(cmd)?;
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            24.try_into()?,
            80.try_into()?,
            0,
        )));
        let mut reader = pair.master.try_clone_reader()?;
        let p = parser.clone();
        // Drains the pty until the child closes it, so the wizard never blocks on output.
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Ok(Wizard {
            parser,
            child,
            _master: pair.master,
            _dir: dir,
            spawned,
        })
    }

    /// Polls the screen every millisecond (bounded: 20 s) until it shows `needle`.
    fn wait_for(&self, needle: &str) -> Result<Duration> {
        while self.spawned.elapsed() < Duration::from_secs(20) {
            if self
                .parser
                .lock()
                .unwrap()
                .screen()
                .contents()
                .contains(needle)
            {
                return Ok(self.spawned.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let screen = self.parser.lock().unwrap().screen().contents();
        bail!("the wizard never showed {needle:?}; screen:\n{screen}")
    }

    fn pid(&self) -> Result<u32> {
        self.child.process_id().context("wizard pid")
    }
}

impl Drop for Wizard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ms from spawn until the first frame's tab bar ("1 Overview", drawn on every screen at
/// every size) is on the screen.
pub fn first_frame_ms() -> Result<f64> {
    let w = Wizard::spawn()?;
    Ok(w.wait_for("1 Overview")?.as_secs_f64() * 1000.0)
}

fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').context("stat format")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

/// CPU used by `n` idle wizards, each waiting at its checklist, over `span` each, as a
/// percentage of one core. The wizards run side by side (nothing else of the bench runs
/// meanwhile); each figure is that process's own CPU time.
pub fn idle_cpu_percent(n: usize, span: Duration) -> Result<Vec<f64>> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    let wizards: Vec<Wizard> = (0..n).map(|_| Wizard::spawn()).collect::<Result<_>>()?;
    for w in &wizards {
        w.wait_for("to sign")?;
    }
    // Let the checklist settle (the last pre-flight redraws) before counting.
    std::thread::sleep(Duration::from_millis(500));
    let start: Vec<u64> = wizards
        .iter()
        .map(|w| cpu_ticks(w.pid()?))
        .collect::<Result<_>>()?;
    let t = Instant::now();
    std::thread::sleep(span);
    let secs = t.elapsed().as_secs_f64();
    wizards
        .iter()
        .zip(start)
        .map(|(w, s0)| Ok((cpu_ticks(w.pid()?)? - s0) as f64 / hz / secs * 100.0))
        .collect()
}

/// Size of the release binary the bench runs (target/release/cutover), bytes.
pub fn binary_size() -> Result<u64> {
    Ok(std::fs::metadata(Path::new(BIN))?.len())
}
