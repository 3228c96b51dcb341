//! The containers the log pane can follow, and the pane's own state: one bounded ring per
//! container, follow/pause, scrollback, search and the timestamp toggle.
//!
//! The container list comes from the pgvector plan's `discover` output, read with the step's
//! own type ([`Discovery`]): postgres, the writers it found, and qdrant once `start-qdrant` has
//! saved its container. A plan without that output (the scripted one) has no containers; an
//! output that does not parse is an error the pane shows, not an empty list.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ring::{DEFAULT_CAPACITY, Ring};
use crate::upgrade::outputs::{Discovery, Found, QdrantOutput};

/// The step whose output lists the stack's containers.
pub const DISCOVER_STEP: &str = "discover";
/// The step whose output names the qdrant container it started.
pub const QDRANT_STEP: &str = "start-qdrant";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub name: String,
    pub service: String,
    pub image: String,
    pub state: String,
    pub health: String,
    pub version: String,
}

impl From<&Found> for ContainerInfo {
    fn from(f: &Found) -> Self {
        ContainerInfo {
            name: f.container.clone(),
            service: f.service.clone(),
            image: f.image.clone(),
            state: if f.running { "running" } else { "stopped" }.into(),
            health: String::new(),
            version: String::new(),
        }
    }
}

/// The containers named by the step outputs: postgres first, then the writers in stop order,
/// then qdrant. `Ok(empty)` when the plan saved no discovery; `Err` when it did and it does
/// not read as one.
pub fn from_outputs(outputs: &BTreeMap<String, Value>) -> Result<Vec<ContainerInfo>, String> {
    let Some(raw) = outputs.get(DISCOVER_STEP) else {
        return Ok(Vec::new());
    };
    let d: Discovery = serde_json::from_value(raw.clone())
        .map_err(|e| format!("the discover step's output does not read as a discovery: {e}"))?;
    let mut v: Vec<ContainerInfo> = std::iter::once(&d.postgres)
        .chain(&d.writers)
        .map(ContainerInfo::from)
        .collect();
    if let Some(q) = &d.qdrant {
        v.push(ContainerInfo::from(q));
    } else if let Some(raw) = outputs.get(QDRANT_STEP) {
        let q: QdrantOutput = serde_json::from_value(raw.clone())
            .map_err(|e| format!("the start-qdrant output does not read: {e}"))?;
        v.push(ContainerInfo {
            name: q.container,
            service: "qdrant".into(),
            image: String::new(),
            state: "started by cutover".into(),
            health: if q.ready_ms.is_some() { "ready" } else { "" }.into(),
            version: String::new(),
        });
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub at: Option<DateTime<Utc>>,
    pub stderr: bool,
    pub text: String,
    /// A line from the follower itself (stopped, recreated, gone), not from the container.
    pub note: bool,
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

    fn found(service: &str) -> serde_json::Value {
        serde_json::json!({"service": service, "container": format!("p-{service}"), "id": "abc",
            "image": "img", "image_id": "sha256:1", "running": true})
    }

    #[test]
    fn reads_the_discovery_with_its_own_type() {
        let mut outputs = BTreeMap::new();
        assert_eq!(from_outputs(&outputs), Ok(Vec::new()));
        outputs.insert(
            DISCOVER_STEP.to_string(),
            serde_json::json!({"postgres": found("postgres"), "writers": [found("backend")],
                "absent": ["celery-worker"], "network": "p_default", "restart": null,
                "compose_version": "1.29.2", "qdrant": null}),
        );
        let c = from_outputs(&outputs).unwrap();
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["p-postgres", "p-backend"]);
        outputs.insert(
            QDRANT_STEP.to_string(),
            serde_json::json!({"container": "p-qdrant", "created": true, "endpoint": null,
                "collections": null, "ready_ms": 300}),
        );
        assert_eq!(from_outputs(&outputs).unwrap()[2].service, "qdrant");
        // A lenient reader would show nothing here; this says why.
        outputs.insert(
            DISCOVER_STEP.to_string(),
            serde_json::json!({"containers": [{"name": "x"}]}),
        );
        assert!(from_outputs(&outputs).unwrap_err().contains("discover"));
    }
}
