//! The real binary on the hidden `scripted` plan (no Docker): a scratch stack directory with an
//! empty compose file, the plan's sign-offs, and readers of what the plan's steps left in
//! `scripted-world/` and of the newest journal. Shared by the headless CLI tests.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The scripted plan's two sign-offs, as flags.
pub const SIGN: [&str; 4] = [
    "--sign-off",
    "window-announced=Alice",
    "--sign-off",
    "owner-approval=Bob",
];

pub struct ScriptedStack {
    tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl ScriptedStack {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("privexbot");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), "services: {}\n").unwrap();
        Self { tmp, dir }
    }

    /// The binary in the stack directory on the scripted plan with `knobs`
    /// (`CUTOVER_SCRIPTED`), ignoring the caller's compose settings.
    pub fn cmd(&self, args: &[&str], knobs: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(args)
            .args(["--plan", "scripted"])
            .current_dir(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env("CUTOVER_SCRIPTED", knobs);
        cmd
    }

    pub fn run(&self, args: &[&str], knobs: &str) -> Output {
        self.cmd(args, knobs).output().unwrap()
    }

    /// A path beside (not inside) the stack directory, for a test's own files.
    pub fn out_path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A file the scripted steps write to show what they did.
    pub fn world(&self, name: &str) -> PathBuf {
        self.dir.join("scripted-world").join(name)
    }

    /// Which of the scripted plan's effects are in place now.
    pub fn markers(&self) -> Vec<&'static str> {
        ["stop-writers", "backup", "swap-image"]
            .into_iter()
            .filter(|m| self.world(m).exists())
            .collect()
    }

    /// The scripted steps' effect log, one line per effect, in order.
    pub fn effects(&self) -> Vec<String> {
        std::fs::read_to_string(self.world("effects.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The newest run's journal file.
    pub fn latest_journal(&self) -> PathBuf {
        let mut runs: Vec<_> = std::fs::read_dir(self.dir.join(".cutover/runs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        runs.sort();
        runs.pop().unwrap().join("journal.jsonl")
    }

    /// The newest run's journal text; empty when there is no run yet.
    pub fn journal(&self) -> String {
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

/// stdout then stderr, as one text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
