//! The machine's Compose tool: `docker compose` (v2, what most users run) if the docker CLI has
//! it, else Debian's `docker-compose` (v1). cutover drives containers through the Engine API;
//! the tool is used only to ask whether it accepts the edited compose file.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Result, bail};
use tokio::process::Command;

/// The command words, e.g. `["docker", "compose"]`; None when neither is installed.
pub async fn detect() -> Option<Vec<String>> {
    for words in [&["docker", "compose"][..], &["docker-compose"][..]] {
        let ok = Command::new(words[0])
            .args(&words[1..])
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if ok {
            return Some(words.iter().map(|w| w.to_string()).collect());
        }
    }
    None
}

/// `TOOL -f FILE config -q` in the file's directory (so its `.env` is read as Compose would).
pub async fn accepts(tool: &[String], file: &Path) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let out = Command::new(&tool[0])
        .args(&tool[1..])
        .arg("-f")
        .arg(file)
        .args(["config", "-q"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "`{} -f {} config -q` rejects the file: {}",
            tool.join(" "),
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
