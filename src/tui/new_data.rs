//! The rollback question's part about new-version data: the rows the new version received in
//! the tables the fast rollback's down migrations drop. They exist nowhere else (the backup
//! predates those tables), so the wizard counts them BEFORE it asks, shows the counts in the
//! question, and asks for the drop explicitly; "no" keeps the upgrade and the rows.
//!
//! Flow: `R` → [`Effect::CountNewData`] (the app counts on a thread of its own through the
//! [`RollbackGuard`] the command line handed over) → [`Msg::NewDataCounted`] → the question,
//! amended here. "yes" to a question that names rows → [`Effect::DiscardNewData`]: the app
//! records the consent (the same marker `cutover rollback --discard-new-data` writes), then
//! starts the rollback. Without a guard (plans with no such tables) the question is asked at
//! once, as before.
//!
//! The undo of the migrations counts again right before dropping and dumps the rows into the
//! run directory either way, so rows written after the count are kept in the dump too; without
//! consent it stops the rollback there instead of dropping anything.

use std::path::Path;

use super::msg::Effect;
use super::state::{Ask, Question, State};
use crate::upgrade::rollback::new_data::NewData;

/// What the wizard needs from the plan to guard the drop: a count before asking, and the
/// operator's consent recorded once they said yes.
pub trait RollbackGuard: Send + Sync {
    /// The rows the fast rollback of the run in `run_dir` would drop; None when it would drop
    /// none (no migrations applied, or the app's own migration tool).
    fn count(&self, run_dir: &Path) -> Result<Option<NewData>, String>;
    /// Records that the operator lets them be dropped.
    fn consent(&self, run_dir: &Path) -> Result<(), String>;
}

/// `R` with a guard: count first, and say so in the hint bar meanwhile.
pub fn count_first(state: &mut State, finished: bool) -> Option<Effect> {
    state.notice = Some("counting the rows the new version received…".into());
    Some(Effect::CountNewData { finished })
}

/// Adds what the count found to the rollback question `q`. Rows found make it a different
/// question: its title says rows will be dropped and "yes" records consent first.
pub fn amend(q: &mut Question, counted: &Result<Option<NewData>, String>) {
    match counted {
        Ok(None) => {}
        Ok(Some(found)) if found.rows() == 0 => {
            q.lines
                .push(format!("New-version data: none ({}).", found.listing()));
        }
        // First, before the list of undone steps: a long question is cut above the y/n line,
        // and this is the part the operator must not miss.
        Ok(Some(found)) => {
            q.ask = match q.ask {
                Ask::RollbackFinished => Ask::RollbackFinishedDiscarding,
                _ => Ask::RollbackDiscarding,
            };
            q.title = "Roll back and DROP the new version's data?".into();
            let head = [
                format!(
                    "The new version received {} rows: {}.",
                    found.rows(),
                    found.listing()
                ),
                "The down migrations drop those tables, and the backup predates them.".into(),
                "They are dumped into the run directory first (pg_restore reads it back);".into(),
                "rows written after this count are dumped too.".into(),
                "y: dump, drop them and roll back.  n: keep the upgrade and the rows.".into(),
                String::new(),
            ];
            q.lines.splice(0..0, head);
        }
        Err(e) => {
            let head = [
                format!(
                    "Could not count the rows the new version received: {}.",
                    crate::secrets::hide(e)
                ),
                "The rollback counts them again before the down migrations and stops there".into(),
                "(nothing dropped) if there are any.".into(),
                String::new(),
            ];
            q.lines.splice(0..0, head);
        }
    }
}
