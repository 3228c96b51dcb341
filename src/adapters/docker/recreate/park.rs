//! Keeping the old container for the fast rollback without leaving it where Compose or the
//! engine can act on it.
//!
//! Why: Compose finds containers by their labels, and Docker cannot remove labels from a
//! container, so a renamed old container is still "the postgres service" to `docker compose
//! up -d`, which then recreates or removes it. And an engine restart starts every container
//! whose policy says so: the old one would start a second server on the data volume.
//!
//! So the old container is replaced, once stopped, by a PARKED placeholder under
//! `<name>-cutover-old-<id>`: no Compose label, restart policy `no`, no volume, no network, and
//! an entrypoint that only says what it is and exits 64. "No volume" includes the anonymous
//! one the engine would make for the image's `VOLUME` (`/var/lib/postgresql/data`): that path
//! gets a tmpfs instead, so removing the placeholder any way (an operator's `docker rm -f`
//! too) leaves no empty volume behind. Started by hand it refuses; it keeps
//! the old image in use and the old env (the journal masks secrets) at hand. The rollback
//! never starts it: it re-creates the old container from the journaled configuration
//! (`RecreatePlan::old_config`), which needs only the old image, kept tagged until finalize.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveImageOptions,
    TagImageOptions,
};

use super::super::connect::DockerClient;
use super::super::error::{DockerError, Result, status_of};
use super::super::labels;
use super::plan::RecreatePlan;

/// On the parked placeholder: the id of the container it stands for.
pub const PARKED: &str = "io.cutover.parked";
/// On the parked placeholder: the Compose project it was taken from (Compose itself must not
/// see it, but an operator or a test bed's teardown can find it by this).
pub const PARKED_PROJECT: &str = "io.cutover.project";

/// What the placeholder runs if anyone starts it.
const REFUSAL: &str = "echo 'cutover: this is the parked pre-upgrade postgres container; it \
must not run beside the new one on the same volume. `cutover rollback` re-creates the old \
container from its journal; `cutover finalize` removes this one.' >&2; exit 64";

