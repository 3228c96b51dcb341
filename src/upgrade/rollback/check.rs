//! The verification after a rollback, reported in the run report: every table that existed
//! before the upgrade holds what it should, and the backend is healthy again.
//!
//! "What it should" depends on the path and on the window:
//! - fast path once `recreate-postgres`' undo has shown that the old server resumed at or after
//!   the new server's last WAL position (same cluster): the old container runs on the same
//!   volume, so whatever clients wrote to the new server (the writers after `start-writers`, or
//!   one that came back too early) is kept, and the proof is what shows nothing was lost. The
//!   tables are compared with the pre-upgrade fingerprint, and one that differs is reported
//!   with its rows kept;
//! - fast path before the recreate: the same server ran throughout, so a difference can only
//!   be a client's write during the window, and is kept too;
//! - fast path after a recreate whose resume could not be shown: every table must equal the
//!   pre-upgrade fingerprint exactly (or, in journals of older versions, the fingerprint taken
//!   when the rollback stopped the writers);
//! - disaster path: the database is the backup, so every table must equal the pre-upgrade
//!   fingerprint exactly, and the rows written during the window are reported as lost.
//!
//! On every path, a pre-existing table with FEWER rows than before the upgrade is a failure:
//! a proven resume shows the old server holds what the new one wrote, not that nothing was
//! deleted. More rows are kept and listed, table by table.
//!
//! When: the comparison must read the database as it was BEFORE the writers start again, or
//! equality could not be exact. A fast path whose resume could not be shown, and a disaster
//! path whose restored data was not compared row by row with the stop before it took the
//! database's place (`disaster::matches_stop`), hold the writers back until every row is
//! compared ([`Timing::HoldWriters`]). Otherwise the
//! snapshot is taken first and the tables are read while the writers start and the backend
//! comes up ([`Timing::Alongside`]): as exact, and the service is back a table scan sooner. If
//! that comparison fails, the writers are stopped again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::fingerprint::Fingerprint;
use crate::engine::{StepContext, StepError};
use crate::upgrade::outputs::{RecreateOutput, TableWrites, WindowOutput, fingerprint_before_in};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RollbackCheck {
    /// `fast` or `disaster`.
    pub path: String,
    /// Pre-existing tables compared.
    pub compared: usize,
    /// `table: +N rows written while the upgrade stood, kept` (fast) or `..., lost` (disaster).
    pub window_rows: Vec<String>,
    /// Tables present now that were not before the upgrade (left by an incomplete undo).
    pub extra_tables: Vec<String>,
    /// The backend's health URL once it answered healthy; None if there is no backend.
    pub backend_healthy_url: Option<String>,
    pub data_checked_at: Option<DateTime<Utc>>,
    pub healthy_at: Option<DateTime<Utc>>,
    /// Why the data was not compared, when it was not.
    pub skipped: Option<String>,
    /// How the old server was shown to resume where the new one stopped (fast path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
    /// Checksums were compared too, not only row counts.
    #[serde(default = "compared_contents_before_this_was_recorded")]
    pub contents_compared: bool,
    /// Disaster path: the restored data's contents were compared with the stop before they
    /// took the database's place (`disaster::matches_stop`), so this check counted rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub contents_compared_before_swap: bool,
}

fn compared_contents_before_this_was_recorded() -> bool {
    true
}

/// When the tables are read relative to the writers' restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    HoldWriters,
    Alongside,
}

/// What the tables are compared with, gathered from the journal.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub before: Fingerprint,
    /// Disaster path, or a journal of an older version: the tables when the rollback stopped
    /// the writers on the new server.
    window: Option<Fingerprint>,
    /// Disaster path: what the writers did by the tables' counters, where they could tell.
    window_writes: Vec<TableWrites>,
    /// A table that differs from `before` holds client writes made during the window: kept.
    differences_are_kept: bool,
    disaster: bool,
    resumed: Option<String>,
    pub timing: Timing,
    /// Compare checksums, not only row counts.
    pub contents: bool,
    /// Disaster path: the restore's contents were already compared with the stop.
    contents_before_swap: bool,
}

