//! The confirm questions of an open run: start (the steps that will run), rollback (what is
//! undone, newest first; refused past the point of no return) and quit (what happens to the
//! run). A finished run's questions are in [`crate::tui::after_run`].

use crate::engine::StepKind;
use crate::tui::msg::Effect;
use crate::tui::state::{Ask, Phase, Popup, Question, State, Status};

pub(super) fn ask_start(state: &mut State) {
    let blockers = state.start_blockers();
    if !blockers.is_empty() {
        state.notice = Some(format!(
            "cannot start yet: {} item(s) not ready (reasons on the checklist)",
            blockers.len()
        ));
        return;
    }
    let mut lines = vec!["These steps will run, in order:".to_string()];
    lines.extend(
        state
            .steps
            .iter()
            .filter(|s| s.info.kind == StepKind::Action)
            .map(|s| format!("  • {}", s.info.title)),
    );
    // The rehearsal's forecast, when the checklist counted one (the `rehearsal` check's line).
    if let Some(seen) = state
        .steps
        .iter()
        .find(|s| s.info.id == "rehearsal")
        .and_then(|s| {
            s.evidence
                .iter()
                .find(|l| l.starts_with("Rehearsal passed"))
        })
    {
        lines.push(seen.clone());
    }
    lines.push("You can roll back at any time with R.".into());
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Start,
        title: "Start the upgrade?".into(),
        lines,
    }));
}

/// `R`: the rollback question (for the ended run: `after_run`), or first the count of the
/// rows it would drop (`tui::new_data`).
pub(super) fn ask_rollback(state: &mut State) -> Option<Effect> {
    if !state.run_open() {
        return crate::tui::after_run::ask_rollback_finished(state);
    }
    if state.rollback_requested {
        state.notice = Some("a rollback is already requested".into());
        return None;
    }
    if let Some(ponr) = state
        .steps
        .iter()
        .find(|s| s.info.point_of_no_return && matches!(s.status, Status::Ok | Status::Warning(_)))
    {
        state.notice = Some(format!(
            "past the point of no return ({}): cutover will not roll back",
            ponr.info.title
        ));
        return None;
    }
    // Only once something changed can there be rows to drop.
    if state.counts_new_data && !state.undo_list().is_empty() {
        return crate::tui::new_data::count_first(state, false);
    }
    state.popup = Some(Popup::Confirm(rollback_question(state)));
    None
}

/// What a rollback of the open run undoes, as its confirm question.
pub fn rollback_question(state: &State) -> Question {
    let undo = state.undo_list();
    let mut lines = Vec::new();
    if undo.is_empty() {
        lines.push("Nothing has changed yet: this stops the run.".to_string());
    } else {
        if let Some(r) = state
            .steps
            .iter()
            .find(|s| matches!(s.status, Status::Running { .. }))
        {
            lines.push(format!(
                "\"{}\" is running: it finishes first.",
                r.info.title
            ));
        }
        lines.push("Then these are undone, newest first:".into());
        for s in undo {
            let note = if matches!(s.status, Status::Failed(_)) {
                " (if it left changes)"
            } else {
                ""
            };
            lines.push(format!("  ↶ {}{note}", s.info.title));
            for t in &s.info.touches {
                lines.push(format!("      {t}"));
            }
        }
    }
    Question {
        ask: Ask::Rollback,
        title: "Roll back?".into(),
        lines,
    }
}

pub(super) fn ask_quit(state: &mut State, interrupt: bool) -> Option<Effect> {
    if !state.run_open() {
        return Some(Effect::Quit);
    }
    let lines = if matches!(
        state.phase,
        Phase::Running | Phase::Pausing | Phase::RollingBack { .. }
    ) {
        let mut l = vec![
            "The current step finishes, then the run stops.".to_string(),
            "Nothing is undone; the journal stays.".to_string(),
            "Continue later with `cutover resume`,".to_string(),
            "or undo with `cutover rollback`.".to_string(),
        ];
        if interrupt {
            l.push("Ctrl-C again: stop the current step at a safe point.".into());
        }
        l
    } else {
        vec![
            "Nothing has been changed yet.".to_string(),
            "The run stops; start again with `cutover`.".to_string(),
        ]
    };
    let mut lines = lines;
    if crate::tui::rehearse::blocks_start(state).is_some() {
        lines.push("The rehearsal stops and its side stack is torn down first.".into());
    }
    state.popup = Some(Popup::Confirm(Question {
        ask: Ask::Quit,
        title: "Quit?".into(),
        lines,
    }));
    None
}
