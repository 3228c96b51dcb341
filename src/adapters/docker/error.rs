//! The Docker adapter's error type. Each variant says what went wrong and what to do about it;
//! callers match on `NotFound`, `ImageUnavailable` and `Timeout`, the rest are reported as is.

use std::time::Duration;

/// Errors from the Docker adapter.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "cannot reach the Docker engine ({detail}). Is the daemon running, and does DOCKER_HOST \
         (or /var/run/docker.sock) point at it with permission to use it?"
    )]
    Connect { detail: String },
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine stopped answering in the middle of `action` (socket closed, daemon gone):
    /// whether the action took effect is unknown.
    #[error(
        "lost the connection to the Docker engine while trying to {action} ({source}); whether \
         that took effect is uncertain. Once the engine answers again, `cutover status` says \
         where the run stands and `cutover rollback --yes` restores the stack"
    )]
    Lost {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    #[error(
        "image {image} is not present locally and cannot be pulled ({reason}). Load it on this \
         machine (`docker load -i <file>` or `docker pull {image}` where a registry is reachable), \
         or use pull policy `missing`/`always` if a registry is reachable"
    )]
    ImageUnavailable { image: String, reason: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = DockerError> = std::result::Result<T, E>;

impl DockerError {
    /// Wraps a bollard error with the action that failed, turning a 404 into `NotFound`.
    /// A transport failure (no answer at all) becomes `Lost`, so the operator reads "the engine
    /// went away" rather than a bare I/O error.
    pub(crate) fn api(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        let action = action.into();
        match source {
            B::IOError { .. }
            | B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }
            | B::SocketNotFoundError(_)
            | B::RequestTimeoutError => DockerError::Lost { action, source },
            source => DockerError::Api { action, source },
        }
    }

    /// True when the engine answered 404 (no such container, image, volume, network, exec).
    pub fn is_not_found(&self) -> bool {
        match self {
            DockerError::NotFound { .. } => true,
            DockerError::Api { source, .. } => status_of(source) == Some(404),
            _ => false,
        }
    }
}

/// HTTP status the engine answered with, when the error is a server response.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Env var names whose values must never be shown (one definition: `crate::secrets`).
pub use crate::secrets::is_secret_name;

/// Renders `NAME=value` entries with secret values masked, for logs and error messages.
pub fn redact_env(env: &[String]) -> Vec<String> {
    env.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
            _ => kv.clone(),
        })
        .collect()
}
