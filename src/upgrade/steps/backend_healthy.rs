//! Check `backend-healthy`: the backend answers `/health` with `"status":"healthy"` (which
//! the backend gives only after a real query) at the address the engine reports. Application
//! downtime ends here. Then a last fingerprint: with the writers running, tables they write
//! have grown, which is reported as rows added since, not as a failure (`verify-data` already
//! proved equality while everything was still).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{earlier, meta, now};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::backend_health;
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::{BackupOutput, StopOutput};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthyOutput {
    pub url: Option<String>,
    pub healthy_at: Option<DateTime<Utc>>,
    pub app_downtime_ms: Option<i64>,
    /// `table: N rows added since the writers restarted`, per table that grew.
    pub rows_since: Vec<String>,
}

pub struct BackendHealthy {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for BackendHealthy {
    meta!(
        "backend-healthy",
        "Backend healthy again; rows added since",
        Check
    );

    fn touches(&self) -> Vec<String> {
        let b = self
            .env
            .facts
            .writers
            .iter()
            .find(|w| w.service == self.env.backend_service)
            .map_or("no backend in the compose file".to_string(), |w| {
                let c = &self.env.backend_health;
                format!(
                    "GET {} on {} port {} (from {})",
                    c.path, w.container, c.port, c.source
                )
            });
        vec![b]
    }

    fn timeout(&self) -> Duration {
        self.env.ready_timeout + Duration::from_secs(60)
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let s: StopOutput = earlier(cx, "stop-writers")?;
        let mut out = HealthyOutput {
            url: None,
            healthy_at: None,
            app_downtime_ms: None,
            rows_since: Vec::new(),
        };
        let skipped = match &s.backend {
            None => Some("no backend container"),
            Some(b) if !s.stopped.contains(b) => Some("the backend was not running before"),
            Some(_) => None,
        };
        if let (None, Some(backend)) = (skipped, &s.backend) {
            let url = backend_health::wait_healthy(&self.env, backend)
                .await?
                .map_err(|e| {
                    StepError::new(format!(
                        "the backend is not healthy after {}s: {e}",
                        self.env.ready_timeout.as_secs()
                    ))
                })?;
            let at = now();
            out.app_downtime_ms = Some((at - s.stop_issued_at).num_milliseconds());
            out.healthy_at = Some(at);
            cx.log(format!(
                "{url} healthy; application downtime {:.1}s",
                out.app_downtime_ms.unwrap_or(0) as f64 / 1000.0
            ));
            out.url = Some(url);
        }
        let b: BackupOutput = earlier(cx, "backup")?;
        // Deferred: the state at the stop is read after the window; `verify-fingerprints`
        // reports the rows added since then.
        if !b.deferred {
            out.rows_since =
                super::verify_fingerprints::rows_since(&self.env, &b.fingerprint_before).await?;
        }
        for r in &out.rows_since {
            cx.log(r.clone());
        }
        cx.save_output(&out)?;
        Ok(match skipped {
            Some(why) => Finish::Skipped(format!("{why}: no application health to wait for")),
            None => Finish::Ok,
        })
    }
}
