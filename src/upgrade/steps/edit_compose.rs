//! Action `edit-compose`: write the upgrade into the compose file (postgres image, a qdrant
//! service and its volume), keeping every comment, key order and quote. A byte-identical copy
//! goes to the run directory and is journaled first; the edited text is re-read and validated,
//! then accepted by the machine's Compose tool (`config -q`), else undone. The guide's rollback
//! forgets this file (DESIGN.md defect 5); undo here restores the copy, checksum-verified.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::meta;
use crate::adapters::compose::{self, PgvectorEdit};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{EditOutput, EngineOutput};
use crate::upgrade::tool;

pub struct EditCompose {
    pub env: Arc<UpgradeEnv>,
}

impl EditCompose {
    pub fn edit(&self) -> PgvectorEdit {
        let mut e = PgvectorEdit::new(&self.env.target_image, &self.env.qdrant_image);
        e.postgres_service = self.env.postgres_service.clone();
        e.qdrant_ports = self.env.qdrant_ports.clone();
        // For qdrant when the edited file is an override that only sets postgres's image.
        let pg = &self.env.facts.postgres;
        e.postgres_networks = pg
            .networks
            .iter()
            .filter(|n| *n != "default")
            .cloned()
            .collect();
        e.postgres_restart = pg.restart.clone();
        e
    }
}

#[async_trait]
impl Step for EditCompose {
    meta!(
        "edit-compose",
        "Edit the compose file (image, qdrant), comments kept",
        Action
    );

    fn touches(&self) -> Vec<String> {
        let e = self.edit();
        let ports = if e.qdrant_ports.is_empty() {
            "unpublished".to_string()
        } else {
            e.qdrant_ports
                .iter()
                .map(|p| p.compose_text())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut t = vec![
            format!(
                "file {} (copy kept in the run directory)",
                self.env.facts.edit_file.display()
            ),
            format!(
                "services.{}.image: {}",
                e.postgres_service, e.postgres_image
            ),
        ];
        if self.env.facts.has_qdrant {
            t.push("services.qdrant exists: left as it is".into());
        } else {
            t.push(format!(
                "services.qdrant: {} (ports {ports}), volume {}",
                e.qdrant_image, e.qdrant_volume
            ));
        }
        t
    }

    async fn check_world(&self, cx: &StepContext) -> Result<(), StepError> {
        crate::upgrade::world::as_edited(&self.env, cx).await
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        // The file that sets postgres's image: an override when one does.
        let file = self.env.facts.edit_file.clone();
        let run_dir = cx.run_dir().to_path_buf();
        // On resume the journaled copy is the original; a new copy now would be of the edit.
        let edit = match cx.output::<EditOutput>() {
            Some(o) => o.edit,
            None => {
                let edit = self.edit();
                let (f, d) = (file.clone(), run_dir.clone());
                let backup =
                    tokio::task::spawn_blocking(move || compose::backup_compose_file(&f, &d))
                        .await
                        .context("copy task")?
                        .context("copying the compose file into the run directory")?;
                cx.save_output(&EditOutput {
                    edit: edit.clone(),
                    backup,
                    changes: Vec::new(),
                })?;
                edit
            }
        };
        let (f, d, e) = (file.clone(), run_dir, edit.clone());
        let applied = tokio::task::spawn_blocking(move || compose::apply_pgvector_edit(&f, &d, &e))
            .await
            .context("edit task")?
            .context("editing the compose file")?;
        for c in &applied.changes {
            cx.log(c.clone());
        }
        cx.save_output(&EditOutput {
            edit,
            backup: applied.backup.clone(),
            changes: applied.changes.clone(),
        })?;
        match cx
            .output_of::<EngineOutput>("engine")
            .and_then(|e| e.compose_tool)
        {
            Some(t) => {
                tool::accepts(&t, &self.env.facts.compose_files, &self.env.stack_dir).await?;
                cx.log(format!(
                    "`{} config -q` accepts the edited project ({})",
                    t.join(" "),
                    self.env
                        .facts
                        .compose_files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            None => cx.log("no Compose tool on this machine: checked by cutover's reader only"),
        }
        Ok(Finish::Ok)
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        let Some(out) = cx.output::<EditOutput>() else {
            return Ok(());
        };
        let b = out.backup.clone();
        tokio::task::spawn_blocking(move || compose::restore_compose_file(&b))
            .await
            .context("restore task")?
            .context("restoring the compose file from the run directory's copy")?;
        cx.log(format!(
            "{} restored from {}",
            out.backup.original.display(),
            out.backup.copy.display()
        ));
        Ok(())
    }
}
