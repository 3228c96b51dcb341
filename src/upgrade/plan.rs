//! Building the pgvector plan: read the compose file (no Docker), choose qdrant's host ports,
//! and line the steps up in the order the issue gives.

use std::sync::Arc;

use anyhow::Result;

use super::env::UpgradeEnv;
use super::facts;
use super::steps::*;
use crate::adapters::compose::{PortMapping, choose_qdrant_ports};
use crate::config::{Config, parse_qdrant_ports};
use crate::engine::{Plan, Step};

pub const PLAN_NAME: &str = "pgvector";

/// The plan for `config`; fails (naming the file) when the compose file cannot be read or has
/// no postgres service.
pub fn build(config: &Config) -> Result<Plan> {
    let writers = {
        let mut v = vec![
            config.backend_service.clone(),
            config.worker_service.clone(),
        ];
        v.extend(config.extra_writer_services.iter().cloned());
        v
    };
    let facts = facts::read(config, &writers)?;
    let ports = qdrant_ports(config, &facts)?;
    let env = Arc::new(UpgradeEnv::new(config, facts, ports));
    Plan::new(PLAN_NAME, steps(env, config))
}

/// `auto`: Qdrant's usual ports if neither the file nor this machine uses them, else none.
fn qdrant_ports(config: &Config, f: &facts::StackFacts) -> Result<Vec<PortMapping>> {
    match parse_qdrant_ports(&config.qdrant_ports).map_err(anyhow::Error::msg)? {
        Some(explicit) => Ok(explicit),
        None => {
            let mut taken = f.published_ports.clone();
            taken.extend(facts::busy_host_ports(&[6333, 6334]));
            Ok(choose_qdrant_ports(&taken))
        }
    }
}

/// What the cluster needs, what the target image offers, and the checks comparing the two:
/// all before anything is stopped, so a refusal leaves the stack as it was.
fn preflight_checks(env: &Arc<UpgradeEnv>) -> Vec<Arc<dyn Step>> {
    let e = || env.clone();
    vec![
        Arc::new(cluster_facts::ClusterFactsStep { env: e() }),
        Arc::new(target_probe::TargetProbe { env: e() }),
        Arc::new(major_version::MajorVersion { env: e() }),
        Arc::new(locales::Locales { env: e() }),
        Arc::new(preload_libraries::PreloadLibraries { env: e() }),
        Arc::new(extensions_available::ExtensionsAvailable { env: e() }),
        Arc::new(data_ownership::DataOwnership { env: e() }),
        Arc::new(data_mount::DataMount { env: e() }),
        Arc::new(collation_preview::CollationPreviewStep { env: e() }),
    ]
}

fn steps(env: Arc<UpgradeEnv>, config: &Config) -> Vec<Arc<dyn Step>> {
    let e = || env.clone();
    let mut v: Vec<Arc<dyn Step>> = vec![
        Arc::new(engine::EngineReachable { env: e() }),
        Arc::new(discover::Discover { env: e() }),
        Arc::new(versions::ReadVersions { env: e() }),
        Arc::new(target_image::TargetImage { env: e() }),
    ];
    v.extend(preflight_checks(&env));
    v.extend::<[Arc<dyn Step>; 3]>([
        Arc::new(disk_space::DiskSpace {
            env: e(),
            run_base: config.run_dir.clone(),
        }),
        Arc::new(sessions::Sessions { env: e() }),
        Arc::new(rehearsal::RehearsalCheck {
            env: e(),
            dir: crate::upgrade::rehearse::rehearsals_dir(config),
            max_age_hours: config.rehearsal_max_age_hours,
            max_growth_pct: config.rehearsal_max_growth_pct,
        }),
    ]);
    for (id, title) in sign_off::ITEMS {
        v.push(Arc::new(sign_off::SignOffItem { id, title }));
    }
    v.extend::<[Arc<dyn Step>; 17]>([
        Arc::new(pull_images::PullImages { env: e() }),
        // The file names the new image from here on while the old container runs: nothing
        // runs `up` on postgres before recreate-postgres; the edit's undo restores the bytes.
        Arc::new(edit_compose::EditCompose { env: e() }),
        // Before the writers stop: a port conflict then costs no downtime.
        Arc::new(start_qdrant::StartQdrant { env: e() }),
        // The bulk of the backup while the application still serves: the window then pays
        // only for the WAL written since.
        Arc::new(base_backup::BaseBackup { env: e() }),
        Arc::new(stop_writers::StopWriters { env: e() }),
        Arc::new(backup::Backup { env: e() }),
        Arc::new(checkpoint::Checkpoint { env: e() }),
        Arc::new(recreate_postgres::RecreatePostgres { env: e() }),
        Arc::new(postgres_ready::PostgresReady { env: e() }),
        Arc::new(collation::Collation { env: e() }),
        Arc::new(vector_extension::VectorExtension { env: e() }),
        Arc::new(migrations::Migrations { env: e() }),
        Arc::new(verify_data::VerifyData { env: e() }),
        Arc::new(start_writers::StartWriters { env: e() }),
        Arc::new(backend_healthy::BackendHealthy { env: e() }),
        // The rows the window did not read, compared once the application is back.
        Arc::new(verify_fingerprints::VerifyFingerprints { env: e() }),
        // After the window: the dump made from the physical backup is not downtime.
        Arc::new(portable_dump::PortableDump { env: e() }),
    ]);
    v
}
