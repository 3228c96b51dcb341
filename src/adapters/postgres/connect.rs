//! Connecting, and the readiness probe: retry a real connection (login and all) until it works
//! or a deadline passes. A log line saying "ready to accept connections" is not enough: the
//! official image's entrypoint prints it for its temporary init-time server too.
//!
//! Failures that waiting cannot fix (wrong password, unknown user) end the wait at once.
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{Client, NoTls, error::SqlState};

use super::{PgCredentials, PgError};

/// Where and as whom to connect. The caller resolves `host`/`port` from the engine (a published
/// port, or the container's address on its network).
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub credentials: PgCredentials,
    /// Shown in `pg_stat_activity.application_name`, so our own sessions are recognisable.
    pub application_name: String,
}

impl PgTarget {
    pub fn new(host: impl Into<String>, port: u16, credentials: PgCredentials) -> Self {
        PgTarget {
            host: host.into(),
            port,
            credentials,
            application_name: "cutover".into(),
        }
    }

    /// `user@host:port/db`, for messages (no password).
    pub fn describe(&self) -> String {
        format!(
            "{}@{}:{}/{}",
            self.credentials.user, self.host, self.port, self.credentials.database
        )
    }

    fn config(&self, timeout: Duration) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .user(&self.credentials.user)
            .dbname(&self.credentials.database)
            .application_name(&self.application_name)
            .connect_timeout(timeout);
        if let Some(pw) = &self.credentials.password {
            cfg.password(pw);
        }
        cfg
    }
}

/// One connection attempt (10 s timeout). The connection's driver runs as a tokio task that
/// ends when the returned client is dropped.
pub async fn connect(target: &PgTarget) -> Result<Client, PgError> {
    connect_once(target, Duration::from_secs(10)).await
}

async fn connect_once(target: &PgTarget, timeout: Duration) -> Result<Client, PgError> {
    match target.config(timeout).connect(NoTls).await {
        Ok((client, connection)) => {
            let label = target.describe();
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(target = %label, error = %e, "postgres connection ended with an error");
                }
            });
            Ok(client)
        }
        Err(source) if is_permanent(&source) => Err(PgError::Auth {
            target: target.describe(),
            source,
        }),
        Err(source) => Err(PgError::Connect {
            target: target.describe(),
            source,
        }),
    }
}

/// Login problems that no amount of waiting fixes. A missing database (3D000) is not among
/// them: during first start the entrypoint creates POSTGRES_DB after the server is up.
fn is_permanent(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    })
}

/// Retries [`connect`] every `retry_every` until it succeeds or `within` has passed.
pub async fn connect_until(
    target: &PgTarget,
    within: Duration,
    retry_every: Duration,
) -> Result<Client, PgError> {
    let start = Instant::now();
    let deadline = start + within;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeout = remaining.clamp(Duration::from_millis(200), Duration::from_secs(5));
        let last_error = match connect_once(target, timeout).await {
            Ok(client) => {
                tracing::debug!(target = %target.describe(), attempts, "postgres accepted a connection");
                return Ok(client);
            }
            Err(e @ PgError::Auth { .. }) => return Err(e),
            Err(e) => e,
        };
        if Instant::now() + retry_every >= deadline {
            return Err(PgError::NotReady {
                target: target.describe(),
                waited: start.elapsed(),
                attempts,
                last_error: error_chain(&last_error),
            });
        }
        tokio::time::sleep(retry_every).await;
    }
}

/// The error and its causes on one line ("cannot connect ...: error connecting ...: refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
