//! The manual sign-offs: things only people can vouch for. The machine never runs them; the
//! operator signs each by name (`--sign-off ID=NAME` or in the wizard), and the report says who
//! signed what and when.

use async_trait::async_trait;

use crate::engine::{Finish, Step, StepContext, StepError, StepKind};

pub const ITEMS: &[(&str, &str)] = &[
    (
        "staging-tested",
        "The upgrade was tested on staging with a copy of production",
    ),
    (
        "team-informed",
        "The team knows the backend will be down for the window",
    ),
    (
        "window-agreed",
        "The maintenance window is agreed and has started",
    ),
];

pub struct SignOffItem {
    pub id: &'static str,
    pub title: &'static str,
}

#[async_trait]
impl Step for SignOffItem {
    fn id(&self) -> &str {
        self.id
    }
    fn title(&self) -> &str {
        self.title
    }
    fn kind(&self) -> StepKind {
        StepKind::SignOff
    }
    async fn run(&self, _cx: &StepContext) -> Result<Finish, StepError> {
        Ok(Finish::Ok)
    }
}
