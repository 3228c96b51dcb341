//! Settings a postgres container reads from files: the official image takes
//! `POSTGRES_PASSWORD`, `POSTGRES_USER` and `POSTGRES_DB` from the file named by the same
//! variable with `_FILE` appended, typically a Compose secret mounted at `/run/secrets/…`, so
//! the password is in no environment. cutover reads the same files through the Engine (the
//! container may be stopped), so an operator need not copy the password into cutover's
//! configuration as well.
//!
//! Invariants:
//! - Read as the entrypoint reads them ([`value_from_file`]): trailing newlines dropped; a
//!   setting given both ways is the entrypoint's error, and the environment's value is kept.
//! - A setting the configuration gives (`db_password`, `db_user`, `database`) is not read.
//! - The password is registered as a secret before it can reach any output; an error names
//!   the container, the variable, the path and the fix, never what the file holds.

use anyhow::{Context, Result};

use crate::adapters::docker::DockerClient;
use crate::adapters::postgres::value_from_file;

/// The settings read from files, each with the configuration key (and variable) that would
/// give it instead.
pub const FROM_FILES: [(&str, &str); 3] = [
    ("POSTGRES_PASSWORD", "db_password (CUTOVER_DB_PASSWORD)"),
    ("POSTGRES_USER", "db_user (CUTOVER_DB_USER)"),
    ("POSTGRES_DB", "database (CUTOVER_DATABASE)"),
];

/// A file larger than this is not a setting.
const MAX_BYTES: usize = 64 * 1024;

/// `env` (`KEY=VALUE`, a container's) with each `NAME_FILE` of [`FROM_FILES`] replaced by
/// `NAME=<the file's value>`, read inside `container`, unless `NAME` is already set there or
/// is in `configured` (the configuration gives it). Unchanged when no such file is named.
pub async fn inline(
    docker: &DockerClient,
    container: &str,
    mut env: Vec<String>,
    configured: &[&str],
) -> Result<Vec<String>> {
    for (name, fix) in FROM_FILES {
        if configured.contains(&name) || !value_of(&env, name).is_empty() {
            continue;
        }
        let file_var = format!("{name}_FILE");
        let path = value_of(&env, &file_var).to_string();
        if path.is_empty() {
            continue;
        }
        let read = async {
            let bytes = docker
                .read_container_file(container, &path, MAX_BYTES)
                .await?;
            value_from_file(bytes).map_err(anyhow::Error::msg)
        };
        let value = read.await.with_context(|| {
            format!(
                "cannot read {container}'s {file_var} ({path}) through the Docker engine; make \
                 the file readable there, or set {fix} for cutover"
            )
        })?;
        if name == "POSTGRES_PASSWORD" {
            crate::secrets::register(&value);
        }
        env.retain(|kv| !is_var(kv, name) && !is_var(kv, &file_var));
        env.push(format!("{name}={value}"));
    }
    Ok(env)
}

fn is_var(kv: &str, name: &str) -> bool {
    kv.split_once('=').is_some_and(|(k, _)| k == name)
}

/// The value of `name` in `env`, empty when absent.
fn value_of<'a>(env: &'a [String], name: &str) -> &'a str {
    env.iter()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v)
}
