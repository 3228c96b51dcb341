//! "The world" of a test-bed stack, as an operator would check it after a rollback: every
//! container of the project (id, name, image, state, restart policy, labels), the compose
//! file's bytes, the project's volumes and networks, the database's extensions, its
//! replication slots (a forgotten one keeps WAL for ever) and every table with its
//! fingerprint, and whether cutover's lock is free. Two snapshots compare field
//! by field, and [`World::diff`] names each difference in words.
//!
//! What belongs to the project: anything carrying its Compose label, and anything whose name
//! begins with the project name (a container or volume cutover created without the label is
//! exactly what this must catch).
//!
//! Two allowances, each for a reason:
//! - the worker writes `worker_ticks` all the time, so that table's contents are not compared
//!   (its presence is; [`super::cutover::assert_worker_seq_gapless`] checks its rows);
//! - the ids of the services in `recreated` are not compared (a rollback may re-create the old
//!   postgres container from its recorded configuration rather than rename the parked one);
//!   their name, image, state, restart policy and labels still are.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{LABEL_PROJECT, Stack, docker};

/// The table the test bed's worker keeps writing to.
pub const GROWING_TABLE: &str = "worker_ticks";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    pub id: String,
    pub image: String,
    pub image_id: String,
    /// `running`, `exited`, `created`, ...
    pub state: String,
    pub restart: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    /// By container name (without the leading `/`).
    pub containers: BTreeMap<String, ContainerFacts>,
    pub compose: Vec<u8>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// `name version`.
    pub extensions: Vec<String>,
    pub slots: Vec<String>,
    /// Table name to `rows/checksum`; the growing table as `(growing)`.
    pub tables: BTreeMap<String, String>,
    /// The holder written in the lock file; empty when free.
    pub lock: String,
}

impl World {
    /// Takes the snapshot now. Postgres must be reachable under its service's container name.
    pub async fn of(stack: &Stack) -> World {
        let project = stack.project();
        let db = stack.connect().await;
        let extensions = db
            .query(
                "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1",
                &[],
            )
            .await
            .expect("list extensions")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let slots = db
            .query(
                "SELECT slot_name::text FROM pg_replication_slots ORDER BY 1",
                &[],
            )
            .await
            .expect("list replication slots")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let fp = cutover::adapters::fingerprint::fingerprint(&db, "public")
            .await
            .expect("fingerprint the tables");
        let tables = fp
            .tables
            .iter()
            .map(|(name, t)| {
                let v = if name == GROWING_TABLE {
                    "(growing)".to_string()
                } else {
                    format!("{} rows, checksum {}", t.rows, t.checksum)
                };
                (name.clone(), v)
            })
            .collect();
        // Closed now, not whenever the runtime gets to it: cutover waits for sessions to end.
        drop(db);
        tokio::task::yield_now().await;
        World {
            containers: containers(project),
            compose: std::fs::read(stack.compose_file()).expect("read the compose file"),
            volumes: names(project, "volume", "{{.Name}}"),
            networks: names(project, "network", "{{.Name}}"),
            extensions,
            slots,
            tables,
            lock: lock_holder(stack.dir()),
        }
    }

