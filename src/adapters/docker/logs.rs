//! Reading and following container logs as complete, timestamped lines per stream.
//!
//! A follower runs in its own task and hands lines over a bounded channel (ordered data, so
//! bounded rather than latest-wins); dropping the follower or calling `cancel` stops the task
//! and the engine stream with it, so switching containers never leaks a stream.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::lines::{LineSplitter, LogLine, StreamKind};

/// Which logs to read.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// Keep following new output (until cancelled or the container stops).
    pub follow: bool,
    /// Only lines at or after this instant (sub-second precision is applied client-side).
    pub since: Option<DateTime<Utc>>,
    /// Only the last N lines of existing output.
    pub tail: Option<u64>,
}

/// A running log reader. Lines arrive in order per stream.
pub struct LogFollower {
    rx: mpsc::Receiver<Result<LogLine>>,
    task: JoinHandle<()>,
}

impl LogFollower {
    /// The next line; `None` when the stream ended (container stopped, or not following).
    pub async fn next(&mut self) -> Option<Result<LogLine>> {
        self.rx.recv().await
    }

    /// Stops reading and waits for the reader task to end.
    pub async fn cancel(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DockerClient {
    /// Starts reading `container`'s logs per `query`.
    pub fn logs(&self, container: &str, query: &LogQuery) -> LogFollower {
        let mut b = LogsOptionsBuilder::default()
            .follow(query.follow)
            .stdout(true)
            .stderr(true)
            .timestamps(true);
        if let Some(since) = query.since {
            b = b.since(since.timestamp().clamp(0, i32::MAX as i64) as i32);
        }
        if let Some(n) = query.tail {
            b = b.tail(&n.to_string());
        }
        let mut stream = self.docker.logs(container, Some(b.build()));
        let (tx, rx) = mpsc::channel(1024);
        let since = query.since;
        let name = container.to_string();
        let task = tokio::spawn(async move {
            let mut splitter = LineSplitter::new(true);
            let keep = |l: &LogLine| match (since, l.timestamp) {
                (Some(s), Some(t)) => t >= s,
                _ => true,
            };
            while let Some(item) = stream.next().await {
                let (kind, bytes) = match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        (StreamKind::Stdout, message)
                    }
                    Ok(LogOutput::StdErr { message }) => (StreamKind::Stderr, message),
                    Ok(LogOutput::StdIn { .. }) => continue,
                    Err(e) => {
                        let _ = tx
                            .send(Err(DockerError::api(format!("read logs of {name}"), e)))
                            .await;
                        return;
                    }
                };
                for line in splitter.push(kind, &bytes) {
                    if keep(&line) && tx.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
            }
            for line in splitter.flush() {
                if keep(&line) && tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
        });
        LogFollower { rx, task }
    }

    /// All existing log lines of `container` (not following).
    pub async fn log_lines(
        &self,
        container: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<LogLine>> {
        let mut f = self.logs(
            container,
            &LogQuery {
                follow: false,
                since,
                tail: None,
            },
        );
        let mut out = Vec::new();
        while let Some(line) = f.next().await {
            out.push(line?);
        }
        Ok(out)
    }
}
