//! A database's fingerprint: per ordinary table of a schema, the exact row count and an
//! order-independent checksum of the rows' contents, taken before and after an upgrade (or a
//! rollback) to show that nothing was lost, changed or duplicated.
//!
//! Invariants:
//! - The checksum is the sum, as `numeric`, of a 64-bit hash of each row's text form. A sum does
//!   not depend on row order (physical order changes with VACUUM, restores and REINDEX), and
//!   unlike XOR a duplicated row changes it: the failure mode of a naive `psql < dump` restore
//!   into tables without a primary key.
//! - All tables are read in one REPEATABLE READ, read-only transaction, so the fingerprint is of
//!   one snapshot even while writers run.
//! - Row text depends on session settings (time zone, date and interval style, float digits,
//!   bytea output); they are pinned for the transaction so two sessions agree.
//! - Identifiers reach SQL only through `format('%I.%I')` computed by the server, never pasted.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

/// Row count and content checksum of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFingerprint {
    pub rows: i64,
    /// Decimal sum of per-row 64-bit hashes (signed, so it may be negative).
    pub checksum: String,
}

/// Table name (unqualified, within the fingerprinted schema) → its fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub tables: BTreeMap<String, TableFingerprint>,
}

impl Fingerprint {
    /// Human-readable differences from `other` (`self` = before, `other` = after), one per
    /// table that was added, removed or changed; empty when the two are equal.
    pub fn diff(&self, other: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        for (name, before) in &self.tables {
            match other.tables.get(name) {
                None => out.push(format!(
                    "{name}: missing after ({} rows before)",
                    before.rows
                )),
                Some(after) if after.rows != before.rows => out.push(format!(
                    "{name}: {} rows before, {} after",
                    before.rows, after.rows
                )),
                Some(after) if after.checksum != before.checksum => {
                    out.push(format!("{name}: same row count, different contents"))
                }
                Some(_) => {}
            }
        }
        for (name, after) in &other.tables {
            if !self.tables.contains_key(name) {
                out.push(format!("{name}: new table ({} rows)", after.rows));
            }
        }
        out
    }
}

const PIN_SETTINGS: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
    SET LOCAL TimeZone = 'UTC';
    SET LOCAL DateStyle = 'ISO, YMD';
    SET LOCAL IntervalStyle = 'postgres';
    SET LOCAL extra_float_digits = 1;
    SET LOCAL bytea_output = 'hex';";

/// The fingerprint of every ordinary table in `schema` (partitioned parents and views are
/// skipped; partitions are ordinary tables and are included).
pub async fn fingerprint(client: &Client, schema: &str) -> anyhow::Result<Fingerprint> {
    client
        .batch_execute(PIN_SETTINGS)
        .await
        .context("opening the fingerprint transaction")?;
    let result = scan(client, schema).await;
    // Read-only: ending it either way is safe; a failed COMMIT after an error is a ROLLBACK.
    let end = client.batch_execute("COMMIT").await;
    let fp = result?;
    end.context("closing the fingerprint transaction")?;
    Ok(fp)
}

async fn scan(client: &Client, schema: &str) -> anyhow::Result<Fingerprint> {
    let tables = client
        .query(
            "SELECT c.relname, format('%I.%I', n.nspname, c.relname)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind = 'r'
              ORDER BY c.relname",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing the tables of schema {schema}"))?;
    let mut fp = Fingerprint::default();
    for row in tables {
        let name: String = row.get(0);
        let qualified: String = row.get(1);
        // md5 of the row's text form, first 16 hex digits read as a signed 64-bit integer.
        let sql = format!(
            "SELECT count(*),
                    coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text
               FROM {qualified} AS t"
        );
        let r = client
            .query_one(&sql, &[])
            .await
            .with_context(|| format!("fingerprinting table {qualified}"))?;
        fp.tables.insert(
            name,
            TableFingerprint {
                rows: r.get(0),
                checksum: r.get(1),
            },
        );
    }
    Ok(fp)
}
