//! The recreate steps. Each one first looks at what exists, does only what is missing, and
//! returns success when it finds its work already done, so the runner can repeat any of them
//! after a crash.

use std::time::Duration;

use bollard::models::NetworkConnectRequest;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use serde::{Deserialize, Serialize};

use super::super::connect::DockerClient;
use super::super::error::{DockerError, Result};
use super::super::labels;
use super::plan::RecreatePlan;

/// Where a recreate stands, as observed on the engine.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecreateState {
    /// The original old container's current name; `None` once it was parked (removed).
    pub old_name: Option<String>,
    pub old_running: bool,
    /// The replacement's id: the service's container on another image than the old one.
    pub new_id: Option<String>,
    pub new_running: bool,
    /// A container of the service on the old image that a rollback re-created.
    pub restored_id: Option<String>,
    /// The fast rollback can bring the old container back: it exists, or the journal holds
    /// its configuration and the old image is present.
    pub restorable: bool,
}

impl DockerClient {
    /// Observes the engine for `plan`.
    pub async fn recreate_state(&self, plan: &RecreatePlan) -> Result<RecreateState> {
        let old = self.try_inspect(&plan.old_id).await?;
        let mut new = self.replacement_of(plan).await?.map(|c| {
            let r = running(&Some(c.clone()));
            (c.id.unwrap_or_default(), r)
        });
        let mut restored = None;
        for (id, name, image_id, run) in self.service_of_old(plan).await? {
            if id == plan.old_id {
                continue;
            }
            if !plan.old_image_id.is_empty() && image_id == plan.old_image_id {
                restored = Some(id);
            } else if new.is_none() && is_new(plan, &name, &image_id) {
                new = Some((id, run));
            }
        }
        let restorable = old.is_some()
            || restored.is_some()
            || (plan.old_config.is_some() && self.old_image_ref(plan).await?.is_some());
        Ok(RecreateState {
            old_name: old.as_ref().map(name_of),
            old_running: running(&old),
            new_id: new.as_ref().map(|(id, _)| id.clone()),
            new_running: new.is_some_and(|(_, r)| r),
            restored_id: restored,
            restorable,
        })
    }

    /// Stops the old container (by id). Already stopped is fine, and so is already parked
    /// (the original removed): a resumed run repeats this.
    pub async fn stop_old(&self, plan: &RecreatePlan, timeout: Duration) -> Result<()> {
        match self.stop(&plan.old_id, timeout).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Parks the old container under `plan.old_kept_name`.
    pub async fn rename_old(&self, plan: &RecreatePlan) -> Result<()> {
        let old = self.inspect(&plan.old_id).await?;
        if name_of(&old) == plan.old_kept_name {
            return Ok(());
        }
        self.rename(&plan.old_id, &plan.old_kept_name).await
    }

    /// Creates the replacement under the service's name; returns its id. Finding it already
    /// created (our label, not the old container) returns that id.
    pub async fn create_new(&self, plan: &RecreatePlan) -> Result<String> {
        if let Some(c) = self.try_inspect(&plan.name).await? {
            let id = c.id.clone().unwrap_or_default();
            if id == plan.old_id {
                return Err(DockerError::Invalid(format!(
                    "{} is still the old container; run rename_old first",
                    plan.name
                )));
            }
            if is_replacement(&c, plan) {
                let joined: Vec<String> = c
                    .network_settings
                    .and_then(|n| n.networks)
                    .map(|n| n.into_keys().collect())
                    .unwrap_or_default();
                self.connect_extra_networks(&id, plan, &joined).await?;
                return Ok(id);
            }
            return Err(DockerError::Invalid(format!(
                "a container named {} exists that cutover did not create (id {}); remove or \
                 rename it, then retry",
                plan.name,
                &id[..id.len().min(12)]
            )));
        }
        let mut body = plan.create.clone();
        body.env = Some(self.unmask_env(plan).await?);
        let opts = CreateContainerOptionsBuilder::default()
            .name(&plan.name)
            .build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| {
                DockerError::api(format!("create {} on {}", plan.name, plan.new_image), e)
            })?;
        self.connect_extra_networks(&created.id, plan, &[]).await?;
        Ok(created.id)
    }

