//! Collation and ownership repair on the fast rollback, on the OLD server, before any writer
//! comes back (called at the end of `recreate-postgres`' undo, once the old container answers).
//!
//! Why: the new server (glibc) rebuilt the collatable indexes in its own order (the collation
//! step) and the writers may have inserted into them in that order. Back on the old image
//! (musl order) those indexes are misordered again, silently, and a unique index can then let
//! duplicates in. And the new image's entrypoint chowned the data directory to its own uid
//! (999); the old one (uid 70) must own it again.
//!
//! What, in every connectable database (the forward step rebuilt them all when the order
//! changed): amcheck every collatable btree index; REINDEX every one the new server rebuilt (the
//! forward collation step's record), every one amcheck finds broken, and all of them when the
//! writers ran on the new server and the order differs (any may have taken writes);
//! amcheck the rebuilt ones again, and fail the rollback (saying which index and why) when one
//! is still broken. Then set each database's recorded collation version back to the old
//! server's where the forward step refreshed it. Then read who owns PGDATA against the uid the old server runs as: the
//! official images' entrypoints (and the test bed's) chown PGDATA when started as root, so
//! this is normally a check, and a `chown` only when files are left. The outcome is saved into
//! the recreate step's journaled output (`collation_repair`), so the report can say so.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::adapters::collation::{self, CheckOutcome};
use crate::adapters::docker::ExecSpec;
use crate::adapters::postgres;
use crate::engine::recovery::RunState;
use crate::engine::{StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::CollationOutput;

/// Key of the repair's record inside `recreate-postgres`' output.
const KEY: &str = "collation_repair";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollationRepair {
    /// Collatable indexes found on the old server.
    pub indexes: usize,
    /// amcheck failures found before the rebuild (`index: message`).
    pub broken_before: Vec<String>,
    /// Rebuilt on the old server (`schema.index`).
    pub reindexed: Vec<String>,
    pub reindex_ms: u64,
    /// Why all were rebuilt, when they were.
    pub why_all: Option<String>,
    /// The uid the old server runs as, and how many PGDATA files another uid owned.
    pub server_uid: Option<u32>,
    pub files_not_owned: Option<u64>,
    /// True when cutover had to chown (the old image's entrypoint had not).
    pub chowned: bool,
    /// Databases whose recorded collation version was set back to the old server's (the
    /// forward step recorded the new server's; musl records none, and a mismatch warns on
    /// every connection).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions_refreshed: Vec<String>,
}

impl CollationRepair {
    /// One line for the rollback summary.
    pub fn summary(&self) -> String {
        let owner = match (self.server_uid, self.chowned) {
            (Some(uid), false) => format!("PGDATA owned by uid {uid} (the old image's entrypoint)"),
            (Some(uid), true) => format!("PGDATA chowned back to uid {uid} by cutover"),
            (None, _) => "PGDATA ownership not checked".into(),
        };
        format!(
            "collation on the old server: {} of {} collatable index(es) rebuilt in {} ms, \
             amcheck clean; {owner}",
            self.reindexed.len(),
            self.indexes,
            self.reindex_ms
        )
    }
}

/// The repair's record from a journal, when the fast rollback ran it.
pub fn from_state(s: &RunState) -> Option<CollationRepair> {
    let out = s.steps.get("recreate-postgres")?.output.as_ref()?;
    serde_json::from_value(out.get(KEY)?.clone()).ok()
}

/// Runs the repair on the old server (reached through `env`, as the undo just did) and saves
/// it into the calling step's output. Err: an index amcheck still finds broken.
pub async fn repair(env: &UpgradeEnv, cx: &StepContext) -> Result<(), StepError> {
    repair_with(env, cx, false, None).await
}

/// The disaster path's repair, once the backup was restored and swapped in: the main
/// database was just built by the old server (left alone);
/// the cluster's other databases are repaired as on the fast path, except `aside`, the
/// original the swap kept: nothing serves it, and rebuilding its indexes would hold the
/// writers back for a database only read to salvage rows (`pg_dump` reads no index). The
/// swap's message says to REINDEX it before querying it.
pub async fn repair_after_restore(
    env: &UpgradeEnv,
    cx: &StepContext,
    aside: Option<&str>,
) -> Result<(), StepError> {
    repair_with(env, cx, true, aside).await
}

async fn repair_with(
    env: &UpgradeEnv,
    cx: &StepContext,
    main_restored: bool,
    skip: Option<&str>,
) -> Result<(), StepError> {
    let mut rec = CollationRepair::default();
    let forward = cx.output_of::<CollationOutput>("collation");
    let rebuilt_forward = forward.as_ref().map(|f| f.reindexed()).unwrap_or_default();
    // Writers ran against the new server: any collatable index may hold its order now.
    let writers_ran = cx.output_of::<serde_json::Value>("start-writers").is_some();
    let changed = forward
        .as_ref()
        .is_some_and(|f| !f.changed_because.is_empty());
    rec.why_all = (writers_ran && changed)
        .then(|| "the writers ran on the new server, whose collation order differs".to_string());
    let client = env.connect().await?;
    let all = rec.why_all.is_some();
    // The restored database's indexes were built moments ago by this very server (pg_restore),
    // in its own order: there is nothing to check there.
    let mut still = if main_restored {
        Vec::new()
    } else {
        repair_database(&client, None, &rebuilt_forward, all, &mut rec).await?
    };
    // The forward step rebuilt the other databases' indexes in the new order too (named
    // `db:schema.index` in its record): each is repaired the same way, in its own session.
    let target = env.pg_target().await?;
    for db in collation::other_databases(&client)
        .await
        .context("listing databases on the old server")?
    {
        if skip == Some(db.as_str()) {
            continue;
        }
        let mut t = target.clone();
        t.credentials.database = db.clone();
        let other = postgres::connect(&t)
            .await
            .with_context(|| format!("connecting to database {db} on the old server"))?;
        still.extend(repair_database(&other, Some(&db), &rebuilt_forward, all, &mut rec).await?);
    }
    cx.log(format!(
        "old server: {} collatable index(es){}, {} broken, {} rebuilt{}",
        rec.indexes,
        if main_restored {
            " outside the restored database"
        } else {
            ""
        },
        rec.broken_before.len(),
        rec.reindexed.len(),
        rec.why_all
            .as_deref()
            .filter(|_| !rec.reindexed.is_empty())
            .map(|w| format!(" (all: {w})"))
            .unwrap_or_default()
    ));
    if !still.is_empty() {
        save(cx, &rec)?;
        return Err(StepError::new(format!(
            "rollback check: amcheck still finds broken indexes on the old server after \
             REINDEX: {}. Do not start the writers: inspect these indexes (REINDEX INDEX ...)",
            still.join("; ")
        )));
    }
    refresh_versions(env, &client, &mut rec).await?;
    ownership(env, &mut rec, cx).await?;
    cx.log(rec.summary());
    save(cx, &rec)
}

/// amcheck every collatable index of the database `client` is connected to; REINDEX those
/// the new server rebuilt (`rebuilt_forward`, `db:`-prefixed outside the main database), those
/// amcheck finds broken, and all when `all`; then amcheck the btree ones again.
/// Returns the ones still broken (`[db:]schema.index: message`); adds to `rec`.
async fn repair_database(
    client: &tokio_postgres::Client,
    db: Option<&str>,
    rebuilt_forward: &[String],
    all: bool,
    rec: &mut CollationRepair,
) -> Result<Vec<String>, StepError> {
    let name = |i: &collation::CollatableIndex| match db {
        Some(db) => format!("{db}:{}", i.qualified_name),
        None => i.qualified_name.clone(),
    };
    let (amcheck, mut findings) = collation::check_all(client, true, false)
        .await
        .with_context(|| format!("amcheck on the old server ({})", db.unwrap_or("main")))?;
    rec.indexes += findings.len();
    let is_failed = |c: &CheckOutcome| matches!(c, CheckOutcome::Failed { .. });
    for f in &findings {
        if let CheckOutcome::Failed { message } = &f.check {
            rec.broken_before
                .push(format!("{}: {message}", name(&f.index)));
        }
    }
    let started = std::time::Instant::now();
    for f in findings.iter_mut() {
        let rebuilt_by_new = rebuilt_forward.contains(&name(&f.index));
        if !all && !rebuilt_by_new && !is_failed(&f.check) {
            continue;
        }
        collation::reindex(client, &f.index)
            .await
            .map_err(|e| StepError::new(format!("on the old server: {e}")))?;
        f.reindexed = true;
        rec.reindexed.push(name(&f.index));
    }
    rec.reindex_ms += started.elapsed().as_millis() as u64;
    let mut still = Vec::new();
    for f in &findings {
        if f.index.method == "btree"
            && let CheckOutcome::Failed { message } =
                collation::check_index(client, &f.index, false).await
        {
            still.push(format!("{}: {message}", name(&f.index)));
        }
    }
    if amcheck.as_ref().is_some_and(|a| a.created) {
        let _ = postgres::drop_extension(client, "amcheck", false).await;
    }
    Ok(still)
}

/// `ALTER DATABASE … REFRESH COLLATION VERSION` in every connectable database whose recorded
/// version is not the old server's.
async fn refresh_versions(
    env: &UpgradeEnv,
    client: &tokio_postgres::Client,
    rec: &mut CollationRepair,
) -> Result<(), StepError> {
    let (recorded, actual) = collation::collation_versions(client)
        .await
        .context("reading collation versions on the old server")?;
    if recorded != actual {
        collation::refresh_collation_version(client)
            .await
            .context("refreshing the collation version on the old server")?;
        rec.versions_refreshed.push(format!(
            "{}: {} -> {}",
            postgres::current_database(client)
                .await
                .context("reading the database name")?,
            recorded.as_deref().unwrap_or("none"),
            actual.as_deref().unwrap_or("none")
        ));
    }
    let target = env.pg_target().await?;
    for db in collation::other_databases(client)
        .await
        .context("listing databases")?
    {
        let mut t = target.clone();
        t.credentials.database = db.clone();
        let Ok(other) = postgres::connect(&t).await else {
            continue;
        };
        let (recorded, actual) = collation::collation_versions(&other)
            .await
            .context("reading collation versions")?;
        if recorded != actual {
            collation::refresh_collation_version(&other)
                .await
                .with_context(|| format!("refreshing the collation version of {db}"))?;
            rec.versions_refreshed.push(format!(
                "{db}: {} -> {}",
                recorded.as_deref().unwrap_or("none"),
                actual.as_deref().unwrap_or("none")
            ));
        }
    }
    Ok(())
}

/// Reads the uid the old server runs as (PID 1's, which honours a compose `user:`) and the
/// PGDATA files another uid owns; chowns them when the entrypoint left any.
async fn ownership(
    env: &UpgradeEnv,
    rec: &mut CollationRepair,
    cx: &StepContext,
) -> Result<(), StepError> {
    let docker = env.docker().await?;
    let container = env.postgres_container().await?;
    let script = r#"d=${PGDATA:-/var/lib/postgresql/data}
u=$(awk '/^Uid:/{print $2}' /proc/1/status)
echo "$u $(find "$d" ! -uid "$u" | wc -l)""#;
    let out = docker
        .exec_output(&container, &ExecSpec::new(["sh", "-c", script]).user("0"))
        .await
        .context("reading PGDATA's owner on the old server")?;
    let text = out.stdout_str();
    let mut words = text.split_whitespace();
    let uid: Option<u32> = words.next().and_then(|w| w.parse().ok());
    let left: Option<u64> = words.next().and_then(|w| w.parse().ok());
    rec.server_uid = uid;
    rec.files_not_owned = left;
    if let (Some(uid), Some(n)) = (uid, left)
        && n > 0
    {
        cx.log(format!(
            "{n} file(s) of PGDATA are not owned by uid {uid}: chowning them"
        ));
        let chown = format!(
            "d=${{PGDATA:-/var/lib/postgresql/data}}; find \"$d\" ! -uid {uid} -exec chown -h {uid} {{}} +"
        );
        let out = docker
            .exec_output(&container, &ExecSpec::new(["sh", "-c", &chown]).user("0"))
            .await
            .context("chowning PGDATA back")?;
        if out.exit_code != 0 {
            return Err(StepError::new(format!(
                "chown of PGDATA back to uid {uid} failed: {}",
                out.stderr_str().trim()
            )));
        }
        rec.chowned = true;
    }
    Ok(())
}

/// Adds the record to the calling step's journaled output, keeping everything else in it.
fn save(cx: &StepContext, rec: &CollationRepair) -> Result<(), StepError> {
    let mut out = cx
        .output::<serde_json::Value>()
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(map) = out.as_object_mut() {
        map.insert(
            KEY.into(),
            serde_json::to_value(rec).map_err(|e| StepError::new(e.to_string()))?,
        );
    }
    cx.save_output(&out)
}
