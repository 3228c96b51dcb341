//! Errors of the PostgreSQL adapter. Messages name the server (host:port, user, database: never
//! the password), what was being done, and the fix where there is one.
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "PostgreSQL at {target} refused the login ({}); check the credentials: cutover uses \
         db_password (cutover.toml or CUTOVER_DB_PASSWORD) when it is set, else the container's \
         POSTGRES_PASSWORD, with its POSTGRES_USER and POSTGRES_DB",
        server_message(.source)
    )]
    Auth {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(
        "PostgreSQL at {target} did not accept a connection within {waited:?} ({attempts} attempts); last error: {last_error}"
    )]
    NotReady {
        target: String,
        waited: Duration,
        attempts: u32,
        last_error: String,
    },
    #[error("{what} failed: {source}")]
    Query {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot read the PostgreSQL major version from {what} {found:?}")]
    BadVersion { what: &'static str, found: String },
    #[error(
        "the data directory was initialised by PostgreSQL {data_dir} but the target image {image} runs PostgreSQL {image_major}: a major-version upgrade needs pg_upgrade or a dump and restore, which this upgrade does not do. Refused before anything was stopped; pick an image built on PostgreSQL {data_dir}"
    )]
    MajorMismatch {
        data_dir: super::PgMajor,
        image_major: super::PgMajor,
        image: String,
    },
    #[error(
        "extension {name} is not available on this server; install its package in the image (for vector: use a pgvector image)"
    )]
    ExtensionUnavailable { name: String },
}

impl PgError {
    pub(crate) fn query(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
        let what = what.into();
        move |source| PgError::Query { what, source }
    }

    /// The SQLSTATE of the server error behind this one, if any ("42P07", ...).
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Connect { source, .. }
            | PgError::Auth { source, .. }
            | PgError::Query { source, .. } => source.code().map(|c| c.code()),
            _ => None,
        }
    }
}

/// The server's own words ("password authentication failed for user ...") rather than the
/// driver's bare "db error".
fn server_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}
