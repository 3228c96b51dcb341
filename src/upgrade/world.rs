//! Resume's world check for the pgvector plan: before a stopped or crashed run continues, the
//! containers, images and compose file must still be what the journal says they are. Someone may
//! have run `docker compose up -d`, removed the parked old container, or restored the compose
//! file by hand at 3 a.m.; continuing on top of that would act on the wrong objects. Each
//! function names the first difference and how to get out (the steps' `check_world` call them).
//!
//! Invariant: these only look; nothing here changes the world.

use anyhow::Context;

use super::env::UpgradeEnv;
use super::steps::versions::short;
use crate::adapters::compose;
use crate::engine::{StepContext, StepError, StepState};
use crate::upgrade::outputs::{Discovery, EditOutput, RecreateOutput};

/// Until the recreate began: postgres and the writers are the very containers discovered.
pub async fn as_discovered(env: &UpgradeEnv, cx: &StepContext) -> Result<(), StepError> {
    let Some(d) = cx.output::<Discovery>() else {
        return Ok(());
    };
    let docker = env.docker().await?;
    if cx
        .output_of::<RecreateOutput>("recreate-postgres")
        .is_none()
    {
        let now = env
            .service_container(&env.postgres_service)
            .await?
            .ok_or_else(|| {
                StepError::new(format!(
                    "no container of service {} any more (journal: {} {})",
                    env.postgres_service,
                    d.postgres.container,
                    short(&d.postgres.id)
                ))
            })?;
        let c = docker.inspect(&now).await.context("inspecting postgres")?;
        let id = c.id.clone().unwrap_or_default();
        let image = c.config.and_then(|c| c.image).unwrap_or_default();
        if id != d.postgres.id || image != d.postgres.image {
            return Err(StepError::new(format!(
                "postgres is container {} on {image}; the journal has {} on {}",
                short(&id),
                short(&d.postgres.id),
                d.postgres.image
            )));
        }
    }
    for w in &d.writers {
        if docker
            .try_inspect(&w.id)
            .await
            .context("inspecting a writer")?
            .is_none()
        {
            return Err(StepError::new(format!(
                "writer {} ({}) no longer exists (recreated or removed since the journal saw it)",
                w.container,
                short(&w.id)
            )));
        }
    }
    Ok(())
}

/// After the recreate began: the parked old container still exists, and the service's name is
/// held by the old container or by cutover's replacement on the target image.
pub async fn as_recreated(env: &UpgradeEnv, cx: &StepContext) -> Result<(), StepError> {
    let Some(out) = cx.output::<RecreateOutput>() else {
        return Ok(());
    };
    let plan = &out.plan;
    let docker = env.docker().await?;
    let state = docker
        .recreate_state(plan)
        .await
        .context("observing the recreate")?;
    if !state.restorable {
        return Err(StepError::new(format!(
            "the old postgres container {} ({}) no longer exists and its image is gone; the fast \
             rollback is impossible: `cutover rollback --disaster --yes` restores the backup",
            plan.old_kept_name,
            short(&plan.old_id)
        )));
    }
    if let Some(c) = docker
        .try_inspect(&plan.name)
        .await
        .context("inspecting postgres")?
    {
        let id = c.id.clone().unwrap_or_default();
        let image = c.config.and_then(|c| c.image).unwrap_or_default();
        let ours = state.new_id.as_deref() == Some(id.as_str())
            || state.restored_id.as_deref() == Some(id.as_str());
        if id != plan.old_id && !ours {
            return Err(StepError::new(format!(
                "{} is now container {} on {image}, which cutover did not create",
                plan.name,
                short(&id)
            )));
        }
        if state.new_id.as_deref() == Some(id.as_str()) && image != plan.new_image {
            return Err(StepError::new(format!(
                "{} runs {image}; the journal has {}",
                plan.name, plan.new_image
            )));
        }
    }
    Ok(())
}

/// Once the edit finished: the compose file still names the target image for postgres.
pub async fn as_edited(_env: &UpgradeEnv, cx: &StepContext) -> Result<(), StepError> {
    let (Some(out), Some(StepState::Done)) = (cx.output::<EditOutput>(), cx.own_state()) else {
        return Ok(());
    };
    // The file the edit changed (an override when that is where postgres's image is set).
    let file = out.backup.original.clone();
    let project = tokio::task::spawn_blocking(move || compose::read_project(&file))
        .await
        .context("read task")?
        .with_context(|| format!("reading {}", out.backup.original.display()))?;
    let image = project
        .service(&out.edit.postgres_service)
        .and_then(|s| s.image.clone())
        .unwrap_or_default();
    if image != out.edit.postgres_image {
        return Err(StepError::new(format!(
            "{} gives {} the image {image:?}; the edit journaled {} (restored or edited by hand?)",
            out.backup.original.display(),
            out.edit.postgres_service,
            out.edit.postgres_image
        )));
    }
    Ok(())
}
