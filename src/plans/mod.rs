//! The registry of plans. A plan is built from the effective configuration (the shared
//! environment); its steps take what they need from it into their own fields.
//!
//! To add a plan: write a `fn(&Config) -> Result<Plan, PlanError>` and add a [`PlanEntry`].

pub mod scripted;

use crate::config::Config;
use crate::engine::Plan;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("plan {0:?} is not implemented yet")]
    NotImplemented(String),
    #[error("unknown plan {name:?}; known plans: {known}")]
    Unknown { name: String, known: String },
    #[error("cannot build plan {name:?}: {source:#}")]
    Build { name: String, source: anyhow::Error },
}

pub struct PlanEntry {
    pub name: &'static str,
    /// Hidden plans (test plans) are not listed in help.
    pub hidden: bool,
    pub build: fn(&Config) -> Result<Plan, PlanError>,
}

pub const REGISTRY: &[PlanEntry] = &[
    PlanEntry {
        name: "pgvector",
        hidden: false,
        build: pgvector,
    },
    PlanEntry {
        name: "scripted",
        hidden: true,
        build: scripted::build,
    },
];

pub fn build(config: &Config) -> Result<Plan, PlanError> {
    let entry = REGISTRY
        .iter()
        .find(|e| e.name == config.plan)
        .ok_or_else(|| PlanError::Unknown {
            name: config.plan.clone(),
            known: REGISTRY
                .iter()
                .filter(|e| !e.hidden)
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    (entry.build)(config)
}

/// The built-in upgrade (`src/upgrade/`).
fn pgvector(config: &Config) -> Result<Plan, PlanError> {
    crate::upgrade::build(config).map_err(|source| PlanError::Build {
        name: "pgvector".into(),
        source,
    })
}
