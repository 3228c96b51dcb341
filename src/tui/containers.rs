//! The containers the log pane can follow, and the pane's own state: one bounded ring per
//! container, follow/pause, scrollback, search and the timestamp toggle.
//!
//! The container list comes from the `discover` step's output when a plan saves one. The
//! format is read leniently (an object with a `containers` array, or a bare array, of objects
//! with at least a `name`) so the TUI does not depend on one plan's types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ring::{DEFAULT_CAPACITY, Ring};

/// The step whose output lists the stack's containers.
pub const DISCOVER_STEP: &str = "discover";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub name: String,
    pub service: String,
    pub image: String,
    pub state: String,
    pub health: String,
    pub version: String,
}

fn text(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| match v.get(*k)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .unwrap_or_default()
}

/// Reads the containers out of a discovery output; empty when there are none or it has
/// another shape.
pub fn from_output(output: &Value) -> Vec<ContainerInfo> {
    let list = output
        .get("containers")
        .and_then(Value::as_array)
        .or_else(|| output.as_array());
    list.into_iter()
        .flatten()
        .filter_map(|c| {
            let name = text(c, &["name"]);
            (!name.is_empty()).then(|| ContainerInfo {
                service: text(c, &["service"]),
                image: text(c, &["image"]),
                state: text(c, &["state", "status"]),
                health: text(c, &["health"]),
                version: text(c, &["version"]),
                name,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: Option<DateTime<Utc>>,
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct LogView {
    /// Index into the container list of the one being followed.
    pub selected: Option<usize>,
    pub rings: BTreeMap<String, Ring<LogEntry>>,
    pub capacity: usize,
    /// Stick to the newest line; off while the operator reads back.
    pub follow: bool,
    /// Lines between the bottom of the pane and the newest line (0 when following).
    pub scroll: usize,
    pub timestamps: bool,
    pub search: Option<String>,
    /// Why the stream stopped, if it did (container gone, engine unreachable).
    pub ended: Option<String>,
}

impl Default for LogView {
    fn default() -> Self {
        Self {
            selected: None,
            rings: BTreeMap::new(),
            capacity: DEFAULT_CAPACITY,
            follow: true,
            scroll: 0,
            timestamps: true,
            search: None,
            ended: None,
        }
    }
}

impl LogView {
    pub fn push(&mut self, container: &str, entry: LogEntry) {
        let cap = self.capacity;
        let ring = self
            .rings
            .entry(container.to_string())
            .or_insert_with(|| Ring::new(cap));
        ring.push(entry);
        // Reading back: keep the same lines in view while new ones arrive below.
        if !self.follow {
            self.scroll = (self.scroll + 1).min(ring.len().saturating_sub(1));
        }
    }

    pub fn ring(&self, container: &str) -> Option<&Ring<LogEntry>> {
        self.rings.get(container)
    }

    /// The next older line matching the search, as a new `scroll` offset.
    pub fn next_match(&self, container: &str) -> Option<usize> {
        let needle = self.search.as_deref()?.to_lowercase();
        let ring = self.rings.get(container)?;
        let newest = ring.len().checked_sub(1)?;
        let start = if self.follow { 0 } else { self.scroll + 1 };
        (start..=newest).find(|off| {
            ring.get(newest - off)
                .is_some_and(|e| e.text.to_lowercase().contains(&needle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_containers_leniently() {
        let v = serde_json::json!({"containers": [
            {"name": "p-postgres-1", "service": "postgres", "image": "postgres:16-alpine", "state": "running"},
            {"service": "nameless"}
        ]});
        let c = from_output(&v);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].service, "postgres");
        assert!(from_output(&serde_json::json!({"other": 1})).is_empty());
    }
}
