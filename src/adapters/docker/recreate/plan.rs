//! Building a `RecreatePlan` from the old container, its image and the new image. The rule for
//! every setting that an image can default (env entries, cmd, entrypoint, user, working dir,
//! stop signal, healthcheck, labels): carry it only when the container's value differs from the
//! OLD image's default, so the new image's defaults apply where the old container had not
//! overridden anything (e.g. PATH or PG_VERSION must not leak from the old image).

use std::collections::{HashMap, HashSet};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, NetworkingConfig,
};
use serde::{Deserialize, Serialize};

use super::super::connect::DockerClient;
use super::super::error::{DockerError, Result};
use super::super::image::ImageFacts;
use super::super::labels;
use crate::adapters::docker::error::is_secret_name;

/// Everything needed to replace one container, serializable for the journal (no secrets).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecreatePlan {
    pub old_id: String,
    /// The service's container name, which the new container takes over.
    pub name: String,
    /// Where the old container is parked until finalize: `<name>-cutover-old-<short id>`.
    pub old_kept_name: String,
    pub old_image: String,
    pub new_image: String,
    pub new_image_id: String,
    pub old_was_running: bool,
    /// The create body, env secrets masked as `NAME=***`.
    pub create: ContainerCreateBody,
    /// Networks beyond the first, connected after create (API 1.41 allows one at create).
    pub extra_networks: HashMap<String, EndpointSettings>,
    /// The old container exactly as it was (Compose's labels, restart policy, mounts, env with
    /// secrets masked), so the fast rollback can re-create it from the journal alone when the
    /// parked copy is gone. None in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_config: Option<ContainerCreateBody>,
    #[serde(default)]
    pub old_image_id: String,
    /// A tag on the old image (`cutover-keep/<project>:<run>`) so `docker image prune -a`
    /// cannot remove what the fast rollback needs; `cutover finalize` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_tag: Option<String>,
    /// Named volumes the old container mounts: no second server may run on them.
    #[serde(default)]
    pub data_volumes: Vec<String>,
}

impl DockerClient {
    /// Plans replacing `old` (name or id) with a container on `new_image`, which must be local.
    pub async fn plan_recreate(&self, old: &str, new_image: &str) -> Result<RecreatePlan> {
        let c = self.inspect(old).await?;
        let old_image_id = c.image.clone().unwrap_or_default();
        let old_image = self
            .try_inspect_image(&old_image_id)
            .await?
            .unwrap_or_default();
        let new = self.inspect_image(new_image).await.map_err(|e| match e {
            DockerError::NotFound { .. } => DockerError::ImageUnavailable {
                image: new_image.to_string(),
                reason: "it must be present locally before planning the recreate".into(),
            },
            other => other,
        })?;
        build_plan(&c, &old_image, new_image, &new.id)
    }
}

/// The pure planning rule (see the module docs).
pub fn build_plan(
    c: &ContainerInspectResponse,
    old_image: &ImageFacts,
    new_image: &str,
    new_image_id: &str,
) -> Result<RecreatePlan> {
    let old_id = c.id.clone().unwrap_or_default();
    let name = c
        .name
        .clone()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let cfg = c
        .config
        .clone()
        .ok_or_else(|| DockerError::Invalid(format!("container {name} has no config")))?;
    let short = &old_id[..old_id.len().min(12)];
    let differs = |v: &Option<String>, d: &Option<String>| {
        v.as_ref()
            .filter(|s| !s.is_empty())
            .filter(|s| Some(*s) != d.as_ref())
            .cloned()
    };

    let image_env: HashSet<&String> = old_image.env.iter().collect();
    let env: Vec<String> = cfg
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| !image_env.contains(kv))
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
            _ => kv,
        })
        .collect();

    let mut labels_out: HashMap<String, String> = cfg
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| old_image.labels.get(k) != Some(v))
        .collect();
    // compose v2 records the image id it created the container from.
    if labels_out.contains_key(labels::IMAGE) {
        labels_out.insert(labels::IMAGE.into(), new_image_id.to_string());
    }
    labels_out.insert(labels::CUTOVER_REPLACES.into(), old_id.clone());

    let mut host = c.host_config.clone().unwrap_or_default();
    add_unlisted_volumes(c, &mut host);

    let (create_net, extra_networks) = networks_of(c, short);
    let healthcheck = cfg
        .healthcheck
        .clone()
        .filter(|h| Some(h) != old_image.healthcheck.as_ref());

    let old_config = exact_body(c, &cfg, &create_net, short);
    let create = ContainerCreateBody {
        image: Some(new_image.to_string()),
        // Docker defaults the hostname to the short id; carry only a chosen one.
        hostname: cfg.hostname.clone().filter(|h| !h.is_empty() && h != short),
        domainname: cfg.domainname.clone().filter(|d| !d.is_empty()),
        user: differs(&cfg.user, &old_image.user),
        working_dir: differs(&cfg.working_dir, &old_image.working_dir),
        env: Some(env),
        cmd: cfg
            .cmd
            .clone()
            .filter(|v| Some(v) != old_image.cmd.as_ref()),
        entrypoint: cfg
            .entrypoint
            .clone()
            .filter(|v| Some(v) != old_image.entrypoint.as_ref()),
        exposed_ports: cfg.exposed_ports.clone(),
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        stdin_once: cfg.stdin_once,
        labels: Some(labels_out),
        stop_signal: differs(&cfg.stop_signal, &old_image.stop_signal),
        stop_timeout: cfg.stop_timeout,
        healthcheck,
        host_config: Some(host),
        networking_config: create_net,
        ..Default::default()
    };
    Ok(RecreatePlan {
        old_id: old_id.clone(),
        old_kept_name: format!("{name}-cutover-old-{short}"),
        name,
        old_image: cfg.image.unwrap_or_default(),
        new_image: new_image.to_string(),
        new_image_id: new_image_id.to_string(),
        old_was_running: c.state.as_ref().and_then(|s| s.running).unwrap_or(false),
        create,
        extra_networks,
        old_config: Some(old_config),
        old_image_id: c.image.clone().unwrap_or_default(),
        keep_tag: None,
        data_volumes: c
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| m.name.clone())
            .collect(),
    })
}

