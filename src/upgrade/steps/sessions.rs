//! Check `sessions`: who is connected to the database now, each session named by the container
//! it comes from. Sessions from the writers are expected (they are stopped first); a session
//! from another container of the stack would keep writing after the backup, so it refuses
//! here, naming the container and the fix. Sessions from outside the stack are a warning.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;

use super::{earlier, meta};
use crate::adapters::postgres::{self, Session};
use crate::engine::{Finish, Step, StepContext, StepError};
use crate::upgrade::env::UpgradeEnv;
use crate::upgrade::outputs::Discovery;

/// Sessions grouped by who holds them.
#[derive(Debug, Default)]
pub struct Holders {
    /// Container name → session count, for the configured writers.
    pub writers: BTreeMap<String, usize>,
    /// Other containers of the stack.
    pub others: BTreeMap<String, usize>,
    /// Addresses that are no container of the stack (a host psql, another network).
    pub outside: BTreeMap<String, usize>,
}

impl Holders {
    pub fn classify(
        sessions: &[Session],
        book: &HashMap<IpAddr, String>,
        writer_containers: &[String],
    ) -> Self {
        let mut h = Holders::default();
        for s in sessions {
            let who = s.client_addr.and_then(|a| book.get(&a));
            match who {
                Some(c) if writer_containers.contains(c) => {
                    *h.writers.entry(c.clone()).or_default() += 1
                }
                Some(c) => *h.others.entry(c.clone()).or_default() += 1,
                None => {
                    let addr = s
                        .client_addr
                        .map_or("local socket".to_string(), |a| a.to_string());
                    *h.outside
                        .entry(format!("{addr} ({})", s.application_name))
                        .or_default() += 1;
                }
            }
        }
        h
    }

    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (kind, map) in [
            ("writer", &self.writers),
            ("other container", &self.others),
            ("outside the stack", &self.outside),
        ] {
            for (who, n) in map {
                v.push(format!("{n} session(s) from {who} [{kind}]"));
            }
        }
        v
    }
}

pub struct Sessions {
    pub env: Arc<UpgradeEnv>,
}

#[async_trait]
impl Step for Sessions {
    meta!(
        "sessions",
        "Live database sessions, mapped to containers",
        Check
    );

    fn touches(&self) -> Vec<String> {
        vec![format!(
            "{}: pg_stat_activity",
            self.env.facts.postgres.container
        )]
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        let d: Discovery = earlier(cx, "discover")?;
        let client = self.env.connect().await?;
        let sessions = postgres::list_sessions(&client)
            .await
            .context("listing sessions")?;
        let book = self.env.address_book().await?;
        let writers: Vec<String> = d.writers.iter().map(|w| w.container.clone()).collect();
        let h = Holders::classify(&sessions, &book, &writers);
        for line in h.lines() {
            cx.log(line);
        }
        if !h.others.is_empty() {
            let names: Vec<_> = h.others.keys().cloned().collect();
            return Err(StepError::new(format!(
                "{} hold(s) database sessions but is not a writer cutover stops, so it could write \
                 after the backup; add its service to extra_writer_services (cutover.toml) or stop it",
                names.join(", ")
            )));
        }
        if !h.outside.is_empty() {
            return Ok(Finish::Warning(format!(
                "sessions from outside the stack: {}; they must end before the backup (stop-writers \
                 waits for them)",
                h.outside.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Finish::Ok)
    }
}

/// Refuses when any client but cutover is connected, naming each holder by its container. Used
/// after the writers were stopped (after the dump, and right before postgres is stopped): a
/// writer that came back (a restart policy, a supervisor, a cron job) would write after the
/// backup, and those writes would be missing from it.
pub async fn refuse_late_clients(
    env: &UpgradeEnv,
    client: &tokio_postgres::Client,
    when: &str,
) -> Result<(), StepError> {
    let mut sessions = postgres::list_sessions(client)
        .await
        .context("listing sessions")?;
    // Our own read-only snapshot sessions (`crate::upgrade::held`).
    let ours = env.held.pids();
    sessions.retain(|s| !ours.contains(&s.pid));
    if sessions.is_empty() {
        return Ok(());
    }
    let book = env.address_book().await?;
    let h = Holders::classify(&sessions, &book, &[]);
    let mut who: Vec<String> = h.others.keys().cloned().collect();
    who.extend(h.outside.keys().cloned());
    Err(StepError {
        message: format!(
            "{} connected to the database {when}, after the writers were stopped, so it may have \
             written after the backup; find what started it again (a restart policy, a \
             supervisor, a cron job), keep it stopped, and run again",
            who.join(", ")
        ),
        causes: h.lines(),
    })
}
