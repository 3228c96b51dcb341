//! The collation check for a C-library change under the same data directory (alpine/musl →
//! Debian/glibc): text sorts differently, so btree indexes on collatable columns can be out of
//! order, and PostgreSQL does not warn when the libc changes under it.
//!
//! What it does: list the indexes whose key columns (or expressions) use a collation other than
//! C/POSIX (the default collation counts unless the database itself is C/POSIX); check each
//! btree one with amcheck's `bt_index_check` (creating amcheck if missing, and saying so, so the
//! caller can drop it again); REINDEX the ones that failed, or all listed ones when the C
//! library changed (bt_index_check can miss misordering it does not happen to visit); then
//! `ALTER DATABASE ... REFRESH COLLATION VERSION` (PostgreSQL 15+). Everything lands in a
//! serializable [`CollationReport`] with timings.
use std::time::Instant;

use tokio_postgres::Client;

use crate::adapters::postgres::{self, ExtensionChange, PgError, quote_ident};

/// An index that depends on a non-C collation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollatableIndex {
    pub oid: u32,
    /// `schema.index`, quoted as SQL needs it (safe to paste into REINDEX).
    pub qualified_name: String,
    pub table: String,
    /// Access method: btree, hash, gin, ...
    pub method: String,
    /// The collations it uses ("default (en_US.utf8)", "de-x-icu", ...).
    pub collations: Vec<String>,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckOutcome {
    NotChecked,
    /// amcheck only checks btree indexes.
    Unsupported,
    Passed,
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexFinding {
    pub index: CollatableIndex,
    pub check: CheckOutcome,
    pub check_ms: u64,
    pub reindexed: bool,
    pub reindex_ms: u64,
}

/// Which listed indexes to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReindexPolicy {
    None,
    /// Only those bt_index_check found broken.
    Failed,
    /// All listed ones: the right choice when the C library changed.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollationOptions {
    pub check: bool,
    /// Also verify every heap tuple is in the index (slower, finds more).
    pub heapallindexed: bool,
    pub reindex: ReindexPolicy,
    pub refresh_collation_version: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollationReport {
    pub database: String,
    /// Collation version recorded in pg_database / reported by the C library now (PG15+).
    pub recorded_collation_version: Option<String>,
    pub actual_collation_version: Option<String>,
    pub amcheck: Option<ExtensionChange>,
    pub findings: Vec<IndexFinding>,
    pub collation_version_refreshed: bool,
    pub total_ms: u64,
    /// Wall time of the rebuilds and their amchecks, run side by side in several sessions
    /// ([`reindex_in_sessions`]): less than the sum of the per-index times. 0 in reports
    /// written before they ran in parallel, and by [`run`] (one session: the sum is the wall
    /// time there).
    #[serde(default)]
    pub rebuild_wall_ms: u64,
}

impl CollationReport {
    /// Time the rebuilds took end to end.
    pub fn rebuild_ms(&self) -> u64 {
        match self.rebuild_wall_ms {
            0 => self
                .findings
                .iter()
                .filter(|f| f.reindexed)
                .map(|f| f.reindex_ms)
                .sum(),
            wall => wall,
        }
    }
}

impl CollationReport {
    pub fn failed_checks(&self) -> impl Iterator<Item = &IndexFinding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.check, CheckOutcome::Failed { .. }))
    }
}