impl DockerClient {
    /// Tags the old image `plan.keep_tag` (idempotent), so pruning cannot remove it.
    pub async fn keep_old_image(&self, plan: &RecreatePlan) -> Result<()> {
        let Some(tag) = &plan.keep_tag else {
            return Ok(());
        };
        let (repo, t) = tag.rsplit_once(':').unwrap_or((tag.as_str(), "latest"));
        let opts = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(t.to_string()),
        };
        self.docker
            .tag_image(&plan.old_image_id, Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("tag the old image as {tag}"), e))
    }

    /// Removes the keep tag; returns false when the tag (so maybe the image) was already gone.
    pub async fn release_old_image(&self, plan: &RecreatePlan) -> Result<bool> {
        let Some(tag) = &plan.keep_tag else {
            return Ok(true);
        };
        // Untag only: `noprune` keeps the image itself, which the old image's own tag (or a
        // restored container) may still use.
        let opts = RemoveImageOptions {
            force: false,
            noprune: true,
            ..Default::default()
        };
        match self.docker.remove_image(tag, Some(opts), None).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            // 409: the image has only this tag and a container uses it; the tag then stays
            // with the image, which is what keeps it.
            Err(e) if status_of(&e) == Some(409) => Ok(true),
            Err(e) => Err(DockerError::api(format!("untag {tag}"), e)),
        }
    }

    /// The image the old container can be re-created from: its own reference if that still
    /// names the old image, else the keep tag, else the image id; None when the image is gone.
    pub async fn old_image_ref(&self, plan: &RecreatePlan) -> Result<Option<String>> {
        let mut candidates = vec![plan.old_image.clone()];
        candidates.extend(plan.keep_tag.clone());
        candidates.push(plan.old_image_id.clone());
        for c in candidates.into_iter().filter(|c| !c.is_empty()) {
            if let Some(img) = self.try_inspect_image(&c).await?
                && (plan.old_image_id.is_empty() || img.id == plan.old_image_id)
            {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Replaces the (stopped) old container by the parked placeholder, then removes the old
    /// container. Repeatable: an existing placeholder is kept, an absent old container is done.
    pub async fn park_old(&self, plan: &RecreatePlan) -> Result<()> {
        let Some(old) = self.try_inspect(&plan.old_id).await? else {
            return Ok(());
        };
        if self.parked(plan).await?.is_none() {
            let declared = self.inspect_image(&plan.old_image_id).await?.volumes;
            let tmpfs = declared.into_iter().map(|v| (v, String::new())).collect();
            let cfg = old.config.unwrap_or_default();
            let env = cfg.env.unwrap_or_default();
            let mut labels = HashMap::from([(PARKED.to_string(), plan.old_id.clone())]);
            if let Some(p) = cfg.labels.unwrap_or_default().get(labels::PROJECT) {
                labels.insert(PARKED_PROJECT.to_string(), p.clone());
            }
            let body = ContainerCreateBody {
                image: Some(plan.old_image_id.clone()),
                entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), REFUSAL.into()]),
                cmd: Some(Vec::new()),
                env: Some(env),
                labels: Some(labels),
                host_config: Some(HostConfig {
                    restart_policy: Some(RestartPolicy {
                        name: Some(RestartPolicyNameEnum::NO),
                        maximum_retry_count: None,
                    }),
                    network_mode: Some("none".into()),
                    tmpfs: Some(tmpfs),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let opts = CreateContainerOptionsBuilder::default()
                .name(&plan.old_kept_name)
                .build();
            self.docker
                .create_container(Some(opts), body)
                .await
                .map_err(|e| DockerError::api(format!("create {}", plan.old_kept_name), e))?;
        }
        self.remove(&plan.old_id, false).await
    }

    /// The parked placeholder of `plan`, if it exists.
    pub async fn parked(
        &self,
        plan: &RecreatePlan,
    ) -> Result<Option<bollard::models::ContainerInspectResponse>> {
        Ok(self.try_inspect(&plan.old_kept_name).await?.filter(|c| {
            c.config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(PARKED))
                == Some(&plan.old_id)
        }))
    }

    /// Running containers (names) that mount any of `volumes`, other than `except` (ids).
    pub async fn volume_users(&self, volumes: &[String], except: &[String]) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for v in volumes {
            let filters = HashMap::from([
                ("volume", vec![v.clone()]),
                ("status", vec!["running".to_string()]),
            ]);
            let opts = ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build();
            let list =
                self.docker.list_containers(Some(opts)).await.map_err(|e| {
                    DockerError::api(format!("list containers using volume {v}"), e)
                })?;
            for c in list {
                if except.iter().any(|x| Some(x) == c.id.as_ref()) {
                    continue;
                }
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string();
                if !users.contains(&name) {
                    users.push(name);
                }
            }
        }
        Ok(users)
    }

    /// Fails, naming them, when a running container other than `except` mounts the data volume.
    pub async fn guard_single_server(&self, plan: &RecreatePlan, except: &[String]) -> Result<()> {
        let users = self.volume_users(&plan.data_volumes, except).await?;
        if users.is_empty() {
            return Ok(());
        }
        Err(DockerError::Invalid(format!(
            "refusing to start a postgres server on volume {}: {} already runs on it (two \
             servers on one data directory corrupt it); stop it, then retry",
            plan.data_volumes.join(", "),
            users.join(", ")
        )))
    }

    /// The containers Compose knows as the old container's service (project and service from
    /// its journaled labels), as (id, name, image id, running).
    pub async fn service_of_old(
        &self,
        plan: &RecreatePlan,
    ) -> Result<Vec<(String, String, String, bool)>> {
        let l = plan
            .old_config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let (Some(project), Some(service)) = (l.get(labels::PROJECT), l.get(labels::SERVICE))
        else {
            return Ok(Vec::new());
        };
        Ok(self
            .find_service(project, service)
            .await?
            .into_iter()
            .map(|c| {
                let running = c.is_running();
                (c.id, c.name, c.image_id, running)
            })
            .collect())
    }

    /// The env the old container had, secrets filled in from the placeholder, else from the
    /// service's current container (Compose gives both the same environment section).
    pub(super) async fn old_env(&self, plan: &RecreatePlan) -> Result<Vec<String>> {
        let masked = plan
            .old_config
            .as_ref()
            .and_then(|c| c.env.clone())
            .unwrap_or_default();
        let mut sources: Vec<Vec<String>> = Vec::new();
        if let Some(p) = self.parked(plan).await? {
            sources.push(p.config.and_then(|c| c.env).unwrap_or_default());
        }
        for (id, _, _, _) in self.service_of_old(plan).await? {
            if let Some(c) = self.try_inspect(&id).await? {
                sources.push(c.config.and_then(|c| c.env).unwrap_or_default());
            }
        }
        masked
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, "***")) => sources
                    .iter()
                    .flatten()
                    .find(|o| o.split_once('=').map(|(ok, _)| ok) == Some(k))
                    .cloned()
                    .ok_or_else(|| {
                        DockerError::Invalid(format!(
                            "{k} of the old container is not in the journal (secrets are not \
                             journaled) and no container holds it any more; set it in the \
                             compose file's environment and use the backup restore path"
                        ))
                    }),
                _ => Ok(kv),
            })
            .collect()
    }

    /// Creates the old container again from the journal under its own name; returns its id.
    pub(super) async fn recreate_old_from_journal(
        &self,
        plan: &RecreatePlan,
        env: Vec<String>,
    ) -> Result<String> {
        let mut body = plan.old_config.clone().ok_or_else(|| {
            DockerError::Invalid(format!(
                "the journal has no configuration of the old container {} (written by an older \
                 cutover) and the container is gone: use the backup restore path",
                plan.old_kept_name
            ))
        })?;
        let image = self.old_image_ref(plan).await?.ok_or_else(|| {
            DockerError::ImageUnavailable {
                image: plan.old_image.clone(),
                reason: format!(
                    "the old image ({}) was removed, so the old container cannot be re-created; \
                     pull it again, or use the backup restore path",
                    &plan.old_image_id
                ),
            }
        })?;
        body.image = Some(image);
        body.env = Some(env);
        let opts = CreateContainerOptionsBuilder::default()
            .name(&plan.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| {
                DockerError::api(format!("re-create {} on the old image", plan.name), e)
            })?;
        self.connect_extra_networks(&created.id, plan, &[]).await?;
        Ok(created.id)
    }
}
