//! The default disaster rollback (the physical backup's files copied in), killed in the middle
//! of its copy, then finished by the same command; on one real seeded test-bed stack
//! (Alpine-shaped → Debian-shaped, the real binary):
//!
//! 1. the upgrade completes with the physical backup (the default); the writers write;
//! 2. `rollback --disaster --yes` is SIGKILLed once its copy's throwaway container runs (the
//!    copy is under way): that container outlives the command, still copying or idle;
//! 3. the same command again (with `--break-stale-lock`, as the stale lock's error says): exit 0 (README: an asked-for rollback that completed), and the
//!    whole world as before the upgrade (`support::world`): postgres on the before image under
//!    its name, its restart policy and labels as they were, the compose file's bytes, no
//!    `vector`, every pre-existing table's fingerprint, the lock free; the only new thing is
//!    the backup volume, kept on the disaster path. The throwaway container the killed command
//!    left is gone (the guard: without it, that container keeps running `sleep` for 15 min
//!    and its `cp` could still be writing while the second copy starts); the files the upgrade
//!    left are aside in the data directory, and the printed command removes them.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::cutover::{Run, latest_run, report, text};
use support::world::World;
use support::{Stack, docker};

const COPY_LABEL: &str = "io.cutover.volume-swap";

fn copy_containers() -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={COPY_LABEL}"),
        "--format",
        "{{.Names}} {{.Label \"io.cutover.volume-swap\"}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// Removes this run's copy containers when dropped.
struct RemoveCopies(String);

impl Drop for RemoveCopies {
    fn drop(&mut self) {
        for c in copy_containers() {
            if let Some(name) = c.strip_suffix(&format!(" {}", self.0)) {
                let _ = Command::new("docker").args(["rm", "-f", name]).output();
            }
        }
    }
}

fn ls_data(volume: &str) -> Vec<String> {
    support::cutover::ls_volume(volume)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disaster_rollback_killed_in_its_copy_is_finished_by_the_same_command() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(60_000);
    let dir = stack.dir();
    let p = stack.project().to_string();
    let volume = format!("{p}_postgres_data");
    let before = World::of(&stack).await;

    let o = Run::upgrade(dir).output();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::thread::sleep(Duration::from_secs(2)); // the writers write on the new server
    let run = latest_run(dir);
    // The copy's container is labelled with the backup volume (this project's and run's).
    let backup = format!(
        "{p}_cutover-backup-{}",
        cutover::upgrade::outputs::run_key(&run)
    );
    let ours = |c: &String| c.ends_with(&format!(" {backup}"));

    // A failing assertion must not leave the killed copy's container behind (it carries no
    // Compose label, so the stack's own teardown does not see it).
    let _sweep = RemoveCopies(backup.clone());

    // 2. Killed while its copy runs.
    let mut child = Run::new(dir, &["rollback", "--disaster", "--yes"])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if copy_containers().iter().any(ours) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rollback ended before its copy started"
        );
        assert!(t.elapsed() < Duration::from_secs(180), "no copy started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Killed as soon as the copy's container exists: its exec is starting or running (a fixed
    // wait could outlast a fast copy, whose container is then already gone).
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        copy_containers().iter().any(ours),
        "the killed command's throwaway container outlives it"
    );

    // 3. Again (the killed command's lock is stale: broken as the error says): it finishes,
    //    and removes what the killed one left running.
    let o = Run::new(
        dir,
        &["rollback", "--disaster", "--yes", "--break-stale-lock"],
    )
    .output();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("the restored cluster is the stop's"), "{out}");
    assert!(
        !copy_containers().iter().any(ours),
        "{:?}",
        copy_containers()
    );

    let now = World::of(&stack).await;
    // The backup volume is kept on the disaster path: the one difference allowed.
    let diff: Vec<String> = now
        .diff(&before, &[format!("{p}-postgres")])
        .into_iter()
        .filter(|d| !d.contains(&backup))
        .collect();
    assert!(diff.is_empty(), "{diff:#?}\n{out}");

    let rb = report(&run)["upgrade"]["rollback"].clone();
    assert_eq!(rb["path"], "disaster", "{rb}");
    assert_eq!(rb["volume_swap"]["verified"], true, "{rb}");
    let aside = rb["volume_swap"]["aside"].as_str().unwrap().to_string();
    assert!(ls_data(&volume).contains(&aside), "{:?}", ls_data(&volume));
    let remove = rb["remove_aside"].as_str().unwrap_or_default();
    let command = remove
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a command in {remove}"));
    let ran = Command::new("sh").args(["-c", command]).output().unwrap();
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(!ls_data(&volume).contains(&aside), "{:?}", ls_data(&volume));
}
