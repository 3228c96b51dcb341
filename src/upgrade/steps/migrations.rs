//! Action `migrations`: the guide's "run migrations: TODO" (DESIGN.md defect 10), done one of
//! two ways:
//! - cutover's checksummed up/down migrations (built in, or `migrations_dir`), each in its own
//!   transaction under an advisory lock and recorded in `cutover_schema_migrations`. The
//!   version before is journaled first; undo migrates down to it, so only what this run applied
//!   is reverted.
//! - the app's own (`migrations_command`, e.g. `alembic upgrade head`): run by `/bin/sh -c` in a
//!   one-off container created from the backend container's image, with its environment and
//!   networks (postgres is reached by its service name) and compose's one-off labels. Its
//!   output becomes the step's log lines; a non-zero exit fails the step with the last lines.
//!   The one-off is removed afterwards, also on failure, and a leftover of an interrupted run
//!   with the same name is removed first. Undo runs `migrations_down_command` the same way;
//!   without one, cutover cannot undo the app's migrations, and since the fast rollback
//!   restarts the old postgres container on the same data volume, their schema changes stay:
//!   the undo says so (and the report); only the backup, taken before the migrations
//!   (`cutover rollback --disaster`), holds the old schema. After a non-zero exit the undo
//!   (which runs for a failed action too) removes a leftover one-off but does not run the down
//!   command: cutover cannot know what a failed command left, and a relative down (`-1`)
//!   would revert a migration that was there before. The error says the same.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;

use super::meta;
use crate::adapters::docker::{LogQuery, OneOffSpec};
use crate::adapters::migrations::{self, MigrationSet};
use crate::engine::redact::redact_line;
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{AppMigrations, MigrationsOutput};
use crate::upgrade::rollback::new_data;

/// How many of the command's last output lines a failure quotes.
const TAIL_LINES: usize = 10;

pub struct Migrations {
    pub env: Arc<UpgradeEnv>,
}

/// The warning of an undo without `migrations_down_command`.
pub fn no_down_warning(command: &str) -> String {
    format!(
        "the app's migrations (`{command}`) cannot be undone by cutover: no \
         migrations_down_command is configured. The fast rollback restarts the old postgres \
         container on the same data volume, so the data is kept but the schema changes the \
         command made stay (the old application must cope with them); the run's backup, taken \
         before the migrations, holds the schema as it was (`cutover rollback --disaster` \
         restores it, instead of the fast rollback)"
    )
}

/// What a failed command leaves, for its error and the report.
pub fn failed_warning() -> &'static str {
    "the app's migrations cannot be undone by cutover: the fast rollback restarts the old \
     postgres container on the same data volume, so any schema change the command made before \
     it failed stays (the data is kept); the run's backup, taken before the migrations, holds \
     the schema as it was"
}

impl Migrations {
    fn set(&self) -> anyhow::Result<MigrationSet> {
        Ok(match &self.env.migrations_dir {
            Some(d) => MigrationSet::from_dir(d)?,
            None => MigrationSet::embedded()?,
        })
    }

    fn oneoff_name(&self) -> String {
        format!(
            "{}-{}-cutover-migrations",
            self.env.project, self.env.backend_service
        )
    }

    /// The one-off spec for `command`, from the backend container (stopped by now).
    async fn spec(&self, command: &str) -> anyhow::Result<OneOffSpec> {
        let backend = self
            .env
            .service_container(&self.env.backend_service)
            .await?
            .with_context(|| {
                format!(
                    "no container of service {} to take the image, environment and networks \
                     for migrations_command from",
                    self.env.backend_service
                )
            })?;
        let docker = self.env.docker().await?;
        Ok(docker
            .oneoff_from(
                &backend,
                &self.oneoff_name(),
                vec!["/bin/sh".into(), "-c".into()],
                vec![command.to_string()],
            )
            .await?)
    }

    /// Creates, starts and follows the one-off to its end, logging each line; always removes
    /// it. Returns the exit code and the last lines (redacted).
    async fn run_oneoff(
        &self,
        cx: &StepContext,
        spec: &OneOffSpec,
    ) -> anyhow::Result<(i64, VecDeque<String>)> {
        let docker = self.env.docker().await?;
        let result = async {
            docker.create_oneoff(spec).await?;
            docker.start(&spec.name).await?;
            let mut follower = docker.logs(
                &spec.name,
                &LogQuery {
                    follow: true,
                    ..Default::default()
                },
            );
            let mut tail = VecDeque::new();
            loop {
                let line = tokio::select! {
                    _ = cx.cancel_token().cancelled() => {
                        bail!("interrupted while {} ran", spec.name)
                    }
                    l = follower.next() => l,
                };
                let Some(line) = line else { break };
                let text = line?.text;
                let text = text.trim_end();
                cx.log(text);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(redact_line(text));
            }
            let code = docker.wait_exit(&spec.name).await?;
            Ok((code, tail))
        }
        .await;
        let removed = docker.remove(&spec.name, true).await;
        let out = result?;
        removed.with_context(|| format!("removing the one-off container {}", spec.name))?;
        Ok(out)
    }

