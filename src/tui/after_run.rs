//! What the Result screen offers once a run has ended done: finalize (remove the old postgres
//! container) or roll the finished upgrade back. Each is one confirm popup that says exactly
//! what will happen, built from the journal's figures; the effect runs only on "yes".

use super::msg::Effect;
use super::new_data;
use super::state::{Ask, Phase, Popup, Question, State, Status};
use crate::engine::{RunOutcome, StepKind};

fn ended_done(state: &State) -> bool {
    matches!(state.phase, Phase::Finished(RunOutcome::Done))
}

/// `R` after the run ended: the question, or first the count of the rows it would drop.
pub fn ask_rollback_finished(state: &mut State) -> Option<Effect> {
    if state.rollback_requested {
        state.notice = Some("a rollback is already running".into());
        return None;
    }
    if !ended_done(state) {
        state.notice = Some("the run did not end done: nothing to roll back here".into());
        return None;
    }
    if matches!(state.finalized, Some(Ok(_))) {
        state.notice = Some(
            "finalized: the old container is gone; only the backup can restore the old stack"
                .into(),
        );
        return None;
    }
    if state.counts_new_data {
        return new_data::count_first(state, true);
    }
    state.popup = Some(Popup::Confirm(rollback_question(state)));
    None
}

/// What the rollback of the ended run undoes, as its confirm question.
pub fn rollback_question(state: &State) -> Question {
    let mut lines = vec!["The upgrade ended done. These are undone, newest first:".to_string()];
    lines.extend(
        state
            .steps
            .iter()
            .rev()
            .filter(|s| s.info.kind == StepKind::Action)
            .filter(|s| matches!(s.status, Status::Ok | Status::Warning(_)))
            .map(|s| format!("  ↶ {}", s.info.title)),
    );
    if let Some((name, _)) = state
        .figures
        .as_ref()
        .and_then(|f| f.old_container.as_ref())
    {
        lines.push(format!("postgres goes back to the kept container {name},"));
        lines.push("on the same volume; the compose file is restored from its copy.".into());
    }
    Question {
        ask: Ask::RollbackFinished,
        title: "Roll back the finished upgrade?".into(),
        lines,
    }
}

/// `F` on the Result screen.
pub fn ask_finalize(state: &mut State) {
    let old = state.figures.as_ref().and_then(|f| f.old_container.clone());
    let why_not = if !ended_done(state) {
        Some("finalize is for a run that ended done")
    } else if state.finalized.as_ref().is_some_and(Result::is_ok) {
        Some("already finalized")
    } else if old.is_none() {
        Some("no old postgres container is kept: nothing to finalize")
    } else {
        None
    };
    if let Some(why) = why_not {
        state.notice = Some(why.into());
        return;
    }
    let (name, id) = old.unwrap_or_default();
    let mut lines = vec![
        format!("Removes the old postgres container {name}"),
        format!(
            "({}), kept so that a rollback is fast and lossless.",
            &id[..id.len().min(12)]
        ),
        "Afterwards, undoing the upgrade means restoring the backup:".into(),
    ];
    let backup = state
        .figures
        .as_ref()
        .and_then(|f| f.facts.backup.as_ref())
        .map_or("(no backup recorded)".into(), |b| {
            b.path.display().to_string()
        });
    lines.push(format!("  {backup}"));
    lines.push("The running stack is not touched.".into());
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Finalize,
        title: "Finalize?".into(),
        lines,
    }));
}
