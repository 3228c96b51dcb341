//! Letting the Compose tool create a service's container from the (edited) compose files:
//! `TOOL -p PROJECT -f FILE... up -d --no-deps --no-build SERVICE`, with every file of the
//! project in Compose's merge order (the base, then overrides: the one edited may be an
//! override), run in the first file's directory so its `.env` is read as the operator's own
//! `up` would read it.
//!
//! Why Compose and not the Engine API: what cutover leaves behind must be exactly what the
//! operator's own `docker compose up -d` would create (labels, config hash, names, volumes,
//! networks), in whichever Compose version the machine has, or that `up` recreates it and
//! destroys the fast rollback. Only Compose itself computes that exactly.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use tokio::process::Command;

/// Runs `up -d --no-deps --no-build SERVICE`; returns what the tool printed (it reports on
/// stderr), for the step's log.
pub async fn up_service(
    tool: &[String],
    files: &[PathBuf],
    project: &str,
    service: &str,
) -> Result<String> {
    compose(
        tool,
        files,
        project,
        &["up", "-d", "--no-deps", "--no-build", service],
    )
    .await
}

/// `TOOL -p PROJECT -f FILE... ARGS` in the first file's directory; returns what the tool
/// printed. Err quotes the command and its output.
pub async fn compose(
    tool: &[String],
    files: &[PathBuf],
    project: &str,
    args: &[&str],
) -> Result<String> {
    let dir = files
        .first()
        .and_then(|f| f.parent())
        .unwrap_or(Path::new("."));
    let file_args: Vec<&std::ffi::OsStr> = files
        .iter()
        .flat_map(|f| [std::ffi::OsStr::new("-f"), f.as_os_str()])
        .collect();
    let out = Command::new(&tool[0])
        .args(&tool[1..])
        .arg("-p")
        .arg(project)
        .args(&file_args)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {}", tool.join(" ")))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "`{} -p {project} {} {}` failed: {}",
            tool.join(" "),
            files
                .iter()
                .map(|f| format!("-f {}", f.display()))
                .collect::<Vec<_>>()
                .join(" "),
            args.join(" "),
            said.trim()
        );
    }
    Ok(said.trim().to_string())
}

/// The Compose tool the `engine` check found, or an error saying how to get one.
pub fn required(tool: Option<Vec<String>>) -> Result<Vec<String>> {
    match tool {
        Some(t) if !t.is_empty() => Ok(t),
        _ => bail!(
            "no Compose tool on this machine (neither `docker compose` nor `docker-compose`): \
             cutover lets Compose create the new containers so that your own `docker compose \
             up -d` leaves them alone; install Docker Compose, then run again"
        ),
    }
}
