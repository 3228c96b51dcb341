//! Whether anything wrote to a schema's tables between two moments, without reading a row:
//! per table, its identity (oid, the file that holds its rows, its column list) and the
//! server's cumulative tuple counters (`n_tup_ins`, `n_tup_upd`, `n_tup_del`).
//!
//! Why it proves something: every INSERT, UPDATE, DELETE, COPY or MERGE on a table, in any
//! session, committed or not, adds to those counters; TRUNCATE and every rewrite (ALTER TABLE
//! … TYPE, VACUUM FULL, CLUSTER) give the table a new file; ADD/DROP COLUMN changes the column
//! list. So equal states mean no row of the table changed, in seconds whatever its size.
//!
//! When it proves nothing, [`Activity::unproven`] says why, and the caller must read the rows:
//! - `track_counts` is off (the counters then stay at zero);
//! - another session is still connected: a backend hands its counters to the shared ones at
//!   exit at the latest (before it leaves `pg_stat_activity`), so only once every other
//!   session is gone are the counters complete;
//! - a table is new, gone, or its identity or counters moved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::PgError;

/// One table's identity and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableState {
    pub oid: i64,
    pub filenode: i64,
    /// `attnum:attname:atttypid:atttypmod:attisdropped`, in attnum order.
    pub columns: String,
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
}

/// Every ordinary table of a schema, by name.
pub type TableStates = BTreeMap<String, TableState>;

const STATES_SQL: &str = "
    SELECT c.relname, c.oid::int8, coalesce(pg_relation_filenode(c.oid), 0)::int8,
           coalesce((SELECT string_agg(format('%s:%s:%s:%s:%s', a.attnum, a.attname,
                                              a.atttypid, a.atttypmod, a.attisdropped),
                                       ',' ORDER BY a.attnum)
                       FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), ''),
           coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0)
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
     WHERE n.nspname = $1 AND c.relkind = 'r'";

/// Reads the state of every ordinary table of `schema`. Each call is its own transaction, so
/// the counters are read afresh (not from the session's statistics snapshot).
pub async fn table_states(client: &Client, schema: &str) -> Result<TableStates, PgError> {
    let rows = client
        .query(STATES_SQL, &[&schema])
        .await
        .map_err(PgError::query("reading the tables' identity and counters"))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                TableState {
                    oid: r.get(1),
                    filenode: r.get(2),
                    columns: r.get(3),
                    inserted: r.get(4),
                    updated: r.get(5),
                    deleted: r.get(6),
                },
            )
        })
        .collect())
}

/// Waits up to `settle` for every other client session but `ignore` to end (a session hands
/// in its row-change counters as it exits); returns how many are still there.
pub async fn sessions_gone(
    client: &Client,
    ignore: &[i32],
    settle: std::time::Duration,
) -> Result<i64, PgError> {
    let deadline = std::time::Instant::now() + settle;
    loop {
        let others: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                    AND pid <> ALL($1)
                    AND NOT (client_addr IS NULL AND application_name = 'pg_isready')",
                &[&ignore],
            )
            .await
            .map_err(PgError::query("listing the other sessions"))?
            .get(0);
        if others == 0 || std::time::Instant::now() >= deadline {
            return Ok(others);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The rows each table of `before` gained, changed and lost since, by the counters alone;
/// None when they cannot tell (a table gone or rewritten, or counters that went back: the
/// server restarted and counts afresh).
pub fn writes_since(before: &TableStates, now: &TableStates) -> Option<Vec<(String, [i64; 3])>> {
    let mut v = Vec::new();
    for (name, b) in before {
        let n = now.get(name)?;
        if n.oid != b.oid || n.filenode != b.filenode || n.columns != b.columns {
            return None;
        }
        let d = [
            n.inserted - b.inserted,
            n.updated - b.updated,
            n.deleted - b.deleted,
        ];
        if d.iter().any(|x| *x < 0) {
            return None;
        }
        if d != [0; 3] {
            v.push((name.clone(), d));
        }
    }
    Some(v)
}

/// What [`activity_since`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Empty: every table of `before` is provably untouched. Else why that is not shown.
    pub unproven: Vec<String>,
    /// Tables present now that were not in `before`.
    pub new_tables: Vec<String>,
}

/// Compares the tables of `before` with the server now. Waits up to `settle` for other
/// sessions but `ignore` (read-only ones of the caller's) to end: their counters reach the
/// shared ones as they exit.
pub async fn activity_since(
    client: &Client,
    schema: &str,
    before: &TableStates,
    ignore: &[i32],
    settle: std::time::Duration,
) -> Result<Activity, PgError> {
    let mut unproven = Vec::new();
    let track: String = client
        .query_one("SELECT current_setting('track_counts')", &[])
        .await
        .map_err(PgError::query("reading track_counts"))?
        .get(0);
    if track != "on" {
        unproven.push("track_counts is off: the server counts no row changes".into());
    }
    let others = sessions_gone(client, ignore, settle).await?;
    if others > 0 {
        unproven.push(format!(
            "{others} other session(s) still connected: their row changes may not be counted yet"
        ));
    }
    let now = table_states(client, schema).await?;
    for (name, b) in before {
        match now.get(name) {
            None => unproven.push(format!("{name}: gone")),
            Some(n) if n.oid != b.oid || n.filenode != b.filenode => {
                unproven.push(format!("{name}: rewritten or replaced (a new file)"))
            }
            Some(n) if n.columns != b.columns => unproven.push(format!("{name}: columns changed")),
            Some(n) if (n.inserted, n.updated, n.deleted) != (b.inserted, b.updated, b.deleted) => {
                unproven.push(format!(
                    "{name}: {} row(s) inserted, {} updated, {} deleted since",
                    n.inserted - b.inserted,
                    n.updated - b.updated,
                    n.deleted - b.deleted
                ))
            }
            Some(_) => {}
        }
    }
    let new_tables = now
        .keys()
        .filter(|k| !before.contains_key(*k))
        .cloned()
        .collect();
    Ok(Activity {
        unproven,
        new_tables,
    })
}
