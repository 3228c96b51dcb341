//! Check `cluster-facts`: what the running cluster needs from any image it runs on, read from
//! the live server and the postgres container (read-only): the locales of every database and
//! of the `lc_*` settings, the preload libraries (from postgresql.conf, postgresql.auto.conf
//! and the compose `command:`), the installed extensions of every database, the data
//! directory's owner, file count and mount, the container's `user:`, and the collatable btree
//! indexes with sizes plus a measured index build rate. The checks after `target-probe`
//! compare these with what the target image offers.
//!
//! Nothing here changes the cluster: the build-rate sample is a temporary table in a
//! transaction that is rolled back.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::collation::list_collatable_indexes;
use crate::adapters::docker::ExecSpec;
use crate::adapters::postgres::cluster::{self as pg_settings};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{ClusterFacts, DataMount, Discovery};

pub struct ClusterFactsStep {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for ClusterFactsStep {
    meta!(
        "cluster-facts",
        "What the cluster needs: locales, libraries, extensions, owner",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: pg_database, pg_settings, pg_file_settings, pg_extension, $PGDATA (read only)",
            self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let d: Discovery = earlier(cx, "discover")?;
        let docker = self.env.docker().await?;
        let client = self.env.connect().await?;
        let container = docker
            .inspect(&d.postgres.container)
            .await
            .context("inspecting postgres")?;
        let config = container.config.clone().unwrap_or_default();
        let old_image = docker
            .try_inspect_image(&d.postgres.image_id)
            .await
            .context("inspecting postgres's image")?
            .unwrap_or_default();
        let env = config.env.clone().unwrap_or_default();
        let env_of = |list: &[String], k: &str| {
            list.iter()
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(String::from))
        };
        let data_dir =
            env_of(&env, "PGDATA").unwrap_or_else(|| "/var/lib/postgresql/data".to_string());
        let pgdata_override = env_of(&env, "PGDATA")
            .filter(|v| env_of(&old_image.env, "PGDATA").as_deref() != Some(v.as_str()));
        let user_override = config
            .user
            .clone()
            .filter(|u| !u.is_empty() && Some(u) != old_image.user.as_ref());
        let cmd = config
            .cmd
            .clone()
            .filter(|c| Some(c) != old_image.cmd.as_ref())
            .unwrap_or_default();

        let mut facts = ClusterFacts {
            current_database: crate::adapters::postgres::current_database(&client)
                .await
                .context("reading the current database")?,
            data_dir: data_dir.clone(),
            user_override,
            pgdata_override,
            ..Default::default()
        };
        facts.databases = pg_settings::database_locales(&client)
            .await
            .context("reading pg_database")?;
        facts.settings = pg_settings::locale_and_preload_settings(&client, &cmd)
            .await
            .context("reading the lc_* and preload settings")?;
        let target = self.env.pg_target().await?;
        let (exts, unread) = pg_settings::installed_extensions(&target, &facts.databases).await;
        facts.extensions = exts;
        facts.unread_databases = unread;
        facts.mount = container.mounts.iter().flatten().find_map(|m| {
            let dest = m.destination.clone()?;
            let covers = data_dir == dest || data_dir.starts_with(&format!("{dest}/"));
            covers.then(|| DataMount {
                kind: m.typ.clone().map(|t| t.to_string()).unwrap_or_default(),
                source: m.name.clone().or(m.source.clone()).unwrap_or_default(),
                destination: dest,
            })
        });
        // Owner and file count, read in the container (the volume may not be visible here).
        let t = Instant::now();
        let out = docker
            .exec_output(
                &d.postgres.container,
                &ExecSpec::new([
                    "sh",
                    "-c",
                    "stat -c '%u %g' \"$1\" && find \"$1\" | wc -l",
                    "sh",
                    &data_dir,
                ]),
            )
            .await
            .context("reading the data directory's owner")?;
        let walk_ms = t.elapsed().as_millis() as u64;
        if out.exit_code == 0 {
            let text = out.stdout_str();
            let mut lines = text.lines();
            let mut ids = lines.next().unwrap_or("").split_whitespace();
            facts.data_owner_uid = ids.next().and_then(|s| s.parse().ok());
            facts.data_owner_gid = ids.next().and_then(|s| s.parse().ok());
            facts.data_files = lines.next().and_then(|s| s.trim().parse().ok());
            facts.data_walk_ms = Some(walk_ms);
        } else {
            cx.log(format!(
                "could not read {data_dir}'s owner in {}: {}",
                d.postgres.container,
                out.stderr_str().trim()
            ));
        }
        facts.collatable_indexes = list_collatable_indexes(&client)
            .await
            .context("listing collatable indexes")?
            .into_iter()
            .filter(|i| i.method == "btree")
            .collect();
        facts.build_rate = match pg_settings::measure_build_rate(&client).await {
            Ok(r) => Some(r),
            Err(e) => {
                cx.log(format!("index build rate not measured: {e:#}"));
                None
            }
        };
        for db in &facts.databases {
            cx.log(format!(
                "database {}: collate {}, ctype {}{}",
                db.name,
                db.collate,
                db.ctype,
                db.provider
                    .as_deref()
                    .map(|p| format!(", provider {p}"))
                    .unwrap_or_default()
            ));
        }
        for s in &facts.settings {
            cx.log(format!("{} = '{}' ({})", s.name, s.value, s.source));
        }
        cx.log(format!(
            "{} installed extension(s): {}",
            facts.extensions.len(),
            facts
                .extensions
                .iter()
                .map(|e| format!("{} {} in {}", e.name, e.version, e.database))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        cx.log(format!(
            "data directory {data_dir}: owner {}:{}, {} files",
            opt(facts.data_owner_uid),
            opt(facts.data_owner_gid),
            opt(facts.data_files)
        ));
        cx.save_output(&facts)?;
        if facts.unread_databases.is_empty() {
            Ok(Finish::Ok)
        } else {
            Ok(Finish::Warning(format!(
                "extensions of {} could not be read; they are not checked against the target",
                facts.unread_databases.join(", ")
            )))
        }
    }
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}
