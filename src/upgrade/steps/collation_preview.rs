//! Check `collation-preview`: the C library of the old and the target image, the order each
//! sorts the same words in under the cluster's collation (measured inside each image), and
//! the indexes the change can break — the collatable btree indexes of the live database,
//! with sizes — with an estimate of the time to REINDEX them after the recreate.
//!
//! The estimate: a btree built on 100 000 synthetic text values under the database's
//! collation on the running server gives bytes of index per second; each image's `sort` of
//! the same 100 000 lines under that locale gives the two C libraries' relative collation
//! cost; the affected indexes' total size / rate × (target sort time / old sort time).
//! It never refuses: `collation` repairs what it finds; this says what to expect.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{earlier, meta};
use crate::adapters::docker::Libc;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, ProbeOutput};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AffectedIndex {
    pub index: String,
    pub table: String,
    pub size_bytes: i64,
    pub estimate_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollationPreview {
    pub libc_before: Option<String>,
    pub libc_after: Option<String>,
    pub locale: Option<String>,
    pub order_before: Option<Vec<String>>,
    pub order_after: Option<Vec<String>>,
    /// The C library changed, or the measured orders differ.
    pub may_break: bool,
    pub indexes: Vec<AffectedIndex>,
    pub total_bytes: i64,
    pub estimate_ms: Option<u64>,
    pub how: String,
}

pub struct CollationPreviewStep {
    pub env: Arc<UpgradeEnv>,
}

fn libc_text(kind: Option<Libc>, version: Option<&str>) -> Option<String> {
    match (kind, version) {
        (_, Some(v)) => Some(v.to_string()),
        (Some(k), None) => Some(format!("{k:?}").to_lowercase()),
        _ => None,
    }
}

#[async_trait]
impl Step for CollationPreviewStep {
    meta!(
        "collation-preview",
        "C library and collation of both images; indexes at risk",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "`sort` under the cluster's collation in both images; collatable btree indexes of {}",
            self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let c: ClusterFacts = earlier(cx, "cluster-facts")?;
        let p: ProbeOutput = earlier(cx, "target-probe")?;
        let t = &p.target;
        let b = p.before.as_ref();
        let order_after = t.sorted.as_ref().map(|s| s.words.clone());
        let order_before = b.and_then(|b| b.sorted.as_ref()).map(|s| s.words.clone());
        let libc_changed = b.is_none_or(|b| b.libc != t.libc || b.libc_version != t.libc_version);
        let order_differs = order_before.is_none() || order_before != order_after;
        let may_break = libc_changed || order_differs;
        // The relative cost of the target's collation against the old one's; the same C library
        // costs the same (a measured ratio would only be noise then).
        let ratio = match (
            b.and_then(|b| b.sorted.as_ref()).and_then(|s| s.sample_ms),
            t.sorted.as_ref().and_then(|s| s.sample_ms),
        ) {
            (Some(old), Some(new)) if old > 0 && libc_changed => new as f64 / old as f64,
            _ => 1.0,
        };
        let rate = c.build_rate.map(|r| r.bytes_per_sec()).filter(|r| *r > 0.0);
        let est = |bytes: i64| rate.map(|r| (bytes as f64 / r * ratio * 1000.0) as u64);
        let indexes: Vec<AffectedIndex> = c
            .collatable_indexes
            .iter()
            .map(|i| AffectedIndex {
                index: i.qualified_name.clone(),
                table: i.table.clone(),
                size_bytes: i.size_bytes,
                estimate_ms: est(i.size_bytes),
            })
            .collect();
        let total_bytes: i64 = indexes.iter().map(|i| i.size_bytes).sum();
        let how = match c.build_rate {
            Some(r) => format!(
                "a btree on {} synthetic text rows built in {} ms on the running server ({:.1} \
                 MB/s of index), times {ratio:.2} (the target's `sort` of the same lines under \
                 the collation against the old image's)",
                r.rows,
                r.ms,
                r.bytes_per_sec() / 1e6
            ),
            None => "no build rate measured".to_string(),
        };
        let out = CollationPreview {
            libc_before: b.and_then(|b| libc_text(b.libc, b.libc_version.as_deref())),
            libc_after: libc_text(t.libc, t.libc_version.as_deref()),
            locale: t.sorted.as_ref().map(|s| s.locale.clone()),
            order_before,
            order_after,
            may_break,
            estimate_ms: if may_break { est(total_bytes) } else { Some(0) },
            indexes,
            total_bytes,
            how,
        };
        cx.save_output(&out)?;
        let show = |o: &Option<Vec<String>>| {
            o.as_ref()
                .map_or("not measured".to_string(), |w| w.join(" "))
        };
        cx.log(format!(
            "C library: {} -> {}",
            out.libc_before.as_deref().unwrap_or("?"),
            out.libc_after.as_deref().unwrap_or("?")
        ));
        cx.log(format!(
            "order under {}: old image `{}`; target `{}`",
            out.locale.as_deref().unwrap_or("C (byte order in both)"),
            show(&out.order_before),
            show(&out.order_after)
        ));
        for i in &out.indexes {
            cx.log(format!(
                "{} on {}: {} bytes{}",
                i.index,
                i.table,
                i.size_bytes,
                i.estimate_ms
                    .map(|ms| format!(", REINDEX about {ms} ms"))
                    .unwrap_or_default()
            ));
        }
        cx.log(format!("estimate: {}", out.how));
        if !out.may_break || out.indexes.is_empty() {
            return Ok(Finish::Ok);
        }
        Ok(Finish::Warning(format!(
            "the collation changes ({}): {} collatable btree index(es), {} bytes, can be out of \
             order on the new server; the collation step checks and rebuilds them (estimated {})",
            if libc_changed {
                "another C library"
            } else {
                "the two images sort differently"
            },
            out.indexes.len(),
            out.total_bytes,
            out.estimate_ms.map_or("time unknown".into(), |ms| format!(
                "{:.1} s",
                ms as f64 / 1000.0
            ))
        )))
    }
}
