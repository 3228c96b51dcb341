//! Test-only fault injection: kill this process with SIGKILL at a chosen point, to prove that
//! `resume` and `rollback` recover from a crash at that exact place; or fail a step after its
//! change, or its undo halfway, to prove that the rollback undoes what a failure left.
//!
//! Set `CUTOVER_FAULT` to one or more of (comma separated):
//! - `kill-after:<step>`: right after `<step>`'s `step_finished` record is durable (a step
//!   boundary: the next step has not started);
//! - `kill-during:<step>` or `kill-during:<step>:<n>`: at the `n`-th (default 1) progress point
//!   of `<step>`'s `run`, where a progress point is a journaled output or a log line. The step
//!   has begun changing the world and has not finished: the journal shows it uncertain.
//! - `fail-after-change:<step>`: `<step>`'s `run` goes all the way (its change is made, its
//!   outputs saved), then the runner records a failure instead of its success. This is the
//!   worst case of every real failure of an action (a port taken at start, a file the Compose
//!   tool rejects after the edit, sessions that do not end after the stop): the rollback must
//!   undo it like a completed one.
//! - `fail-in-undo:<step>` or `fail-in-undo:<step>:<n>`: the undo of `<step>` stops dead at
//!   its `n`-th (default 1) progress point in this process, as if the engine call after it
//!   failed: the undo is journaled failed, the rollback stops (exit 3), and the next
//!   `cutover rollback` must finish the half-done undo.
//!
//! This is the only place the variable is read. It exists for the crash and fault tests
//! (`tests/resume_*.rs`, `tests/rollback_*.rs`, `tests/fault_matrix.rs`); operators have no use
//! for it. The kill knobs count only forward runs; `fail-in-undo` counts only undos.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    After(String),
    During(String, u32),
    FailAfterChange(String),
    FailInUndo(String, u32),
}

/// The unwind payload of a `fail-in-undo` fault: the runner's step task ends with it.
#[derive(Debug)]
pub struct InjectedUndoFailure(pub String);

fn faults() -> &'static [Fault] {
    static FAULTS: OnceLock<Vec<Fault>> = OnceLock::new();
    FAULTS.get_or_init(|| {
        std::env::var("CUTOVER_FAULT")
            .map(|s| parse_all(&s))
            .unwrap_or_default()
    })
}

fn parse_all(spec: &str) -> Vec<Fault> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(parse)
        .collect()
}

/// `<step>` or `<step>:<n>` (n >= 1, default 1).
fn step_and_count(rest: &str) -> (String, u32) {
    match rest.rsplit_once(':') {
        Some((s, n)) if n.parse::<u32>().is_ok() => (s.to_string(), n.parse().unwrap_or(1)),
        _ => (rest.to_string(), 1),
    }
}

fn parse(spec: &str) -> Option<Fault> {
    let (kind, rest) = spec.split_once(':')?;
    match kind {
        "kill-after" => Some(Fault::After(rest.to_string())),
        "kill-during" => {
            let (step, n) = step_and_count(rest);
            Some(Fault::During(step, n.max(1)))
        }
        "fail-after-change" => Some(Fault::FailAfterChange(rest.to_string())),
        "fail-in-undo" => {
            let (step, n) = step_and_count(rest);
            Some(Fault::FailInUndo(step, n.max(1)))
        }
        _ => None,
    }
}

/// The runner calls this once a step's `step_finished` record is on disk.
pub fn step_finished(step: &str) {
    if faults()
        .iter()
        .any(|f| matches!(f, Fault::After(s) if s == step))
    {
        die(&format!("after {step}"));
    }
}

/// The runner calls this when `step`'s `run` returned success, before journaling it: Some(the
/// failure to record instead) under `fail-after-change:<step>`.
pub fn fail_after_change(step: &str) -> Option<String> {
    faults()
        .iter()
        .any(|f| matches!(f, Fault::FailAfterChange(s) if s == step))
        .then(|| {
            let why = format!("CUTOVER_FAULT: step {step} fails after its change");
            eprintln!("cutover: {why}");
            why
        })
}

/// A step's context calls this after each log line or journaled output, of a forward run
/// (`undoing` false) or of an undo run by the runner (`undoing` true).
pub fn progress_point(step: &str, undoing: bool) {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    static SEEN_UNDO: AtomicU32 = AtomicU32::new(0);
    for f in faults() {
        match f {
            Fault::During(s, n)
                if !undoing && s == step && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n =>
            {
                die(&format!("during {step} (point {n})"));
            }
            Fault::FailInUndo(s, n)
                if undoing && s == step && SEEN_UNDO.fetch_add(1, Ordering::SeqCst) + 1 == *n =>
            {
                let why = format!("CUTOVER_FAULT: the undo of {step} fails at its point {n}");
                eprintln!("cutover: {why}");
                // Unwinds the step's task right here (the runner journals the undo failed);
                // `resume_unwind` skips the panic hook: this is not a bug to report.
                std::panic::resume_unwind(Box::new(InjectedUndoFailure(why)));
            }
            _ => {}
        }
    }
}

fn die(at: &str) {
    eprintln!("cutover: CUTOVER_FAULT: killing myself {at}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    // SIGKILL cannot be caught; this is only reached if the kill itself failed.
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            parse("kill-after:backup"),
            Some(Fault::After("backup".into()))
        );
        assert_eq!(
            parse("kill-during:recreate-postgres:3"),
            Some(Fault::During("recreate-postgres".into(), 3))
        );
        assert_eq!(
            parse("kill-during:backup"),
            Some(Fault::During("backup".into(), 1))
        );
        assert_eq!(
            parse("fail-after-change:start-qdrant"),
            Some(Fault::FailAfterChange("start-qdrant".into()))
        );
        assert_eq!(
            parse("fail-in-undo:recreate-postgres:2"),
            Some(Fault::FailInUndo("recreate-postgres".into(), 2))
        );
        assert_eq!(parse("nonsense"), None);
        assert_eq!(
            parse_all("fail-after-change:migrations, fail-in-undo:edit-compose"),
            [
                Fault::FailAfterChange("migrations".into()),
                Fault::FailInUndo("edit-compose".into(), 1)
            ]
        );
    }
}