    /// Connects the replacement to the plan's other networks it is not on yet.
    pub(super) async fn connect_extra_networks(
        &self,
        id: &str,
        plan: &RecreatePlan,
        joined: &[String],
    ) -> Result<()> {
        for (net, ep) in &plan.extra_networks {
            if joined.contains(net) {
                continue;
            }
            let req = NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(ep.clone()),
            };
            self.docker.connect_network(net, req).await.map_err(|e| {
                DockerError::api(format!("connect {} to network {net}", plan.name), e)
            })?;
        }
        Ok(())
    }

    /// Starts the replacement.
    pub async fn start_new(&self, plan: &RecreatePlan) -> Result<()> {
        let c = self.replacement_of(plan).await?.ok_or_else(|| {
            DockerError::Invalid(format!(
                "no replacement for {} exists; run create_new",
                plan.name
            ))
        })?;
        self.start(c.id.as_deref().unwrap_or_default()).await
    }

    /// The inverse of the whole recreate; returns the old container's id (a new one when it
    /// had to be re-created). Removes the replacement (whoever created it: Compose or an older
    /// cutover), then brings the old container back under its name: the original if it still
    /// exists, else re-created from the journal on the old image (exact labels, so Compose
    /// sees its own container again). It starts it, if it ran before, only when no other
    /// running container mounts the data volume. Removes the parked placeholder and the keep
    /// tag. Safe to repeat.
    pub async fn restore_old(&self, plan: &RecreatePlan, stop_timeout: Duration) -> Result<String> {
        let original = self.try_inspect(&plan.old_id).await?;
        let service = self.service_of_old(plan).await?;
        let restored = service
            .iter()
            .find(|(id, _, image_id, _)| {
                *id != plan.old_id
                    && !plan.old_image_id.is_empty()
                    && *image_id == plan.old_image_id
            })
            .map(|(id, _, _, _)| id.clone());
        // Read before the replacement goes: it may be the only holder of the secrets.
        let env = match (&original, &restored) {
            (None, None) => Some(self.old_env(plan).await?),
            _ => None,
        };
        for (id, name, image_id, _) in &service {
            if *id == plan.old_id || Some(id) == restored.as_ref() || !is_new(plan, name, image_id)
            {
                continue;
            }
            self.stop(id, stop_timeout).await?;
            self.remove(id, false).await?;
        }
        if let Some(new) = self.replacement_of(plan).await? {
            let id = new.id.unwrap_or_default();
            self.stop(&id, stop_timeout).await?;
            self.remove(&id, false).await?;
        }
        let id = match (original, restored, env) {
            (Some(old), _, _) => {
                if name_of(&old) != plan.name {
                    self.rename(&plan.old_id, &plan.name).await?;
                }
                plan.old_id.clone()
            }
            (None, Some(id), _) => id,
            (None, None, Some(env)) => self.recreate_old_from_journal(plan, env).await?,
            (None, None, None) => unreachable!("env is read when neither container exists"),
        };
        if plan.old_was_running {
            self.guard_single_server(plan, std::slice::from_ref(&id))
                .await?;
            self.start(&id).await?;
        }
        if let Some(p) = self.parked(plan).await? {
            // The placeholder mounts nothing of the user's: `v` removes only an anonymous volume
            // the engine made for the image's VOLUME (a placeholder of an older cutover has one).
            self.remove(p.id.as_deref().unwrap_or_default(), true)
                .await?;
        }
        self.release_old_image(plan).await?;
        Ok(id)
    }

    /// Makes the recreate permanent: removes the parked placeholder (or, from an older
    /// cutover, the renamed old container; volumes stay) and the keep tag. Returns false when
    /// the old image was already gone (someone removed it; the fast rollback was impossible).
    pub async fn finalize_recreate(&self, plan: &RecreatePlan) -> Result<bool> {
        if let Some(old) = self.try_inspect(&plan.old_id).await?
            && name_of(&old) == plan.name
        {
            return Err(DockerError::Invalid(format!(
                "refusing to finalize: the old container still holds the name {}",
                plan.name
            )));
        }
        self.remove(&plan.old_id, false).await?;
        if let Some(p) = self.parked(plan).await? {
            // The placeholder mounts nothing of the user's: `v` removes only an anonymous volume
            // the engine made for the image's VOLUME (a placeholder of an older cutover has one).
            self.remove(p.id.as_deref().unwrap_or_default(), true)
                .await?;
        }
        let present = self.old_image_ref(plan).await?.is_some();
        self.release_old_image(plan).await?;
        Ok(present)
    }

    async fn replacement_of(
        &self,
        plan: &RecreatePlan,
    ) -> Result<Option<bollard::models::ContainerInspectResponse>> {
        Ok(self
            .try_inspect(&plan.name)
            .await?
            .filter(|c| is_replacement(c, plan)))
    }

    /// The plan's env with masked secrets filled in from the old container.
    async fn unmask_env(&self, plan: &RecreatePlan) -> Result<Vec<String>> {
        let old = self.inspect(&plan.old_id).await?;
        let old_env = old.config.and_then(|c| c.env).unwrap_or_default();
        let env = plan.create.env.clone().unwrap_or_default();
        env.into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, "***")) => old_env
                    .iter()
                    .find(|o| o.split_once('=').map(|(ok, _)| ok) == Some(k))
                    .cloned()
                    .ok_or_else(|| {
                        DockerError::Invalid(format!(
                            "the old container no longer has {k} in its env"
                        ))
                    }),
                _ => Ok(kv),
            })
            .collect()
    }
}

/// A container of the service that is the new server: on the target image, or holding the
/// service's container name on another image than the old one. (Only these are removed on
/// undo: the service's labels alone may be shared by a stranger's container.)
fn is_new(plan: &RecreatePlan, name: &str, image_id: &str) -> bool {
    let not_old = plan.old_image_id.is_empty() || image_id != plan.old_image_id;
    (!plan.new_image_id.is_empty() && image_id == plan.new_image_id)
        || (name == plan.name && not_old)
}

fn running(c: &Option<bollard::models::ContainerInspectResponse>) -> bool {
    c.as_ref()
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.running)
        .unwrap_or(false)
}

pub(super) fn name_of(c: &bollard::models::ContainerInspectResponse) -> String {
    c.name
        .clone()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

fn is_replacement(c: &bollard::models::ContainerInspectResponse, plan: &RecreatePlan) -> bool {
    c.id.as_deref() != Some(plan.old_id.as_str())
        && c.config
            .as_ref()
            .and_then(|cfg| cfg.labels.as_ref())
            .and_then(|l| l.get(labels::CUTOVER_REPLACES))
            == Some(&plan.old_id)
}
