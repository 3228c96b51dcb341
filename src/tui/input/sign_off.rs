//! Signing the selected checklist item: only manual items, once each; the operator's name is
//! asked the first time and recorded with every later sign-off.

use crate::engine::{Command, StepKind};
use crate::tui::msg::Effect;
use crate::tui::state::{Popup, State, Status};

pub(super) fn sign_off(state: &mut State) -> Option<Effect> {
    let items = state.checklist();
    let item = items.get(state.cursor).copied()?;
    if item.info.kind != StepKind::SignOff {
        state.notice = Some("this is an automatic check; select a manual item to sign".into());
        return None;
    }
    if matches!(item.status, Status::Signed { .. }) {
        state.notice = Some("already signed off".into());
        return None;
    }
    let id = item.info.id.clone();
    match &state.operator {
        Some(by) => Some(Effect::Send(Command::SignOff {
            item: id,
            by: by.clone(),
        })),
        // Asked once; recorded with every later sign-off.
        None => {
            state.popup = Some(Popup::Name {
                input: String::new(),
                item: id,
            });
            None
        }
    }
}
