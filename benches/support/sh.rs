//! Running the docker CLI (and other programs) from the bench: async, bounded in time, stdin
//! from a file or nothing, stdout to a file or captured. The baselines are what an operator
//! would type, so they go through the CLI, not the Engine API.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// Longest any single command may take (the slowest is a 1 GB restore, well under this).
const LIMIT: Duration = Duration::from_secs(600);

/// Runs `cmd` to the end. `capture`: stdout is read back (false when the caller pointed it at
/// a file: tokio's `output()` would silently replace that with a pipe, so this spawns and
/// waits instead).
async fn finish(mut cmd: Command, what: &str, capture: bool) -> Result<String> {
    cmd.kill_on_drop(true).stderr(Stdio::piped());
    if capture {
        cmd.stdout(Stdio::piped());
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("{what}: could not start"))?;
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .with_context(|| format!("{what}: still running after {LIMIT:?}"))??;
    if !out.status.success() {
        bail!(
            "{what}: {} ({})",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `docker ARGS`, stdout trimmed.
pub async fn docker(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::null());
    finish(cmd, &format!("docker {}", args.join(" ")), true).await
}

/// `docker ARGS > out` (stdout straight into a new file).
pub async fn docker_to_file(args: &[&str], out: &Path) -> Result<()> {
    let f = std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(f));
    finish(
        cmd,
        &format!("docker {} > {}", args.join(" "), out.display()),
        false,
    )
    .await?;
    Ok(())
}

/// `docker ARGS < input`.
pub async fn docker_from_file(args: &[&str], input: &Path) -> Result<String> {
    let f = std::fs::File::open(input).with_context(|| format!("open {}", input.display()))?;
    let mut cmd = Command::new("docker");
    cmd.args(args).stdin(Stdio::from(f));
    finish(
        cmd,
        &format!("docker {} < {}", args.join(" "), input.display()),
        true,
    )
    .await
}

/// `testbed/bed compose PROJECT DIR ARGS`: the machine's Compose tool on the stack.
pub async fn compose(bed: &Path, project: &str, dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(bed);
    cmd.arg("compose")
        .arg(project)
        .arg(dir)
        .args(args)
        .stdin(Stdio::null());
    finish(cmd, &format!("compose {}", args.join(" ")), true).await
}

/// `psql -c SQL` as privexbot inside the postgres container (local socket).
pub async fn psql(container: &str, db: &str, sql: &str) -> Result<String> {
    docker(&[
        "exec",
        container,
        "psql",
        "-X",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "privexbot",
        "-d",
        db,
        "-c",
        sql,
    ])
    .await
}

/// What a program printed and whether it exited 0.
pub struct ProcessOut {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `bin ARGS` in `dir` with extra env and some variables removed, stdin closed.
pub async fn run_bin(
    bin: &str,
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    env_remove: &[&str],
) -> Result<ProcessOut> {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    cmd.kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in env_remove {
        cmd.env_remove(k);
    }
    let out = tokio::time::timeout(LIMIT, cmd.output())
        .await
        .with_context(|| format!("{bin} {}: still running after {LIMIT:?}", args.join(" ")))??;
    Ok(ProcessOut {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
