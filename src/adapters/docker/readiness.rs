//! Waiting until a container is ready, with a timeout. Conditions compose: `All` and `Any` over
//! the container's healthcheck, a log line seen since an instant, a TCP connect, an HTTP probe,
//! or any async probe (the postgres adapter supplies a SQL one), so "log line AND a real
//! connection" is `All(vec![LogLine{..}, Probe{..}])`.
//!
//! Invariants: a log-line condition, once seen, stays satisfied (a line cannot be unseen);
//! connection-like conditions must hold in the same round. A container that exits while we
//! wait fails fast with its exit code and last log lines rather than waiting out the timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::inspect::{Health, status_of_inspect};
use crate::adapters::http::HttpClient;

/// An async readiness check: `Ok(())` when ready, `Err(reason)` when not yet.
pub type ProbeFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A readiness condition.
#[derive(Clone)]
pub enum Readiness {
    /// The container's own healthcheck reports healthy.
    Healthy,
    /// A log line containing `pattern` appeared at or after `since`.
    LogLine {
        pattern: String,
        since: DateTime<Utc>,
    },
    /// A TCP connection to `addr` succeeds.
    Tcp(SocketAddr),
    /// GET `url` answers with a 2xx status (or exactly `status` when given).
    Http {
        url: String,
        status: Option<u16>,
    },
    /// Any async check.
    Probe {
        name: String,
        probe: ProbeFn,
    },
    All(Vec<Readiness>),
    Any(Vec<Readiness>),
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Readiness {
    /// A probe from an async closure.
    pub fn probe<F, Fut>(name: &str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Readiness::Probe {
            name: name.to_string(),
            probe: Arc::new(move || Box::pin(f())),
        }
    }

    /// Human description, e.g. `log "ready" AND tcp 172.18.0.2:5432`.
    pub fn describe(&self) -> String {
        match self {
            Readiness::Healthy => "healthcheck healthy".into(),
            Readiness::LogLine { pattern, .. } => format!("log line {pattern:?}"),
            Readiness::Tcp(a) => format!("tcp {a}"),
            Readiness::Http { url, .. } => format!("http {url}"),
            Readiness::Probe { name, .. } => format!("probe {name}"),
            Readiness::All(v) => join(v, " AND "),
            Readiness::Any(v) => join(v, " OR "),
        }
    }
}

fn join(v: &[Readiness], sep: &str) -> String {
    let parts: Vec<String> = v.iter().map(|r| format!("({})", r.describe())).collect();
    parts.join(sep)
}

/// How the wait went.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadyReport {
    pub condition: String,
    pub elapsed_ms: u64,
}

struct Round<'a> {
    client: &'a DockerClient,
    container: &'a str,
    http: HttpClient,
    health: Health,
    /// Log patterns already seen (sticky).
    seen: Vec<String>,
    last_failure: String,
}

impl DockerClient {
    /// Polls `cond` for `container` until it holds or `timeout` passes.
    pub async fn wait_ready(
        &self,
        container: &str,
        cond: &Readiness,
        timeout: Duration,
    ) -> Result<ReadyReport> {
        let start = Instant::now();
        let mut round = Round {
            client: self,
            container,
            http: HttpClient::new(Duration::from_secs(2)),
            health: Health::None,
            seen: Vec::new(),
            last_failure: String::new(),
        };
        let mut pause = Duration::from_millis(100);
        loop {
            let c = self.inspect(container).await?;
            let st = status_of_inspect(&c);
            let restarting = c.state.as_ref().and_then(|s| s.restarting).unwrap_or(false);
            if !st.running && !restarting {
                let tail = self.log_lines(container, None).await.unwrap_or_default();
                let tail: Vec<String> = tail
                    .iter()
                    .rev()
                    .take(10)
                    .rev()
                    .map(|l| l.text.clone())
                    .collect();
                return Err(DockerError::Invalid(format!(
                    "container {container} is {} (exit code {}) while waiting for {}; last log \
                     lines:\n{}",
                    st.status,
                    st.exit_code.unwrap_or_default(),
                    cond.describe(),
                    tail.join("\n")
                )));
            }
            round.health = st.health;
            if round.check(cond).await {
                return Ok(ReadyReport {
                    condition: cond.describe(),
                    elapsed_ms: start.elapsed().as_millis() as u64,
                });
            }
            if start.elapsed() >= timeout {
                return Err(DockerError::Timeout {
                    what: format!(
                        "{container} to be ready ({}); last failure: {}",
                        cond.describe(),
                        round.last_failure
                    ),
                    after: timeout,
                });
            }
            tokio::time::sleep(pause.min(timeout.saturating_sub(start.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

impl Round<'_> {
    fn check<'b>(&'b mut self, cond: &'b Readiness) -> BoxFuture<'b, bool> {
        Box::pin(async move {
            let result: Result<(), String> = match cond {
                Readiness::Healthy => match self.health {
                    Health::Healthy => Ok(()),
                    Health::None => Err("container has no healthcheck".into()),
                    h => Err(format!("health is {h:?}")),
                },
                Readiness::LogLine { pattern, since } => {
                    if self.seen.contains(pattern) {
                        Ok(())
                    } else {
                        match self.client.log_lines(self.container, Some(*since)).await {
                            Ok(lines)
                                if lines.iter().any(|l| l.text.contains(pattern.as_str())) =>
                            {
                                self.seen.push(pattern.clone());
                                Ok(())
                            }
                            Ok(_) => Err(format!("log line {pattern:?} not seen yet")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                }
                Readiness::Tcp(addr) => {
                    let connect = tokio::net::TcpStream::connect(addr);
                    match tokio::time::timeout(Duration::from_secs(2), connect).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(format!("tcp {addr}: {e}")),
                        Err(_) => Err(format!("tcp {addr}: connect timed out")),
                    }
                }
                Readiness::Http { url, status } => match self.http.get(url).await {
                    Ok(r) if status.map_or(r.is_success(), |s| r.status == s) => Ok(()),
                    Ok(r) => Err(format!("GET {url}: status {}", r.status)),
                    Err(e) => Err(e.to_string()),
                },
                Readiness::Probe { name, probe } => {
                    probe().await.map_err(|e| format!("{name}: {e}"))
                }
                Readiness::All(v) => {
                    let mut ok = true;
                    for c in v {
                        ok &= self.check(c).await;
                    }
                    return ok;
                }
                Readiness::Any(v) => {
                    for c in v {
                        if self.check(c).await {
                            return true;
                        }
                    }
                    return false;
                }
            };
            match result {
                Ok(()) => true,
                Err(e) => {
                    self.last_failure = e;
                    false
                }
            }
        })
    }
}
