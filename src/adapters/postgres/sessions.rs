//! Client sessions from `pg_stat_activity`: who is still connected, from which address (the
//! caller maps addresses to containers), doing what. Background workers and our own session
//! are left out.
use std::net::IpAddr;

use tokio_postgres::Client;

use super::PgError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: String,
    /// None for a Unix-socket connection.
    pub client_addr: Option<IpAddr>,
    pub client_port: Option<i32>,
    /// active, idle, idle in transaction, ...
    pub state: Option<String>,
    pub backend_start: Option<String>,
}

/// Client backends other than this connection's, oldest first.
///
/// Leaves out the postgres container's own healthcheck (`pg_isready` over the local socket):
/// a probe that sends no query, so it cannot write, and that under load was seen connected at
/// the `checkpoint` step's late-client check, which then refused the run at random.
pub async fn list_sessions(client: &Client) -> Result<Vec<Session>, PgError> {
    let rows = client
        .query(
            "SELECT pid, usename::text, datname::text, application_name, client_addr, client_port, \
                    state, backend_start::text \
             FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
               AND NOT (client_addr IS NULL AND application_name = 'pg_isready') \
             ORDER BY backend_start",
            &[],
        )
        .await
        .map_err(PgError::query("listing sessions from pg_stat_activity"))?;
    Ok(rows
        .into_iter()
        .map(|r| Session {
            pid: r.get(0),
            user: r.get(1),
            database: r.get(2),
            application_name: r.get::<_, Option<String>>(3).unwrap_or_default(),
            client_addr: r.get(4),
            client_port: r.get(5),
            state: r.get(6),
            backend_start: r.get(7),
        })
        .collect())
}

/// Asks the server to end session `pid`. Returns false when no such session exists (any more).
/// Refuses our own session.
pub async fn terminate_session(client: &Client, pid: i32) -> Result<bool, PgError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN $1 = pg_backend_pid() THEN false \
                         ELSE coalesce(pg_terminate_backend($1), false) END",
            &[&pid],
        )
        .await
        .map_err(PgError::query(format!("terminating session {pid}")))?;
    Ok(row.get(0))
}
