//! The restore without copying the dump into the server's container: `pg_restore --jobs N`
//! runs in a throwaway container of the server's own image (the same pg_restore), sharing the
//! server's network namespace (it connects to 127.0.0.1 as a local client would) and reading
//! the dump where it lies, bind-mounted read-only.
//!
//! Why: the copy into the container's `/tmp` took 10 s of the 10 GB disaster rollback (a
//! 2 GB dump streamed through the Engine API), and needed that much room there.
//!
//! - The dump's sha256 is read from the same file while the container starts, and compared
//!   before pg_restore runs: a changed file is refused with nothing restored.
//! - Falls back (returns false, nothing restored) when the throwaway container cannot see the
//!   file whole (a remote engine binds a path of its own machine) or cannot log in to the
//!   server from 127.0.0.1 (`listen_addresses`, `pg_hba.conf`): the caller copies the dump in.
//! - The container lives as long as the restore needs (a week's `sleep`, removed when the
//!   restore ends) and carries a label naming the server's container, so a restore a killed
//!   rollback left running is removed before the next one starts.

use std::path::Path;

use super::{failed_if_nonzero, pg_restore_args};
use crate::adapters::backup::{BackupError, PgTarget, Result, sha256_file};
use crate::adapters::docker::DockerClient;
use crate::adapters::docker::probe::{Probe, ProbeOptions};

/// Where the dump's directory is mounted in the throwaway container.
const MOUNT: &str = "/cutover-dump";
/// Label on the throwaway container; its value is the server's container.
pub const LABEL: &str = "io.cutover.restore-beside";

/// Restores `path` (`bytes` long, sha256 `expected`) into `target.database` on the server
/// listening on `port` inside `target.container`. Ok(false): this way is not open here, and
/// nothing was restored.
pub(super) async fn restore(
    docker: &DockerClient,
    target: &PgTarget,
    port: u16,
    path: &Path,
    bytes: u64,
    expected: &str,
    jobs: u32,
) -> Result<bool> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(false);
    };
    let image = docker.status(&target.container).await?.image;
    docker.remove_labelled(LABEL, &target.container).await?;
    let hash = tokio::task::spawn_blocking({
        let path = path.to_path_buf();
        move || sha256_file(&path)
    });
    let opts = ProbeOptions {
        more_volumes: vec![(dir.display().to_string(), format!("{MOUNT}:ro"))],
        network_mode: Some(format!("container:{}", target.container)),
        labels: [(LABEL.to_string(), target.container.clone())].into(),
        long_running: true,
        ..Default::default()
    };
    let inside = format!("{MOUNT}/{name}");
    docker
        .with_probe_opts(&image, &opts, async |p| {
            Ok(run(p, target, port, &inside, bytes, jobs, hash, expected, path).await)
        })
        .await?
}

#[allow(clippy::too_many_arguments)]
async fn run(
    p: &Probe<'_>,
    target: &PgTarget,
    port: u16,
    inside: &str,
    bytes: u64,
    jobs: u32,
    hash: tokio::task::JoinHandle<Result<String>>,
    expected: &str,
    path: &Path,
) -> Result<bool> {
    let port = port.to_string();
    // The file whole, and a login from 127.0.0.1; the names are the shell's arguments, never
    // part of its script.
    let open = p
        .exec(&target.spec([
            "sh",
            "-c",
            "wc -c < \"$1\" && psql -X -w -h 127.0.0.1 -p \"$2\" -U \"$3\" -d \"$4\" -Atc 'SELECT 1'",
            "sh",
            inside,
            &port,
            &target.user,
            &target.database,
        ]))
        .await?;
    let out = open.stdout_str();
    let mut lines = out.lines().map(str::trim);
    let seen: Option<u64> = lines.next().and_then(|l| l.parse().ok());
    if open.exit_code != 0 || seen != Some(bytes) || lines.next() != Some("1") {
        return Ok(false);
    }
    let sha256 = hash.await.map_err(|e| BackupError::Io {
        context: format!("hashing {}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })??;
    if sha256 != expected {
        return Err(BackupError::Changed {
            path: path.to_path_buf(),
            sha256,
            expected: expected.to_string(),
        });
    }
    let jobs = jobs.to_string();
    let args = pg_restore_args(
        target,
        &["-h", "127.0.0.1", "-p", &port, "--jobs", &jobs, inside],
    );
    let out = p.exec(&target.spec(args)).await?;
    failed_if_nonzero(target, out.exit_code, out.stderr_str().trim())?;
    Ok(true)
}
