//! The rehearsal's side stack: its names, its compose file, and how it is torn down.
//!
//! - Names: Compose project `<project>-rehearsal`; postgres `<project>-rehearsal-postgres`
//!   under the live service's name; the copy's volume `<project>-rehearsal_data`; its only
//!   network is `internal` (no route out, none to the live stack's networks) and nothing is
//!   published. Everything carries the label `io.cutover.rehearsal=<project>`.
//! - The compose file holds the database's environment (its password among it), so it is
//!   written 0600 inside a 0700 directory and removed with the stack, together with the copy
//!   the side run keeps of it to restore it (`runs/<run>/compose.yaml.orig`): the journal and
//!   the report outlive the teardown, the password does not.
//! - With `rehearse_app` the file also holds the application's writers (`app_copy`): same
//!   image, command, environment and healthcheck as Compose resolves the live project, on the
//!   `internal` network only, under `<project>-rehearsal-<service>`, labelled like the rest;
//!   postgres then gets the live healthcheck too (a writer may wait for it). Without it the
//!   file is exactly the database's.
//! - Teardown never depends on how far the rehearsal got: `down -v` through Compose when the
//!   file exists, then a sweep by name prefix and project label (the parked old container the
//!   upgrade makes carries neither Compose labels nor the file's name), then the kept image tag.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::app_copy::{AppCopy, escaped};
use crate::adapters::docker::DockerClient;

/// The label every part of a rehearsal carries (value: the live project's name).
pub const LABEL: &str = "io.cutover.rehearsal";

/// What the copy of postgres runs with, read from the live container.
#[derive(Debug, Clone)]
pub struct PostgresShape {
    /// The live service's name (the plan looks it up by this name).
    pub service: String,
    /// The image reference the live container was created from (the old image).
    pub image: String,
    /// `KEY=VALUE` of the live container that shape the server: `POSTGRES_*`, `PG*`, `LANG`,
    /// `LC_*`.
    pub env: Vec<String>,
    /// Where the data volume is mounted.
    pub data_path: String,
}

pub struct SideStack {
    /// The live project's name.
    pub live: String,
    pub project: String,
    /// `<rehearsal dir>/stack`, holding `compose.yaml`.
    pub dir: PathBuf,
    /// The application's writers, when `rehearse_app` is on.
    pub app: Option<AppCopy>,
}

impl SideStack {
    pub fn new(live: &str, rehearsal_dir: &Path) -> Self {
        SideStack {
            live: live.to_string(),
            project: format!("{live}-rehearsal"),
            dir: rehearsal_dir.join("stack"),
            app: None,
        }
    }

    /// Prefix of every container name of the side stack.
    pub fn container_prefix(&self) -> String {
        format!("{}-", self.project)
    }

    pub fn compose_file(&self) -> PathBuf {
        self.dir.join("compose.yaml")
    }

    pub fn postgres_container(&self) -> String {
        format!("{}-postgres", self.project)
    }

    /// The copy's volume, as Compose names it.
    pub fn data_volume(&self) -> String {
        format!("{}_data", self.project)
    }

