//! Rows lost: an exact row count of every table that existed before an operation, compared
//! with the counts after it. The worker keeps inserting `worker_ticks` throughout, so that
//! table is compared only up to the highest `seq` seen before (ticks added later are not
//! "before" rows; a missing earlier tick is a lost write).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::sh::psql;

#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// table → rows (for worker_ticks: rows with seq ≤ `tick_max`).
    pub counts: BTreeMap<String, i64>,
    pub tick_max: i64,
}

/// Counts every table of schema public (exact `count(*)`).
pub async fn snapshot(container: &str) -> Result<Rows> {
    let tables = psql(
        container,
        "privexbot",
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .await?;
    let tick_max: i64 = psql(
        container,
        "privexbot",
        "SELECT coalesce(max(seq), 0) FROM worker_ticks",
    )
    .await?
    .parse()
    .context("worker_ticks max(seq)")?;
    let mut rows = Rows {
        tick_max,
        ..Default::default()
    };
    for t in tables.lines().filter(|t| !t.is_empty()) {
        let sql = if t == "worker_ticks" {
            format!("SELECT count(*) FROM worker_ticks WHERE seq <= {tick_max}")
        } else {
            format!("SELECT count(*) FROM public.\"{t}\"")
        };
        let n: i64 = psql(container, "privexbot", &sql)
            .await?
            .parse()
            .with_context(|| format!("count of {t}"))?;
        rows.counts.insert(t.to_string(), n);
    }
    Ok(rows)
}

/// Rows of `before`'s tables missing after (a table gone counts all its rows).
pub async fn lost_since(container: &str, before: &Rows) -> Result<i64> {
    let mut lost = 0;
    for (t, n) in &before.counts {
        let sql = if t == "worker_ticks" {
            format!(
                "SELECT count(*) FROM worker_ticks WHERE seq <= {}",
                before.tick_max
            )
        } else {
            format!("SELECT count(*) FROM public.\"{t}\"")
        };
        let now: i64 = match psql(container, "privexbot", &sql).await {
            Ok(s) => s.parse().with_context(|| format!("count of {t}"))?,
            Err(_) => 0,
        };
        lost += (n - now).max(0);
    }
    Ok(lost)
}

/// Total rows in a snapshot (for the report: how big "zero lost" is).
pub fn total(r: &Rows) -> i64 {
    r.counts.values().sum()
}
