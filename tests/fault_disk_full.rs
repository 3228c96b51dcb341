//! The backup filesystem fills up during the backup (`backup_kind = "logical"`: a `pg_dump`
//! inside the window). The run directory is on a small tmpfs
//! (we are root in the test bed; it is unmounted on drop) that passes the disk-space
//! pre-flight honestly; once the writers are being stopped, a ballast file leaves it almost
//! full, as another process filling the disk during the window would. The dump must fail
//! before any destructive step, remove its partial file, say which path and how much space,
//! and the rollback must restart the writers: exit 1, postgres untouched (same container,
//! same image), compose file identical, no lock.

mod fault_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fault_support::{Run, World, assert_restored, latest_run, text, wait_journal};
use support::Stack;

/// A tmpfs of `mib` MiB, unmounted on drop.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(mib: u32) -> Option<Self> {
        let d = tempfile::tempdir().unwrap();
        Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(d.path())
            .status()
            .is_ok_and(|s| s.success())
            .then_some(SmallFs(d))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Fills `fs` until `leave` bytes are free.
fn ballast(fs: &Path, leave: u64) -> PathBuf {
    let free = cutover::adapters::docker::free_space(fs)
        .unwrap()
        .free_bytes;
    let path = fs.join("ballast");
    let f = std::fs::File::create(&path).unwrap();
    // tmpfs allocates on write, not on set_len: write real bytes.
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let chunk = vec![0u8; 1 << 20];
    let mut left = free.saturating_sub(leave);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = w.flush();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_during_the_backup_changes_nothing() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let Some(fs) = SmallFs::mount(96) else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
        return;
    };
    let stack = Stack::up_seeded(3000);
    let dir = stack.dir();
    let pg_id = stack.container_id("postgres");
    let before = World::of(&stack);

    let runs = fs.path().join("runs");
    // The in-window dump is the logical kind's; the physical kind writes nothing to the run
    // directory inside the window (its dump after the window is `portable-dump`'s).
    let child = Run::upgrade(dir)
        .env("CUTOVER_BACKUP_KIND", "logical")
        .arg("--run-dir")
        .arg(runs.to_str().unwrap())
        .spawn();
    assert!(
        wait_journal(&runs, "step_started", "stop-writers", 60),
        "stop-writers never started"
    );
    ballast(fs.path(), 256 * 1024);
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("disk full while writing") && said.contains("free there now"),
        "names the problem and the space: {said}"
    );
    let run = latest_run(&runs);
    assert!(
        said.contains(&run.display().to_string()),
        "names the path: {said}"
    );
    let dumps: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dump"))
        .collect();
    assert!(dumps.is_empty(), "partial dump left behind: {dumps:?}");
    assert!(
        !said.contains("undone   Recreate postgres")
            && !said.contains("Recreate postgres on the new image, same volume ..."),
        "nothing destructive was attempted: {said}"
    );
    assert_restored(&stack, &before, &pg_id, &said);
}

/// `backup_kind = "physical"` (the default): the run directory fills up once the writers are
/// stopped. The window writes nothing there, so the upgrade completes; the dump after the
/// window fails on the full disk and says so as a warning naming the volume that holds the
/// backup. Exit 0, postgres on the new image, the backup volume there, no partial dump.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_after_the_window_keeps_the_upgrade_and_its_physical_backup() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let Some(fs) = SmallFs::mount(96) else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root)");
        return;
    };
    let stack = Stack::up_seeded(3000);
    let dir = stack.dir();
    let runs = fs.path().join("runs");
    let child = Run::upgrade(dir)
        .arg("--run-dir")
        .arg(runs.to_str().unwrap())
        .spawn();
    assert!(
        wait_journal(&runs, "step_started", "stop-writers", 60),
        "stop-writers never started"
    );
    ballast(fs.path(), 256 * 1024);
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("no portable dump") && said.contains("disk full while writing"),
        "the failed dump is said: {said}"
    );
    let project = stack.project();
    let volume = format!("{project}_cutover-backup-");
    assert!(
        said.contains(&volume),
        "the warning names the backup volume: {said}"
    );
    let volumes = support::docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]);
    assert_eq!(
        volumes.lines().count(),
        1,
        "the backup volume stays: {volumes}"
    );
    let run = latest_run(&runs);
    let dumps: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dump"))
        .collect();
    assert!(dumps.is_empty(), "partial dump left behind: {dumps:?}");
    assert_eq!(
        support::docker(&[
            "inspect",
            "-f",
            "{{.Config.Image}}",
            &stack.container("postgres")
        ]),
        fault_support::AFTER
    );
}