    async fn run_app(&self, cx: &StepContext, command: &str) -> Result<Finish, StepError> {
        let mut spec = self.spec(command).await?;
        let mut app = AppMigrations {
            command: redact_line(command),
            image: spec.image.clone(),
            container: spec.name.clone(),
            exit_code: None,
            undo: None,
        };
        // A resumed run uses the image the first attempt used (and saved for the undo).
        if let Some(saved) = cx.output::<MigrationsOutput>().and_then(|o| o.app) {
            spec.image = saved.image.clone();
            app.image = saved.image;
        }
        let mut out = MigrationsOutput {
            origin: "migrations_command".into(),
            version_before: 0,
            ran: Vec::new(),
            app: Some(app.clone()),
            new_data: None,
        };
        cx.save_output(&out)?;
        cx.log(format!(
            "running `{}` in one-off container {} (image {})",
            app.command,
            spec.name,
            short(&spec.image)
        ));
        let (code, tail) = self.run_oneoff(cx, &spec).await?;
        app.exit_code = Some(code);
        out.app = Some(app.clone());
        cx.save_output(&out)?;
        if code != 0 {
            // The undo will not run the down command after this (see `undo_app`): cutover
            // cannot know what a failed command left.
            let note = failed_warning();
            app.undo = Some(note.to_string());
            out.app = Some(app.clone());
            cx.save_output(&out)?;
            let last: Vec<String> = tail.into_iter().collect();
            return Err(StepError::new(format!(
                "migrations_command `{}` exited with code {code}; last output: {}; {note}",
                app.command,
                if last.is_empty() {
                    "(none)".to_string()
                } else {
                    last.join(" | ")
                }
            )));
        }
        cx.log(format!(
            "migrations_command exited with code 0; {} removed",
            spec.name
        ));
        Ok(Finish::Ok)
    }

    async fn undo_app(&self, cx: &StepContext, mut out: MigrationsOutput) -> Result<(), StepError> {
        let Some(mut app) = out.app.clone() else {
            return Ok(());
        };
        let docker = self.env.docker().await?;
        docker
            .remove(&app.container, true)
            .await
            .with_context(|| format!("removing the leftover one-off {}", app.container))?;
        if app.exit_code.is_some_and(|c| c != 0) {
            // The failed run already saved why its changes stay (`failed_warning`).
            cx.log(format!("warning: {}", failed_warning()));
            return Ok(());
        }
        let Some(down) = self.env.migrations_down_command.clone() else {
            let warning = no_down_warning(&app.command);
            cx.log(format!("warning: {warning}"));
            app.undo = Some(warning);
            out.app = Some(app);
            cx.save_output(&out)?;
            return Ok(());
        };
        let mut spec = self.spec(&down).await?;
        spec.image = app.image.clone();
        cx.log(format!(
            "running `{}` in one-off container {}",
            redact_line(&down),
            spec.name
        ));
        let (code, tail) = self.run_oneoff(cx, &spec).await?;
        if code != 0 {
            let last: Vec<String> = tail.into_iter().collect();
            return Err(StepError::new(format!(
                "migrations_down_command `{}` exited with code {code}; last output: {}",
                redact_line(&down),
                last.join(" | ")
            )));
        }
        app.undo = Some(format!(
            "migrations_down_command `{}` exited with code 0",
            redact_line(&down)
        ));
        out.app = Some(app);
        cx.save_output(&out)?;
        Ok(())
    }
}

fn short(image: &str) -> &str {
    let id = image.strip_prefix("sha256:").unwrap_or(image);
    &id[..id.len().min(12)]
}

#[async_trait]
impl Step for Migrations {
    meta!(
        "migrations",
        "Apply the schema migrations (knowledge base tables)",
        Action
    );

    fn touches(&self) -> Vec<String> {
        if let Some(cmd) = &self.env.migrations_command {
            return vec![
                format!(
                    "migrations_command `{}` via /bin/sh -c in one-off container {} from the \
                     image of service {}, with its environment and networks",
                    redact_line(cmd),
                    self.oneoff_name(),
                    self.env.backend_service
                ),
                match &self.env.migrations_down_command {
                    Some(d) => format!("undo: migrations_down_command `{}`", redact_line(d)),
                    None => "undo: none (no migrations_down_command): a fast rollback keeps \
                             the app's schema changes"
                        .to_string(),
                },
            ];
        }
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
        if let Some(cmd) = self.env.migrations_command.clone() {
            return self.run_app(cx, &cmd).await;
        }
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
            app: None,
            new_data: None,
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
        if cx.disaster_rollback() {
            cx.log("disaster rollback: the database is replaced by the backup, no down migration");
            if let Some(app) = &out.app {
                // Still no leftover one-off, whichever path.
                let docker = self.env.docker().await?;
                docker
                    .remove(&app.container, true)
                    .await
                    .with_context(|| format!("removing the leftover one-off {}", app.container))?;
            }
            return Ok(());
        }
        if out.app.is_some() {
            return self.undo_app(cx, out).await;
        }
        let set = self.set()?;
        let mut client = self.env.connect().await?;
        new_data::keep(&self.env, cx, &client, &set, out.clone()).await?;
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
