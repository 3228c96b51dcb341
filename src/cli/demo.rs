//! The built-in demo: `cutover` (the wizard) started where there is no stack to work on, no
//! compose file in the working directory, no `COMPOSE_FILE`, no configuration, brings up the
//! test bed's privexbot-shaped demo stack (`testbed/bed demo-up`) and opens the wizard on it,
//! with the test bed's own images as the targets and no registry (`--pull never`).
//!
//! It only exists in a source checkout: the test bed is found through the crate's manifest
//! directory. An installed binary without it says how to point cutover at a real stack.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Cli;
use crate::config::COMPOSE_FILE_NAMES;

const PROJECT: &str = "cutover-demo";
/// The Debian-shaped target and Alpine-shaped start (testbed/lib/shaped.sh): the real swap's
/// collation and uid change, not a same-build stand-in.
const TARGET: &str = "cutover-testbed/postgres-debian-shaped:latest";
const QDRANT: &str = "cutover-testbed/qdrant-standin:latest";
const IMAGES: [&str; 4] = [
    "cutover-testbed/postgres-alpine-shaped:latest",
    TARGET,
    "cutover-testbed/app:latest",
    QDRANT,
];

/// True when nothing points cutover at a stack: then the wizard offers the demo.
pub fn wanted(cli: &Cli) -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let cwd = std::env::current_dir().unwrap_or_default();
    cli.global.compose_file.is_none()
        && cli.global.config.is_none()
        && !set("COMPOSE_FILE")
        && !set("CUTOVER_COMPOSE_FILE")
        && !set("CUTOVER_CONFIG")
        && !cwd.join("cutover.toml").exists()
        && !COMPOSE_FILE_NAMES.iter().any(|n| cwd.join(n).is_file())
}

fn bed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/bed")
}

fn demo_dir() -> PathBuf {
    std::env::var_os("CUTOVER_TESTBED_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/.cache"))
        .join("demo")
}

fn images_present() -> bool {
    Command::new("docker")
        .args(["image", "inspect"])
        .args(IMAGES)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Brings the demo stack up and points `cli` at it. Err is the message to print (exit 2).
pub fn prepare(cli: &mut Cli) -> Result<(), String> {
    let bed = bed();
    if !bed.is_file() {
        return Err(format!(
            "no compose file here ({}), no COMPOSE_FILE and no cutover.toml, so there is no \
             stack to upgrade. Run cutover from the directory that holds your stack's compose \
             file, or set COMPOSE_FILE=/path/to/compose.yaml, or pass --compose-file FILE. \
             (The built-in demo needs cutover's source tree; {} is not there.)",
            COMPOSE_FILE_NAMES.join(", "),
            bed.display()
        ));
    }
    eprintln!(
        "cutover: no compose file here, no COMPOSE_FILE and no configuration: starting the \
         built-in DEMO.\n  It brings up a privexbot-shaped test stack ({PROJECT}) with `testbed/bed \
         demo-up` and opens the wizard on it,\n  upgrading to the test bed's own images (no \
         registry). Tear it down afterwards with `testbed/bed demo-down`."
    );
    if !images_present() {
        if !is_root() {
            return Err(format!(
                "the demo's images are not built yet, and building them needs root (debootstrap \
                 makes their Debian root file systems). Run once as root: sudo {} images",
                bed.display()
            ));
        }
        eprintln!("cutover: building the demo images first (a few minutes, once; progress below)");
    }
    let status = Command::new(&bed)
        .arg("demo-up")
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bed.display()))?;
    if !status.success() {
        return Err(format!(
            "`testbed/bed demo-up` failed ({status}); its output is above"
        ));
    }
    let g = &mut cli.global;
    g.compose_file = Some(demo_dir().join("compose.yaml"));
    g.target_image.get_or_insert_with(|| TARGET.into());
    g.qdrant_image.get_or_insert_with(|| QDRANT.into());
    g.pull_policy.get_or_insert_with(|| "never".into());
    eprintln!(
        "cutover: demo stack up; opening the wizard on {} (target {TARGET})",
        demo_dir().join("compose.yaml").display()
    );
    Ok(())
}