    /// Every difference from `before`, in words; empty when the worlds are equal. The ids of
    /// the containers named in `recreated` are not compared.
    pub fn diff(&self, before: &World, recreated: &[String]) -> Vec<String> {
        let mut d = Vec::new();
        for (name, was) in &before.containers {
            let Some(now) = self.containers.get(name) else {
                d.push(format!("container {name} is gone"));
                continue;
            };
            if was.id != now.id && !recreated.contains(name) {
                d.push(format!(
                    "container {name} was replaced: id {} -> {}",
                    short(&was.id),
                    short(&now.id)
                ));
            }
            let fields = [
                ("image", &was.image, &now.image),
                ("image id", &was.image_id, &now.image_id),
                ("state", &was.state, &now.state),
                ("restart policy", &was.restart, &now.restart),
            ];
            for (what, a, b) in fields {
                if a != b {
                    d.push(format!("container {name}: {what} {a} -> {b}"));
                }
            }
            d.extend(map_diff(
                &format!("container {name}: label"),
                &was.labels,
                &now.labels,
            ));
        }
        for (name, c) in &self.containers {
            if !before.containers.contains_key(name) {
                d.push(format!(
                    "container {name} is new ({} {}, {})",
                    c.image,
                    short(&c.id),
                    c.state
                ));
            }
        }
        if self.compose != before.compose {
            d.push(format!(
                "the compose file differs:\n--- before\n{}\n--- now\n{}",
                String::from_utf8_lossy(&before.compose),
                String::from_utf8_lossy(&self.compose)
            ));
        }
        d.extend(list_diff("volume", &before.volumes, &self.volumes));
        d.extend(list_diff("replication slot", &before.slots, &self.slots));
        d.extend(list_diff("network", &before.networks, &self.networks));
        d.extend(list_diff("extension", &before.extensions, &self.extensions));
        d.extend(map_diff("table", &before.tables, &self.tables));
        if self.lock != before.lock {
            d.push(format!("lock: {:?} -> {:?}", before.lock, self.lock));
        }
        d
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn list_diff(what: &str, before: &[String], now: &[String]) -> Vec<String> {
    let mut d: Vec<String> = before
        .iter()
        .filter(|x| !now.contains(x))
        .map(|x| format!("{what} {x} is gone"))
        .collect();
    d.extend(
        now.iter()
            .filter(|x| !before.contains(x))
            .map(|x| format!("{what} {x} is new")),
    );
    d
}

fn map_diff(
    what: &str,
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in before {
        match now.get(k) {
            None => d.push(format!("{what} {k} is gone (was {v})")),
            Some(n) if n != v => d.push(format!("{what} {k}: {v} -> {n}")),
            Some(_) => {}
        }
    }
    for (k, v) in now {
        if !before.contains_key(k) {
            d.push(format!("{what} {k} is new ({v})"));
        }
    }
    d
}

/// Sorted, deduplicated names (per `format`) of the project's objects of `kind` (`volume`,
/// `network`): by label, and by name prefix.
fn names(project: &str, kind: &str, format: &str) -> Vec<String> {
    let label = format!("label={LABEL_PROJECT}={project}");
    let by_name = docker(&[
        kind,
        "ls",
        "--filter",
        &format!("name={project}"),
        "--format",
        format,
    ]);
    let mut v: Vec<String> = docker(&[kind, "ls", "--filter", &label, "--format", format])
        .lines()
        .chain(by_name.lines().filter(|n| ours(n, project)))
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Named after the project (`<project>-...`, `<project>_...`): the name filter of the docker
/// CLI matches substrings, and `cotest-1-1` is a prefix of `cotest-1-10`.
fn ours(name: &str, project: &str) -> bool {
    name.strip_prefix(project)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
}

fn containers(project: &str) -> BTreeMap<String, ContainerFacts> {
    let label = format!("label={LABEL_PROJECT}={project}");
    let by_label = docker(&["ps", "-a", "-q", "--no-trunc", "--filter", &label]);
    let by_name = docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("name={project}"),
        "--format",
        "{{.ID}} {{.Names}}",
    ]);
    let mut ids: Vec<String> = by_label.lines().map(String::from).collect();
    ids.extend(
        by_name
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, name)| ours(name, project))
            .map(|(id, _)| id.to_string()),
    );
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    let all: Vec<Value> = serde_json::from_str(&docker(&args)).expect("docker inspect JSON");
    all.iter()
        .map(|c| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let labels = c["Config"]["Labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
                .unwrap_or_default();
            let name = s(&c["Name"]).trim_start_matches('/').to_string();
            let facts = ContainerFacts {
                id: s(&c["Id"]),
                image: s(&c["Config"]["Image"]),
                image_id: s(&c["Image"]),
                state: s(&c["State"]["Status"]),
                restart: s(&c["HostConfig"]["RestartPolicy"]["Name"]),
                labels,
            };
            (name, facts)
        })
        .collect()
}

fn lock_holder(stack_dir: &Path) -> String {
    std::fs::read_to_string(stack_dir.join(".cutover/lock"))
        .unwrap_or_default()
        .trim()
        .to_string()
}
