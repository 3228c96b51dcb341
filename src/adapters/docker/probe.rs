//! Throwaway containers for looking inside an image: created, started (running `sleep`, never
//! the image's entrypoint), used through `exec`, and removed, also when the work in between
//! fails. Pre-flight checks use them to ask the target image itself what it offers (its
//! PostgreSQL version, locales, libraries, users) before anything of the stack is touched.
//!
//! Invariants:
//! - No volume: every path the image declares as `VOLUME` gets a tmpfs instead, so the engine
//!   creates no anonymous volume, and the container is removed with `v=true` all the same.
//! - A scratch tmpfs at [`SCRATCH`] for measurements that need files (the image's own layer
//!   may sit on a slow storage driver such as fuse-overlayfs, which no data directory uses).
//! - No network (`none`), no published port, runs as root (to read every file and resolve
//!   every user); the entrypoint never runs, so nothing is initialised or chowned.
//! - [`ProbeOptions`] widen this for one job, the physical backup: one named volume mounted
//!   at a path the image does not declare, and another container's network namespace (so a
//!   client inside reaches that container's server on 127.0.0.1, as a local client would).
//! - Always removed: [`DockerClient::with_probe`] removes it after the closure, whatever the
//!   closure returned; a probe left by a killed process removes itself (`AutoRemove`) when its
//!   `sleep` ends.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::connect::DockerClient;
use super::error::{DockerError, Result, status_of};
use super::exec::{ExecOutput, ExecSpec};
use super::image::short_rand;
use super::labels;

/// How long a forgotten probe lives before it removes itself.
const PROBE_LIFETIME_SECS: u32 = 900;
/// The same for a probe that runs a copy, a backup or a restore: those scale with the
/// database (a 200 GB base backup outlasts 15 minutes, and the probe's end would kill it).
/// Such a probe is removed when its work ends, and a leftover is found by its labels.
const LONG_PROBE_LIFETIME_SECS: u32 = 7 * 24 * 3600;
/// A tmpfs in every probe, for scratch files.
pub const SCRATCH: &str = "/cutover-scratch";
/// Label on every probe container, so an operator can find (and a test can count) them.
pub const PROBE_LABEL: &str = "io.cutover.probe";

/// What a probe may have beyond the defaults (none, no volume).
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// `(volume name, mount path)`: a named volume, read-write.
    pub volume: Option<(String, String)>,
    /// More `(volume name or host path, mount path)`, read-write.
    pub more_volumes: Vec<(String, String)>,
    /// `container:<name>` to share that container's network namespace; default `none`.
    pub network_mode: Option<String>,
    /// Extra labels (e.g. the project's, so its teardown finds the probe).
    pub labels: HashMap<String, String>,
    /// Its work scales with the database: live a week, not 15 minutes.
    pub long_running: bool,
}

/// A running throwaway container of one image.
pub struct Probe<'a> {
    docker: &'a DockerClient,
    pub name: String,
    pub image: String,
}

impl Probe<'_> {
    /// Runs `script` with `sh -c` and collects its output (small outputs only).
    pub async fn sh(&self, script: &str) -> Result<ExecOutput> {
        self.docker
            .exec_output(&self.name, &ExecSpec::new(["sh", "-c", script]))
            .await
    }

    /// Runs `spec` (its own user and environment) and collects its output.
    pub async fn exec(&self, spec: &ExecSpec) -> Result<ExecOutput> {
        self.docker.exec_output(&self.name, spec).await
    }

    /// Like [`Probe::sh`], feeding `stdin` to the script.
    pub async fn sh_with_stdin(&self, script: &str, stdin: Vec<u8>) -> Result<ExecOutput> {
        self.docker
            .exec_output_with_stdin(
                &self.name,
                &ExecSpec::new(["sh", "-c", script]),
                Some(Box::new(std::io::Cursor::new(stdin))),
            )
            .await
    }

    /// Runs `script` and returns its stdout, or an error naming the image and its stderr.
    pub async fn sh_ok(&self, what: &str, script: &str) -> Result<String> {
        let out = self.sh(script).await?;
        if out.exit_code != 0 {
            return Err(DockerError::Invalid(format!(
                "{what} in a throwaway container of {} exited with {}: {}",
                self.image,
                out.exit_code,
                out.stderr_str().trim()
            )));
        }
        Ok(out.stdout_str())
    }
}

impl DockerClient {
    /// Runs `work` against a throwaway container of `image` (which must be local) and removes
    /// the container afterwards, whether `work` succeeded or not. A failure to remove is
    /// reported only when `work` itself succeeded (its error is the one that matters).
    pub async fn with_probe<T>(
        &self,
        image: &str,
        work: impl AsyncFnOnce(&Probe<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_probe_opts(image, &ProbeOptions::default(), work)
            .await
    }

    /// [`DockerClient::with_probe`] with a volume and a network mode ([`ProbeOptions`]).
    pub async fn with_probe_opts<T>(
        &self,
        image: &str,
        opts: &ProbeOptions,
        work: impl AsyncFnOnce(&Probe<'_>) -> Result<T>,
    ) -> Result<T> {
        let probe = self.start_probe(image, opts).await?;
        let result = work(&probe).await;
        let removed = self.remove_probe(&probe.name).await;
        match (result, removed) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(e)) | (Err(e), _) => Err(e),
        }
    }

    async fn start_probe(&self, image: &str, opts: &ProbeOptions) -> Result<Probe<'_>> {
        let facts = self.inspect_image(image).await?;
        let name = format!("cutover-probe-{}", short_rand());
        let mut tmpfs: HashMap<String, String> = facts
            .volumes
            .iter()
            .map(|v| (v.clone(), String::new()))
            .collect();
        tmpfs.insert(SCRATCH.to_string(), "size=64m".to_string());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["sleep".into()]),
            cmd: Some(vec![
                if opts.long_running {
                    LONG_PROBE_LIFETIME_SECS
                } else {
                    PROBE_LIFETIME_SECS
                }
                .to_string(),
            ]),
            user: Some("0:0".into()),
            // The image's own ENV stays; LC_ALL is set per command where a locale matters.
            labels: Some({
                let mut l = opts.labels.clone();
                l.insert(PROBE_LABEL.to_string(), "true".to_string());
                l.insert(labels::CUTOVER_CREATED.to_string(), "true".to_string());
                l
            }),
            host_config: Some(HostConfig {
                network_mode: Some(opts.network_mode.clone().unwrap_or_else(|| "none".into())),
                binds: Some(
                    opts.volume
                        .iter()
                        .chain(&opts.more_volumes)
                        .map(|(v, path)| format!("{v}:{path}"))
                        .collect(),
                ),
                tmpfs: Some(tmpfs),
                auto_remove: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| DockerError::api(format!("create a throwaway container of {image}"), e))?;
        if let Err(e) = self.start(&name).await {
            let _ = self.remove_probe(&name).await;
            return Err(e);
        }
        Ok(Probe {
            docker: self,
            name,
            image: image.to_string(),
        })
    }

    /// Force-removes a probe and its anonymous volumes; absent or already being removed (its
    /// `AutoRemove` raced us) is success.
    async fn remove_probe(&self, name: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(DockerError::api(
                format!("remove throwaway container {name}"),
                e,
            )),
        }
    }
}