/// The expectation for this rollback, or the check as skipped (nothing to compare with).
/// `restarted_unchecked`: an earlier attempt of this undo already started the writers before
/// its comparison finished (a crash in between); their new rows are then kept too.
/// `contents_wanted`: the operator asked for checksums even where the resume was shown.
pub fn expectation(
    cx: &StepContext,
    restarted_unchecked: bool,
    contents_wanted: bool,
) -> Result<Expectation, Box<RollbackCheck>> {
    let disaster = cx.disaster_rollback();
    let Some(before) = fingerprint_before_in(cx) else {
        return Err(Box::new(RollbackCheck {
            path: path_name(disaster).into(),
            skipped: Some(
                "no pre-upgrade fingerprint: the run stopped before the backup, so the database \
                 was never touched"
                    .into(),
            ),
            ..Default::default()
        }));
    };
    let window = cx.output_of::<WindowOutput>("start-writers");
    let recreate = cx.output_of::<RecreateOutput>("recreate-postgres");
    let resumed = recreate.as_ref().and_then(|r| r.resumed.clone());
    let recreated = recreate.is_some();
    // The disaster path's restore, once its contents equal the stop's, is as proven as a fast
    // path's resume: nothing wrote to it since (the writers are stopped), so row counts read
    // alongside their start show it is still that database.
    let contents_before_swap = disaster
        && recreate.as_ref().is_some_and(|r| {
            r.disaster
                .as_ref()
                .is_some_and(|s| s.swapped && s.contents_verified)
                || r.volume_swap
                    .as_ref()
                    .is_some_and(|v| v.verified && v.contents_verified)
        });
    let timing = if (!disaster && (!recreated || resumed.is_some())) || contents_before_swap {
        Timing::Alongside
    } else {
        Timing::HoldWriters
    };
    Ok(Expectation {
        before,
        window_writes: window
            .as_ref()
            .and_then(|w| w.writes_at_rollback.clone())
            .unwrap_or_default(),
        window: window.and_then(|w| w.fingerprint_at_rollback),
        differences_are_kept: !disaster && (resumed.is_some() || !recreated || restarted_unchecked),
        disaster,
        resumed,
        timing,
        contents: contents_wanted || timing == Timing::HoldWriters,
        contents_before_swap,
    })
}

fn path_name(disaster: bool) -> &'static str {
    if disaster { "disaster" } else { "fast" }
}

/// Compares `now` with what the tables should hold; errors list every table that differs.
pub fn compare(exp: &Expectation, now: &Fingerprint) -> Result<RollbackCheck, StepError> {
    let mut check = RollbackCheck {
        path: path_name(exp.disaster).into(),
        resumed: exp.resumed.clone(),
        ..Default::default()
    };
    let mut problems = Vec::new();
    for (name, pre) in &exp.before.tables {
        let in_window = exp
            .window
            .as_ref()
            .and_then(|w| w.tables.get(name))
            .filter(|w| *w != pre);
        if let Some(w) = in_window {
            let verb = if exp.disaster { "lost" } else { "kept" };
            check.window_rows.push(format!(
                "{name}: {:+} rows written while the upgrade stood, {verb}",
                w.rows - pre.rows
            ));
        }
        let expected = if exp.disaster {
            pre
        } else {
            in_window.unwrap_or(pre)
        };
        match now.tables.get(name) {
            None => problems.push(format!("{name}: missing after the rollback")),
            // Whatever the resume proof says: nothing cutover does removes a row, so fewer than
            // before is data lost (or deleted by a client while the upgrade stood), never kept.
            Some(got) if got.rows < pre.rows => problems.push(format!(
                "{name}: {} rows before the upgrade, {} now ({} fewer)",
                pre.rows,
                got.rows,
                pre.rows - got.rows
            )),
            Some(got) if got.rows == expected.rows && !exp.contents => {}
            Some(got) if got == expected => {}
            Some(got) if exp.differences_are_kept => check.window_rows.push(format!(
                "{name}: {:+} rows written by clients while the upgrade stood, kept",
                got.rows - pre.rows
            )),
            Some(got) if got.rows != expected.rows => problems.push(format!(
                "{name}: {} rows expected, {} found",
                expected.rows, got.rows
            )),
            Some(_) => problems.push(format!("{name}: same row count, different contents")),
        }
    }
    for w in exp
        .window_writes
        .iter()
        .filter(|w| exp.before.tables.contains_key(&w.table))
    {
        check.window_rows.push(format!(
            "{}: {} row(s) inserted, {} updated, {} deleted while the upgrade stood, {}",
            w.table,
            w.inserted,
            w.updated,
            w.deleted,
            if exp.disaster { "lost" } else { "kept" }
        ));
    }
    check.extra_tables = now
        .tables
        .keys()
        .filter(|t| !exp.before.tables.contains_key(*t))
        .cloned()
        .collect();
    check.compared = exp.before.tables.len();
    check.contents_compared = exp.contents;
    check.contents_compared_before_swap = exp.contents_before_swap && !exp.contents;
    check.data_checked_at = Some(Utc::now());
    if !problems.is_empty() {
        return Err(StepError {
            message: format!(
                "after the rollback {} of {} pre-existing tables differ from what they should \
                 hold; the writers are stopped. Inspect, then restore the backup with \
                 `cutover rollback --disaster --yes`",
                problems.len(),
                exp.before.tables.len()
            ),
            causes: problems,
        });
    }
    Ok(check)
}

