//! Test-only fault injection: kill this process with SIGKILL at a chosen point, to prove that
//! `resume` and `rollback` recover from a crash at that exact place.
//!
//! Set `CUTOVER_FAULT` to one of:
//! - `kill-after:<step>`: right after `<step>`'s `step_finished` record is durable (a step
//!   boundary: the next step has not started);
//! - `kill-during:<step>` or `kill-during:<step>:<n>`: at the `n`-th (default 1) progress point
//!   of `<step>`'s `run`, where a progress point is a journaled output or a log line. The step
//!   has begun changing the world and has not finished: the journal shows it uncertain.
//!
//! This is the only place the variable is read. It exists for the crash tests
//! (`tests/resume_*.rs`, `tests/rollback_*.rs`); operators have no use for it. Undo is never
//! interrupted by it (the knob counts only forward runs).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    After(String),
    During(String, u32),
}

fn fault() -> Option<&'static Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    FAULT
        .get_or_init(|| parse(&std::env::var("CUTOVER_FAULT").ok()?))
        .as_ref()
}

fn parse(spec: &str) -> Option<Fault> {
    let (kind, rest) = spec.split_once(':')?;
    match kind {
        "kill-after" => Some(Fault::After(rest.to_string())),
        "kill-during" => {
            let (step, n) = match rest.rsplit_once(':') {
                Some((s, n)) if n.parse::<u32>().is_ok() => (s, n.parse().unwrap_or(1)),
                _ => (rest, 1),
            };
            Some(Fault::During(step.to_string(), n.max(1)))
        }
        _ => None,
    }
}

/// The runner calls this once a step's `step_finished` record is on disk.
pub fn step_finished(step: &str) {
    if matches!(fault(), Some(Fault::After(s)) if s == step) {
        die(&format!("after {step}"));
    }
}

/// A step's context calls this after each log line or journaled output of a forward run.
pub fn progress_point(step: &str, undoing: bool) {
    static SEEN: AtomicU32 = AtomicU32::new(0);
    if undoing {
        return;
    }
    if let Some(Fault::During(s, n)) = fault()
        && s == step
        && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        die(&format!("during {step} (point {n})"));
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
        assert_eq!(parse("nonsense"), None);
    }
}