/// Indexes in user schemas whose keys use a collation other than C/POSIX.
pub async fn list_collatable_indexes(client: &Client) -> Result<Vec<CollatableIndex>, PgError> {
    // indcollation holds one collation per key column or expression (0 when not collatable).
    // The default collation (oid 100) is the database's: harmless only if that is C/POSIX.
    let rows = client
        .query(
            "WITH db AS (
                 SELECT datcollate FROM pg_database WHERE datname = current_database()
             )
             SELECT i.indexrelid::oid AS oid,
                    format('%I.%I', n.nspname, ic.relname) AS qualified_name,
                    i.indrelid::regclass::text AS table_name,
                    am.amname::text AS method,
                    array_agg(DISTINCT CASE WHEN c.oid = 100
                                            THEN 'default (' || db.datcollate || ')'
                                            ELSE c.collname::text END) AS collations,
                    pg_relation_size(i.indexrelid) AS size_bytes
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_namespace n ON n.oid = ic.relnamespace
             JOIN pg_am am ON am.oid = ic.relam
             CROSS JOIN LATERAL unnest(i.indcollation::oid[]) AS k(coll)
             JOIN pg_collation c ON c.oid = k.coll
             CROSS JOIN db
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%'
               AND NOT (c.oid <> 100 AND c.collname IN ('C', 'POSIX'))
               AND NOT (c.oid = 100 AND db.datcollate IN ('C', 'POSIX'))
             GROUP BY i.indexrelid, n.nspname, ic.relname, i.indrelid, am.amname
             ORDER BY 2",
            &[],
        )
        .await
        .map_err(PgError::query("listing indexes on collatable columns"))?;
    Ok(rows
        .into_iter()
        .map(|r| CollatableIndex {
            oid: r.get(0),
            qualified_name: r.get(1),
            table: r.get(2),
            method: r.get(3),
            collations: r.get(4),
            size_bytes: r.get(5),
        })
        .collect())
}

/// Runs bt_index_check on one index (needs amcheck installed).
pub async fn check_index(
    client: &Client,
    index: &CollatableIndex,
    heapallindexed: bool,
) -> CheckOutcome {
    if index.method != "btree" {
        return CheckOutcome::Unsupported;
    }
    match client
        .execute(
            "SELECT bt_index_check($1::oid::regclass, $2)",
            &[&index.oid, &heapallindexed],
        )
        .await
    {
        Ok(_) => CheckOutcome::Passed,
        Err(e) => CheckOutcome::Failed {
            message: e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string()),
        },
    }
}

/// Why a REINDEX failed.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    /// A unique index whose table now holds duplicate keys (rows written while the index was
    /// misordered and missed the existing key): it cannot be rebuilt until they are resolved.
    #[error(
        "REINDEX INDEX {index} failed: the table holds duplicate keys for this unique index \
         ({detail}); duplicate rows (key, count, row ids): {rows}. Resolve the duplicates \
         (keep one row per key), then run again"
    )]
    Duplicates {
        index: String,
        detail: String,
        /// `key | count | ctids`, at most five groups.
        rows: String,
    },
    #[error(transparent)]
    Pg(#[from] PgError),
}

/// REINDEX INDEX (not CONCURRENTLY: writers are stopped during the window, and a plain rebuild
/// is faster and leaves no invalid index behind on failure). A unique index that cannot be
/// rebuilt because of duplicates names the duplicate rows.
pub async fn reindex(client: &Client, index: &CollatableIndex) -> Result<(), ReindexError> {
    let Err(e) = client
        .batch_execute(&format!("REINDEX INDEX {}", index.qualified_name))
        .await
    else {
        return Ok(());
    };
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        let detail = e
            .as_db_error()
            .and_then(|d| d.detail().map(String::from))
            .unwrap_or_else(|| e.to_string());
        let rows = duplicate_rows(client, index)
            .await
            .unwrap_or_else(|why| format!("(could not list them: {why})"));
        return Err(ReindexError::Duplicates {
            index: index.qualified_name.clone(),
            detail,
            rows,
        });
    }
    Err(PgError::query(format!("REINDEX INDEX {}", index.qualified_name))(e).into())
}

/// One rebuilt index, as [`reindex_in_sessions`] reports it.
#[derive(Debug)]
pub struct Rebuilt {
    /// Its position in the list given.
    pub position: usize,
    pub ms: u64,
    /// amcheck of the fresh index, in the session that built it.
    pub check: CheckOutcome,
}