/// `row counts and contents` or `row counts`.
pub fn what_was_compared(check: &RollbackCheck) -> &'static str {
    if check.contents_compared {
        "row counts and contents"
    } else {
        "row counts"
    }
}

/// Why the contents were not re-read, when they were not.
pub fn why_not_contents(check: &RollbackCheck) -> Option<&'static str> {
    if check.contents_compared {
        None
    } else if check.contents_compared_before_swap {
        Some(
            "contents compared with the stop on the restored data before it took the \
             database's place; counted again here, before the writers' first write",
        )
    } else {
        Some(
            "contents not re-read: the old server runs on the very files the new one left, as \
             its resume point shows (rollback_check = \"contents\" re-reads every row)",
        )
    }
}

/// The lines a passed check logs.
pub fn summary(check: &RollbackCheck) -> Vec<String> {
    let mut lines = vec![format!(
        "rollback verified: {} pre-existing tables as expected by {} ({} path)",
        check.compared,
        what_was_compared(check),
        check.path
    )];
    lines.extend(why_not_contents(check).map(String::from));
    lines.extend(check.window_rows.iter().cloned());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::fingerprint::TableFingerprint;

    fn fp(tables: &[(&str, i64, &str)]) -> Fingerprint {
        Fingerprint {
            tables: tables
                .iter()
                .map(|(n, rows, sum)| {
                    (
                        n.to_string(),
                        TableFingerprint {
                            rows: *rows,
                            checksum: sum.to_string(),
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A fast rollback whose resume was proven: the case that used to keep every difference.
    fn proven_resume(before: Fingerprint) -> Expectation {
        Expectation {
            before,
            window: None,
            window_writes: Vec::new(),
            differences_are_kept: true,
            disaster: false,
            resumed: Some("proof".into()),
            timing: Timing::Alongside,
            contents: false,
            contents_before_swap: false,
        }
    }

    #[test]
    fn fewer_rows_fail_even_after_a_proven_resume() {
        let exp = proven_resume(fp(&[("users", 20, "1"), ("notes", 5, "2")]));
        let err = compare(&exp, &fp(&[("users", 19, "0"), ("notes", 5, "2")])).unwrap_err();
        assert_eq!(
            err.causes,
            vec!["users: 20 rows before the upgrade, 19 now (1 fewer)"]
        );
    }

    #[test]
    fn more_rows_are_kept_and_listed() {
        let exp = proven_resume(fp(&[("users", 20, "1"), ("notes", 5, "2")]));
        let check = compare(&exp, &fp(&[("users", 23, "9"), ("notes", 5, "2")])).unwrap();
        assert_eq!(
            check.window_rows,
            vec!["users: +3 rows written by clients while the upgrade stood, kept"]
        );
    }
}