    /// Writes the compose file (0600, in a 0700 directory).
    pub fn write(&self, pg: &PostgresShape) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let file = self.compose_file();
        std::fs::write(&file, self.compose_text(pg))
            .with_context(|| format!("writing {}", file.display()))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        Ok(())
    }

    /// The side stack's compose file. Scalars are written as JSON strings (valid YAML double-
    /// quoted scalars) with `$` doubled, so no value is interpolated or re-typed by Compose.
    pub fn compose_text(&self, pg: &PostgresShape) -> String {
        let q = |s: &str| serde_json::to_string(&s.replace('$', "$$")).expect("a string");
        let label = format!("      {LABEL}: {}\n", q(&self.live));
        let mut env = String::new();
        for kv in &pg.env {
            if let Some((k, v)) = kv.split_once('=') {
                env.push_str(&format!("      {}: {}\n", q(k), q(v)));
            }
        }
        let app = self.app.as_ref();
        let pg_health =
            app.and_then(|a| a.postgres_healthcheck.as_ref())
                .map_or(String::new(), |h| {
                    format!(
                        "healthcheck: {}\n    ",
                        serde_json::to_string(&escaped(h)).expect("json")
                    )
                });
        let mut services = String::new();
        let mut volumes = String::new();
        for a in app.into_iter().flat_map(|a| a.services.iter()) {
            let mut def = escaped(&a.def);
            def["labels"] = serde_json::json!({ LABEL: self.live.replace('$', "$$") });
            services.push_str(&format!(
                "  {}: {}\n",
                q(&a.name),
                serde_json::to_string(&def).expect("json")
            ));
        }
        for v in app.into_iter().flat_map(|a| a.volumes.iter()) {
            volumes.push_str(&format!("  {}:\n    labels:\n{label}", q(v)));
        }
        format!(
            "# Written by `cutover rehearse`: a copy of {live}'s database on a network of its\n\
             # own, nothing published. Removed when the rehearsal ends.\n\
             services:\n  {service}:\n    image: {image}\n    container_name: {name}\n    \
             environment:\n{env}    volumes:\n      - {volume}\n    networks:\n      - rehearsal\n    \
             {pg_health}labels:\n{label}{services}\
             volumes:\n  data:\n    labels:\n{label}{volumes}\
             networks:\n  rehearsal:\n    internal: true\n    labels:\n{label}",
            live = self.live,
            service = pg.service,
            image = q(&pg.image),
            name = q(&self.postgres_container()),
            volume = q(&format!("data:{}", pg.data_path)),
        )
    }

    /// Removes everything of the side stack; returns what is left (empty: nothing).
    pub async fn tear_down(&self, docker: &DockerClient, tool: Option<&[String]>) -> Vec<String> {
        let file = self.compose_file();
        if let Some(tool) = tool
            && file.exists()
        {
            let _ = crate::upgrade::compose_up::compose(
                tool,
                std::slice::from_ref(&file),
                &self.project,
                &["down", "-v", "--remove-orphans", "--timeout", "5"],
            )
            .await;
        }
        let keep = crate::upgrade::steps::recreate_postgres::keep_tag(&self.project, &self.dir);
        let repo = keep.split(':').next().unwrap_or_default().to_string();
        let left = docker
            .sweep(
                &format!("{}-", self.project),
                &self.project,
                &[self.data_volume()],
                &repo,
            )
            .await;
        let _ = std::fs::remove_dir_all(&self.dir);
        for copy in self.compose_copies() {
            let _ = std::fs::remove_file(copy);
        }
        left
    }

    /// The copies of the compose file the side runs keep beside their journals.
    fn compose_copies(&self) -> Vec<PathBuf> {
        let name = format!(
            "{}.orig",
            self.compose_file()
                .file_name()
                .unwrap_or_default()
                .display()
        );
        std::fs::read_dir(self.dir.with_file_name("runs"))
            .into_iter()
            .flatten()
            .filter_map(|run| Some(run.ok()?.path().join(&name)))
            .filter(|copy| copy.exists())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_file_quotes_every_value_and_interpolates_none() {
        let side = SideStack::new("shop", Path::new("/r"));
        let text = side.compose_text(&PostgresShape {
            service: "postgres".into(),
            image: "postgres:16-alpine".into(),
            env: vec![
                "POSTGRES_PASSWORD=a$b\"c: d".into(),
                "LANG=en_US.utf8".into(),
            ],
            data_path: "/var/lib/postgresql/data".into(),
        });
        assert!(
            text.contains(r#""POSTGRES_PASSWORD": "a$$b\"c: d""#),
            "{text}"
        );
        assert!(text.contains("container_name: \"shop-rehearsal-postgres\""));
        assert!(text.contains("internal: true"));
        assert!(!text.contains("ports:"));
        assert_eq!(text.matches("io.cutover.rehearsal: \"shop\"").count(), 3);
    }
}
