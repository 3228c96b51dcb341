//! Action `migrations`: the guide's "run migrations: TODO" (DESIGN.md defect 10), done with
//! cutover's checksummed up/down migrations (built in, or `migrations_dir`), each in its own
//! transaction under an advisory lock and recorded in `cutover_schema_migrations`.
//!
//! The version before is journaled first; undo migrates down to it, so only what this run
//! applied is reverted.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::meta;
use crate::adapters::migrations::{self, MigrationRun, MigrationSet};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationsOutput {
    pub origin: String,
    pub version_before: i64,
    pub ran: Vec<MigrationRun>,
}

pub struct Migrations {
    pub env: Arc<UpgradeEnv>,
}

impl Migrations {
    fn set(&self) -> anyhow::Result<MigrationSet> {
        Ok(match &self.env.migrations_dir {
            Some(d) => MigrationSet::from_dir(d)?,
            None => MigrationSet::embedded()?,
        })
    }
}

#[async_trait]
impl Step for Migrations {
    meta!(
        "migrations",
        "Apply the schema migrations (knowledge base tables)",
        Action
    );

    fn touches(&self) -> Vec<String> {
        match self.set() {
            Ok(set) => set
                .migrations
                .iter()
                .map(|m| format!("migration {:04} {} ({})", m.version, m.name, set.origin))
                .chain(std::iter::once(format!(
                    "tables knowledge_bases, documents, chunks, {}",
                    migrations::HISTORY_TABLE
                )))
                .collect(),
            Err(e) => vec![format!("migrations: {e:#}")],
        }
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let set = self.set()?;
        let mut client = self.env.connect().await?;
        let version_before = match cx.output::<MigrationsOutput>() {
            Some(o) => o.version_before,
            None => migrations::history(&client)
                .await
                .context("reading the migration history")?
                .iter()
                .map(|r| r.version)
                .max()
                .unwrap_or(0),
        };
        let mut out = MigrationsOutput {
            origin: set.origin.clone(),
            version_before,
            ran: Vec::new(),
        };
        cx.save_output(&out)?;
        out.ran = migrations::up(&mut client, &set)
            .await
            .context("applying migrations")?;
        for r in &out.ran {
            cx.log(format!(
                "{:04} {} up ({} ms)",
                r.version, r.name, r.duration_ms
            ));
        }
        if out.ran.is_empty() {
            cx.log("schema already up to date");
        }
        cx.save_output(&out)?;
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<MigrationsOutput>() else {
            return Ok(());
        };
        let set = self.set()?;
        let mut client = self.env.connect().await?;
        let ran = migrations::down(&mut client, &set, out.version_before)
            .await
            .with_context(|| format!("migrating down to version {}", out.version_before))?;
        for r in &ran {
            cx.log(format!(
                "{:04} {} down ({} ms)",
                r.version, r.name, r.duration_ms
            ));
        }
        Ok(())
    }
}
