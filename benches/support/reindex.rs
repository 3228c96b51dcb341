//! The collation cost (issue 11): the REINDEX time cutover spends on the collatable indexes,
//! forward (the `collation` step, on the new server, inside the window) and back (the fast
//! rollback's repair on the old server, before the writers return), each read from the run's
//! own journal, against a bare `REINDEX INDEX` of exactly the same indexes in the same
//! databases, timed by psql (`\timing`, per statement, as cutover times each one) right after,
//! on the same server.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::fast_rollback::{journal, output};
use super::sh::docker;

/// The application database: names without a `db:` prefix live there.
const MAIN_DB: &str = "privexbot";

/// An index cutover rebuilt: its database and its SQL-quoted `schema.index`.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub db: String,
    pub index: String,
}

/// What cutover rebuilt and how long its REINDEX statements took, in ms.
pub struct Cost {
    pub ms: f64,
    pub indexes: Vec<Rebuilt>,
}

/// The forward step's rebuilds: the main database's report and each other database's.
pub fn forward(run_dir: &Path) -> Result<Cost> {
    let out = output(&journal(run_dir)?, "collation")?;
    let mut cost = Cost {
        ms: 0.0,
        indexes: Vec::new(),
    };
    let reports = std::iter::once(&out["report"]).chain(
        out["other_databases"]
            .as_array()
            .map(|a| a.iter().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    for (i, r) in reports.enumerate() {
        let db = if i == 0 {
            MAIN_DB.to_string()
        } else {
            r["database"].as_str().unwrap_or_default().to_string()
        };
        // The rebuilds' wall time where they ran side by side (and were amchecked in the
        // same sessions), else the sum of their times.
        let wall = r["rebuild_wall_ms"].as_f64().filter(|w| *w > 0.0);
        if let Some(w) = wall {
            cost.ms += w;
        }
        for f in r["findings"].as_array().into_iter().flatten() {
            if f["reindexed"] == true {
                if wall.is_none() {
                    cost.ms += f["reindex_ms"].as_f64().unwrap_or(0.0);
                }
                cost.indexes.push(Rebuilt {
                    db: db.clone(),
                    index: f["index"]["qualified_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    Ok(cost)
}

/// The fast rollback's repair on the old server (`collation_repair` in `recreate-postgres`'
/// output; `db:schema.index` outside the main database).
pub fn back(run_dir: &Path) -> Result<Cost> {
    let out = output(&journal(run_dir)?, "recreate-postgres")?;
    let rec = &out["collation_repair"];
    anyhow::ensure!(!rec.is_null(), "the rollback journaled no collation repair");
    let indexes = rec["reindexed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| match n.split_once(':') {
            Some((db, index)) => Rebuilt {
                db: db.into(),
                index: index.into(),
            },
            None => Rebuilt {
                db: MAIN_DB.into(),
                index: n.into(),
            },
        })
        .collect();
    Ok(Cost {
        ms: rec["reindex_ms"].as_f64().unwrap_or(0.0),
        indexes,
    })
}

/// `REINDEX INDEX` of each of `indexes` in `container`, one psql per database, and the sum of
/// psql's per-statement times, in ms.
pub async fn bare(container: &str, indexes: &[Rebuilt]) -> Result<f64> {
    let mut dbs: Vec<&str> = indexes.iter().map(|r| r.db.as_str()).collect();
    dbs.sort_unstable();
    dbs.dedup();
    let mut total = 0.0;
    for db in dbs {
        let mut args: Vec<String> = [
            "exec",
            container,
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "privexbot",
            "-d",
            db,
            "-c",
            "\\timing on",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for r in indexes.iter().filter(|r| r.db == db) {
            args.push("-c".into());
            args.push(format!("REINDEX INDEX {}", r.index));
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = docker(&argv).await?;
        total += out
            .lines()
            .filter_map(|l| l.strip_prefix("Time: "))
            .filter_map(|t| t.split_whitespace().next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    Ok(total)
}
