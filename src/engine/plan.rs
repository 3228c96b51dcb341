//! A plan: the ordered list of steps for one upgrade. Built by a plan builder from the
//! environment (see `crate::plans`), then handed to the runner unchanged.
//!
//! Invariant (checked by [`Plan::new`]): ids are unique, and every sign-off item comes before
//! the first action, so "every item signed" is decidable before anything changes.

use std::sync::Arc;

use anyhow::{Result, bail};

use super::recovery::StepMeta;
use super::step::{Step, StepKind};

#[derive(Clone)]
pub struct Plan {
    pub name: String,
    pub steps: Vec<Arc<dyn Step>>,
}

impl Plan {
    pub fn new(name: impl Into<String>, steps: Vec<Arc<dyn Step>>) -> Result<Self> {
        let mut seen = std::collections::BTreeSet::new();
        let mut action_seen = false;
        for s in &steps {
            if !seen.insert(s.id().to_string()) {
                bail!("plan has two steps with id {:?}", s.id());
            }
            match s.kind() {
                StepKind::Action => action_seen = true,
                StepKind::SignOff if action_seen => {
                    bail!("sign-off item {:?} comes after an action", s.id())
                }
                _ => {}
            }
        }
        Ok(Self {
            name: name.into(),
            steps,
        })
    }

    pub fn step(&self, id: &str) -> Option<&Arc<dyn Step>> {
        self.steps.iter().find(|s| s.id() == id)
    }

    /// Index of the first action: everything before it is the pre-flight.
    pub fn first_action(&self) -> usize {
        self.steps
            .iter()
            .position(|s| s.kind() == StepKind::Action)
            .unwrap_or(self.steps.len())
    }

    pub fn sign_offs(&self) -> impl Iterator<Item = &Arc<dyn Step>> {
        self.steps.iter().filter(|s| s.kind() == StepKind::SignOff)
    }

    pub fn meta(&self) -> Vec<StepMeta> {
        self.steps
            .iter()
            .map(|s| StepMeta {
                id: s.id().to_string(),
                title: s.title().to_string(),
                kind: s.kind(),
                point_of_no_return: s.past_point_of_no_return(),
            })
            .collect()
    }
}