/// Rebuilds `indexes` over `sessions` side by side, largest first, each session taking the
/// next one when it is done, and amchecks each right after its rebuild. `done` is called as
/// each finishes (e.g. to journal it). After a failure no session starts another; the first
/// failure is returned once the others have finished theirs.
///
/// Why several sessions: the server builds a large btree with parallel workers already, but
/// the small indexes and the sorts' single-threaded phases leave cores idle. Measured on the
/// 1 GB test bed, 2 cores: the 7 collatable indexes in 5.0–5.2 s in two sessions against
/// 6.1–6.7 s in one.
pub async fn reindex_in_sessions(
    sessions: &[Client],
    indexes: &[CollatableIndex],
    mut done: impl FnMut(Rebuilt),
) -> Result<(), ReindexError> {
    let mut order: Vec<usize> = (0..indexes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(indexes[i].size_bytes));
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(order));
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let workers: Vec<_> = sessions
        .iter()
        .map(|client| {
            let (tx, queue, failed) = (tx.clone(), &queue, &failed);
            async move {
                loop {
                    if failed.load(std::sync::atomic::Ordering::SeqCst) {
                        return Ok(());
                    }
                    let Some(i) = queue.lock().expect("queue lock").pop_front() else {
                        return Ok(());
                    };
                    let t = Instant::now();
                    if let Err(e) = reindex(client, &indexes[i]).await {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        return Err(e);
                    }
                    let ms = t.elapsed().as_millis() as u64;
                    let check = check_index(client, &indexes[i], false).await;
                    let _ = tx.send(Rebuilt {
                        position: i,
                        ms,
                        check,
                    });
                }
            }
        })
        .collect();
    drop(tx);
    let all = futures_util::future::join_all(workers);
    let drain = async {
        while let Some(r) = rx.recv().await {
            done(r);
        }
    };
    let (results, ()) = tokio::join!(all, drain);
    results.into_iter().collect()
}

/// Up to five duplicate key groups of a unique index on plain columns, read by sequential scan
/// (the index itself is not to be trusted): `key | count | ctids`, joined by "; ".
async fn duplicate_rows(client: &Client, index: &CollatableIndex) -> Result<String, String> {
    let cols: Option<String> = client
        .query_one(
            "SELECT CASE WHEN bool_and(a.attname IS NOT NULL)
                         THEN string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) END
             FROM pg_index i
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                                      AND k.attnum > 0
             WHERE i.indexrelid = $1::oid AND k.n <= i.indnkeyatts",
            &[&index.oid],
        )
        .await
        .map_err(|e| e.to_string())?
        .get(0);
    let Some(cols) = cols else {
        return Err("an expression index: see the detail above".into());
    };
    let sql = format!(
        "BEGIN; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; \
         SET LOCAL enable_bitmapscan = off; \
         SELECT format('(%s) | %s | %s', concat_ws(', ', {cols}), count(*), \
                       string_agg(ctid::text, ' ' ORDER BY ctid)) \
         FROM {table} WHERE ({cols}) IS NOT NULL \
         GROUP BY {cols} HAVING count(*) > 1 ORDER BY 1 LIMIT 5; COMMIT",
        table = index.table
    );
    let msgs = client.simple_query(&sql).await.map_err(|e| e.to_string())?;
    let groups: Vec<String> = msgs
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(String::from),
            _ => None,
        })
        .collect();
    Ok(groups.join("; "))
}

