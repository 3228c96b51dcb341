//! The pre-flight's part of the run report: the target image as pinned (id and registry
//! digest) and what it runs, the C library of both images and the order each sorts the same
//! words in, what will happen to the data directory's ownership, and the collatable indexes
//! the change can affect with the REINDEX estimate and how it was made.
//!
//! Invariant: read from the journaled outputs of `target-probe`, `data-ownership` and
//! `collation-preview` only; a step that never ran leaves its part out.

use std::fmt::Write as _;

use serde::Serialize;

use super::steps::collation_preview::CollationPreview;
use super::steps::data_ownership::OwnershipOutput;
use crate::engine::recovery::RunState;
use crate::upgrade::outputs::ProbeOutput;

#[derive(Debug, Clone, Serialize, Default)]
pub struct PreflightFacts {
    pub target_image: Option<String>,
    pub target_image_id: Option<String>,
    pub target_digest: Option<String>,
    pub target_postgres: Option<String>,
    pub ownership: Option<OwnershipOutput>,
    pub collation: Option<CollationPreview>,
}

fn out<T: serde::de::DeserializeOwned>(s: &RunState, id: &str) -> Option<T> {
    serde_json::from_value(s.steps.get(id)?.output.clone()?).ok()
}

impl PreflightFacts {
    pub fn from_state(s: &RunState) -> Option<Self> {
        let probe = out::<ProbeOutput>(s, "target-probe")?;
        Some(PreflightFacts {
            target_image: Some(probe.target.image.clone()),
            target_image_id: Some(probe.target.image_id.clone()),
            target_digest: probe.target.repo_digests.first().cloned(),
            target_postgres: probe.target.postgres_version.clone(),
            ownership: out(s, "data-ownership"),
            collation: out(s, "collation-preview"),
        })
    }

    /// Lines for the end-of-run summary.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut v = vec![format!(
            "target pinned: {} = {}{}",
            self.target_image.as_deref().unwrap_or("?"),
            self.target_image_id.as_deref().unwrap_or("?"),
            self.target_digest
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )];
        if let Some(o) = self.ownership.as_ref().filter(|o| o.chown) {
            v.push(format!(
                "ownership: {} files chowned from uid {} to {} by the new image's entrypoint \
                 (estimated {})",
                o.files.map_or("?".into(), |f| f.to_string()),
                o.owner_uid.map_or("?".into(), |u| u.to_string()),
                o.runs_as_uid.map_or("?".into(), |u| u.to_string()),
                secs(o.estimate_ms)
            ));
        }
        if let Some(c) = self.collation.as_ref().filter(|c| c.may_break) {
            v.push(format!(
                "collation: {} -> {}; {} collatable btree index(es), {} bytes, REINDEX estimated {}",
                c.libc_before.as_deref().unwrap_or("?"),
                c.libc_after.as_deref().unwrap_or("?"),
                c.indexes.len(),
                c.total_bytes,
                secs(c.estimate_ms)
            ));
        }
        v
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let _ = writeln!(s, "\n## Pre-flight: the target image\n");
        let _ = writeln!(s, "- image: `{}`", o(&self.target_image));
        let _ = writeln!(s, "- pinned id: `{}`", o(&self.target_image_id));
        let _ = writeln!(
            s,
            "- registry digest: {}",
            self.target_digest
                .as_deref()
                .map_or("none (a local build)".to_string(), |d| format!("`{d}`"))
        );
        let _ = writeln!(s, "- server: {}", o(&self.target_postgres));
        if let Some(w) = &self.ownership {
            let _ = writeln!(
                s,
                "- data directory: owned by uid {}; the new server runs as uid {}; {}",
                w.owner_uid.map_or("?".into(), |u| u.to_string()),
                w.runs_as_uid.map_or("?".into(), |u| u.to_string()),
                if w.chown {
                    format!(
                        "its entrypoint chowns {} files (estimated {}: {})",
                        w.files.map_or("?".into(), |f| f.to_string()),
                        secs(w.estimate_ms),
                        w.how
                    )
                } else {
                    "nothing to chown".to_string()
                }
            );
        }
        if let Some(c) = &self.collation {
            let words = |w: &Option<Vec<String>>| {
                w.as_ref()
                    .map_or("not measured".to_string(), |w| format!("`{}`", w.join(" ")))
            };
            let _ = writeln!(
                s,
                "- C library: {} → {}",
                o(&c.libc_before),
                o(&c.libc_after)
            );
            let _ = writeln!(
                s,
                "- order under {}: before {}, after {}",
                c.locale.as_deref().unwrap_or("C"),
                words(&c.order_before),
                words(&c.order_after)
            );
            let _ = writeln!(
                s,
                "- collatable btree indexes the change can affect: {} ({} bytes), REINDEX \
                 estimated {} ({})",
                c.indexes.len(),
                c.total_bytes,
                if c.may_break {
                    secs(c.estimate_ms)
                } else {
                    "0 s: same C library and order".to_string()
                },
                c.how
            );
            if c.may_break && !c.indexes.is_empty() {
                let _ = writeln!(
                    s,
                    "\n| index | table | bytes | REINDEX estimate |\n|---|---|---|---|"
                );
                for i in &c.indexes {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} |",
                        i.index,
                        i.table,
                        i.size_bytes,
                        secs(i.estimate_ms)
                    );
                }
            }
        }
        s
    }
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or("?".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
}
