//! The machine's Compose tool: `docker compose` (v2, what most users run) if the docker CLI has
//! it, else `docker-compose` (Debian 12's is v1), unless `compose_command` names one. cutover
//! drives containers through the Engine API; the tool is used to ask whether it accepts the
//! edited compose file.
//!
//! Invariant: a forced choice that does not run is an error, never a silent fall-back to the
//! other version (an operator who pinned v1 must not get v2's reading of the file).

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::process::Command;

/// The `compose_command` value that picks v2 if present, else v1.
pub const AUTO: &str = "auto";

/// A Compose tool that answered `version`: its command words and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// e.g. `["docker", "compose"]`.
    pub words: Vec<String>,
    /// e.g. `2.26.1-4` or `1.29.2`.
    pub version: String,
}

impl Tool {
    /// Compose v2 or later (`config --format json`, `-1` container names, `scale:`).
    pub fn is_v2(&self) -> bool {
        !self.version.starts_with("1.")
    }

    pub fn command_line(&self) -> String {
        self.words.join(" ")
    }
}

/// The command words a `compose_command` value names: None for `auto`; `v1` and `v2` are
/// shorthands for `docker-compose` and `docker compose`; anything else is split on spaces.
pub fn words_of(choice: &str) -> Option<Vec<String>> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
    match choice.trim() {
        AUTO => None,
        "v1" => Some(words("docker-compose")),
        "v2" => Some(words("docker compose")),
        other => Some(words(other)),
    }
}

/// `WORDS version --short`, if the tool runs.
fn version_of(words: &[String]) -> Option<String> {
    let out = StdCommand::new(&words[0])
        .args(&words[1..])
        .args(["version", "--short"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // v1 may print a `v` prefix on some builds; keep the number only.
    let v = v.trim_start_matches('v').to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// The tool `choice` (a `compose_command` value) selects. `Ok(None)`: `auto` and neither is
/// installed. Blocking: runs `version` once or twice.
pub fn find(choice: &str) -> Result<Option<Tool>, String> {
    match words_of(choice) {
        None => {
            for words in [words_of("v2"), words_of("v1")].into_iter().flatten() {
                if let Some(version) = version_of(&words) {
                    return Ok(Some(Tool { words, version }));
                }
            }
            Ok(None)
        }
        Some(words) if words.is_empty() => Err("compose_command is empty: set it to auto, v1, \
                                                v2 or the command words"
            .into()),
        Some(words) => match version_of(&words) {
            Some(version) => Ok(Some(Tool { words, version })),
            None => Err(format!(
                "compose_command is `{choice}`, but `{} version` does not run: install it \
                 (`testbed/bed compose-v2` installs Compose v2) or set compose_command to auto",
                words.join(" ")
            )),
        },
    }
}

/// [`find`] off the async runtime's threads.
pub async fn detect(choice: &str) -> Result<Option<Tool>, String> {
    let choice = choice.to_string();
    tokio::task::spawn_blocking(move || find(&choice))
        .await
        .unwrap_or_else(|e| Err(format!("detecting the Compose tool: {e}")))
}

/// `TOOL -f F1 -f F2 ... config` (v2: `--format json`) in the project directory: the merged,
/// interpolated project as Compose resolves it, with the shell's environment and the `.env`.
/// Blocking. The error carries the tool's own message (e.g. a bad override or a missing
/// variable marked `:?`).
pub fn resolved_config(
    tool: &Tool,
    files: &[PathBuf],
    dir: &Path,
    project: &str,
) -> Result<String> {
    let mut cmd = StdCommand::new(&tool.words[0]);
    cmd.args(&tool.words[1..]).args(["-p", project]);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    cmd.arg("config");
    if tool.is_v2() {
        cmd.args(["--format", "json"]);
    }
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{} config`", tool.command_line()))?;
    if !out.status.success() {
        bail!(
            "`{} {} config` rejects the project: {}",
            tool.command_line(),
            file_args(files),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn file_args(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| format!("-f {}", f.display()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `TOOL -f F1 -f F2 ... config -q` in the project directory: Compose accepts the merged
/// project (every file, as `up` would read them).
pub async fn accepts(tool: &[String], files: &[PathBuf], dir: &Path) -> Result<()> {
    let mut cmd = Command::new(&tool[0]);
    cmd.args(&tool[1..]);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd
        .args(["config", "-q"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        bail!(
            "`{} {} config -q` rejects the project: {}",
            tool.join(" "),
            file_args(files),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::words_of;

    #[test]
    fn choices_name_command_words() {
        assert_eq!(words_of("auto"), None);
        assert_eq!(words_of("v1").unwrap(), ["docker-compose"]);
        assert_eq!(words_of("v2").unwrap(), ["docker", "compose"]);
        assert_eq!(
            words_of(" /opt/bin/docker  compose ").unwrap(),
            ["/opt/bin/docker", "compose"]
        );
    }
}