/// Recorded and actual collation versions of the current database (both None before PG15).
pub async fn collation_versions(
    client: &Client,
) -> Result<(Option<String>, Option<String>), PgError> {
    if postgres::server_version(client).await?.num < 150_000 {
        return Ok((None, None));
    }
    let row = client
        .query_one(
            "SELECT datcollversion, pg_database_collation_actual_version(oid) \
             FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(PgError::query("reading the database's collation version"))?;
    Ok((row.get(0), row.get(1)))
}

/// ALTER DATABASE <current> REFRESH COLLATION VERSION. Returns false before PostgreSQL 15.
pub async fn refresh_collation_version(client: &Client) -> Result<bool, PgError> {
    if postgres::server_version(client).await?.num < 150_000 {
        return Ok(false);
    }
    let db = postgres::current_database(client).await?;
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} REFRESH COLLATION VERSION",
            quote_ident(&db)
        ))
        .await
        .map_err(PgError::query(
            "ALTER DATABASE ... REFRESH COLLATION VERSION",
        ))?;
    Ok(true)
}

/// Lists the collatable indexes and, with `check`, runs amcheck on the btree ones (creating
/// amcheck when missing: the returned change says whether to drop it again). Nothing rebuilt.
pub async fn check_all(
    client: &Client,
    check: bool,
    heapallindexed: bool,
) -> Result<(Option<ExtensionChange>, Vec<IndexFinding>), PgError> {
    let indexes = list_collatable_indexes(client).await?;
    let amcheck = if check && indexes.iter().any(|i| i.method == "btree") {
        Some(postgres::create_extension(client, "amcheck").await?)
    } else {
        None
    };
    let mut findings = Vec::with_capacity(indexes.len());
    for index in indexes {
        let t = Instant::now();
        let outcome = if check {
            check_index(client, &index, heapallindexed).await
        } else {
            CheckOutcome::NotChecked
        };
        findings.push(IndexFinding {
            index,
            check: outcome,
            check_ms: t.elapsed().as_millis() as u64,
            reindexed: false,
            reindex_ms: 0,
        });
    }
    Ok((amcheck, findings))
}

/// Connectable databases other than the current one (template0 never is).
pub async fn other_databases(client: &Client) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT datname::text FROM pg_database \
             WHERE datallowconn AND datname <> current_database() ORDER BY 1",
            &[],
        )
        .await
        .map_err(PgError::query("listing databases"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The whole check: list, check, reindex per `options.reindex`, refresh the version. amcheck is
/// created when checking and missing; the report's `amcheck.created` says whether to drop it.
pub async fn run(
    client: &Client,
    options: CollationOptions,
) -> Result<CollationReport, ReindexError> {
    let start = Instant::now();
    let database = postgres::current_database(client).await?;
    let (recorded, actual) = collation_versions(client).await?;
    let indexes = list_collatable_indexes(client).await?;
    let amcheck = if options.check && indexes.iter().any(|i| i.method == "btree") {
        Some(postgres::create_extension(client, "amcheck").await?)
    } else {
        None
    };
    let mut findings = Vec::with_capacity(indexes.len());
    for index in indexes {
        let t = Instant::now();
        let check = if options.check {
            check_index(client, &index, options.heapallindexed).await
        } else {
            CheckOutcome::NotChecked
        };
        let check_ms = t.elapsed().as_millis() as u64;
        let wanted = match options.reindex {
            ReindexPolicy::None => false,
            ReindexPolicy::Failed => matches!(check, CheckOutcome::Failed { .. }),
            ReindexPolicy::All => true,
        };
        let t = Instant::now();
        if wanted {
            reindex(client, &index).await?;
        }
        let reindex_ms = if wanted {
            t.elapsed().as_millis() as u64
        } else {
            0
        };
        findings.push(IndexFinding {
            index,
            check,
            check_ms,
            reindexed: wanted,
            reindex_ms,
        });
    }
    let refreshed = options.refresh_collation_version && refresh_collation_version(client).await?;
    Ok(CollationReport {
        database,
        recorded_collation_version: recorded,
        actual_collation_version: actual,
        amcheck,
        findings,
        collation_version_refreshed: refreshed,
        total_ms: start.elapsed().as_millis() as u64,
        rebuild_wall_ms: 0,
    })
}