/// The old container's own create body, nothing filtered (it goes back on the same image):
/// every label (Compose's config hash among them, so Compose sees its own container again),
/// the restart policy, mounts (anonymous volumes bound by name), the first network; secret env
/// values masked for the journal.
fn exact_body(
    c: &ContainerInspectResponse,
    cfg: &bollard::models::ContainerConfig,
    net: &Option<NetworkingConfig>,
    short: &str,
) -> ContainerCreateBody {
    let mut host = c.host_config.clone().unwrap_or_default();
    add_unlisted_volumes(c, &mut host);
    let env = cfg
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
            _ => kv,
        })
        .collect();
    ContainerCreateBody {
        image: cfg.image.clone(),
        hostname: cfg.hostname.clone().filter(|h| !h.is_empty() && h != short),
        domainname: cfg.domainname.clone().filter(|d| !d.is_empty()),
        user: cfg.user.clone().filter(|s| !s.is_empty()),
        working_dir: cfg.working_dir.clone().filter(|s| !s.is_empty()),
        env: Some(env),
        cmd: cfg.cmd.clone(),
        entrypoint: cfg.entrypoint.clone(),
        exposed_ports: cfg.exposed_ports.clone(),
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        stdin_once: cfg.stdin_once,
        labels: cfg.labels.clone(),
        stop_signal: cfg.stop_signal.clone().filter(|s| !s.is_empty()),
        stop_timeout: cfg.stop_timeout,
        healthcheck: cfg.healthcheck.clone(),
        volumes: cfg.volumes.clone(),
        host_config: Some(host),
        networking_config: net.clone(),
        ..Default::default()
    }
}

/// Anonymous volumes (image VOLUME without an explicit mount) would be replaced by fresh empty
/// ones on a new container: bind them by name so the data directory carries over.
fn add_unlisted_volumes(c: &ContainerInspectResponse, host: &mut bollard::models::HostConfig) {
    let mut covered: HashSet<String> = HashSet::new();
    for b in host.binds.iter().flatten() {
        if let Some(dest) = b.split(':').nth(1) {
            covered.insert(dest.to_string());
        }
    }
    for m in host.mounts.iter().flatten() {
        if let Some(t) = &m.target {
            covered.insert(t.clone());
        }
    }
    let mut binds = host.binds.clone().unwrap_or_default();
    for mp in c.mounts.iter().flatten() {
        let (Some(dest), Some(name)) = (&mp.destination, &mp.name) else {
            continue;
        };
        let is_volume = mp.typ.as_deref() == Some("volume");
        if is_volume && !covered.contains(dest) {
            let ro = if mp.rw == Some(false) { ":ro" } else { "" };
            binds.push(format!("{name}:{dest}{ro}"));
        }
    }
    if !binds.is_empty() {
        host.binds = Some(binds);
    }
}

/// The endpoint for create (the network-mode one) and the rest, keeping aliases, static IPs,
/// links and driver options; the engine-added short-id alias is dropped (it names the old one).
fn networks_of(
    c: &ContainerInspectResponse,
    short: &str,
) -> (Option<NetworkingConfig>, HashMap<String, EndpointSettings>) {
    let nets = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default();
    let mode = c
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let mut rest: HashMap<String, EndpointSettings> = HashMap::new();
    let mut first: Option<(String, EndpointSettings)> = None;
    let mut names: Vec<&String> = nets.keys().collect();
    names.sort_by_key(|n| (**n != mode, (*n).clone()));
    for n in names {
        let ep = &nets[n];
        let settings = EndpointSettings {
            aliases: ep
                .aliases
                .clone()
                .map(|a| a.into_iter().filter(|x| x != short).collect()),
            ipam_config: ep.ipam_config.clone(),
            links: ep.links.clone(),
            driver_opts: ep.driver_opts.clone(),
            ..Default::default()
        };
        if first.is_none() {
            first = Some((n.clone(), settings));
        } else {
            rest.insert(n.clone(), settings);
        }
    }
    let create = first.map(|(n, s)| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(n, s)])),
    });
    (create, rest)
}
