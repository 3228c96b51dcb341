//! Run directories: `<base>/<UTC timestamp>`, created 0700; "the latest run" is the greatest name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub fn new_run_dir(base: &Path) -> PathBuf {
    crate::engine::journal::new_run_dir(base)
}

pub fn latest_run(base: &Path) -> Result<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(base)
        .with_context(|| format!("no runs in {}", base.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(crate::engine::journal::JOURNAL_FILE).is_file())
        .collect();
    runs.sort();
    match runs.pop() {
        Some(r) => Ok(r),
        None => bail!("no runs in {}", base.display()),
    }
}

pub fn select(base: &Path, explicit: Option<&Path>) -> Result<PathBuf> {
    match explicit {
        Some(p) if p.join(crate::engine::journal::JOURNAL_FILE).is_file() => Ok(p.to_path_buf()),
        Some(p) => bail!("{} is not a run directory (no journal)", p.display()),
        None => latest_run(base),
    }
}
