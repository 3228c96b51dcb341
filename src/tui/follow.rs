//! The container log follower: one cancellable task at a time, owned by the app loop (never
//! by a view). Switching cancels the current task and waits for it to end before the next one
//! starts, so two streams never feed the pane at once.
//!
//! A task follows a container *name*, not an id: the upgrade recreates postgres under the same
//! name with a new id, and the operator wants the new server's startup lines, not silence. So
//! when a stream ends the task looks the name up again: a new id is followed from its first
//! line, the same id running again (a restart) from the last line seen, and a name that is
//! gone says so in the pane and is watched until it comes back. Those status lines are
//! `note` entries in the same ring, so they sit in order between the container's own lines.
//!
//! Lines go to the app over a bounded channel: they are ordered data, and a slow screen should
//! slow the reader rather than grow memory.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::containers::LogEntry;
use super::msg::Msg;
use crate::adapters::docker::{DockerClient, LogQuery, StreamKind};

/// How often a stopped or missing container is looked up again.
const RECHECK: Duration = Duration::from_millis(500);

pub struct Follower {
    tx: mpsc::Sender<Msg>,
    current: Option<(CancellationToken, JoinHandle<()>)>,
    /// Lines of history fetched on switching (the pane's capacity).
    tail: u64,
}

impl Follower {
    pub fn new(tx: mpsc::Sender<Msg>, tail: u64) -> Self {
        Self {
            tx,
            current: None,
            tail,
        }
    }

    /// Stops the current stream (and waits for it), then follows `container` if given.
    pub async fn switch(&mut self, container: Option<String>) {
        if let Some((token, task)) = self.current.take() {
            token.cancel();
            let _ = task.await;
        }
        let Some(name) = container else { return };
        let token = CancellationToken::new();
        let task = tokio::spawn(follow(name, self.tail, self.tx.clone(), token.clone()));
        self.current = Some((token, task));
    }
}

/// What the name resolves to right now.
enum Found {
    Running(String),
    Stopped(String),
    Gone,
}

struct Task {
    name: String,
    tx: mpsc::Sender<Msg>,
    token: CancellationToken,
}

impl Task {
    /// Sends a message unless cancelled; false when the task should end.
    async fn send(&self, msg: Msg) -> bool {
        tokio::select! {
            r = self.tx.send(msg) => r.is_ok(),
            () = self.token.cancelled() => false,
        }
    }

    async fn note(&self, text: String) -> bool {
        let entry = LogEntry {
            at: Some(Utc::now()),
            stderr: false,
            text,
            note: true,
        };
        self.send(Msg::ContainerLog {
            container: self.name.clone(),
            entry,
        })
        .await
    }

    /// Sleeps for the recheck interval; false when cancelled meanwhile.
    async fn pause(&self) -> bool {
        tokio::select! {
            () = tokio::time::sleep(RECHECK) => true,
            () = self.token.cancelled() => false,
        }
    }
}

async fn lookup(client: &DockerClient, name: &str) -> Result<Found, String> {
    match client.try_inspect(name).await {
        Ok(Some(c)) => {
            let id = c.id.unwrap_or_default();
            let running = c.state.and_then(|s| s.running).unwrap_or(false);
            Ok(if running {
                Found::Running(id)
            } else {
                Found::Stopped(id)
            })
        }
        Ok(None) => Ok(Found::Gone),
        Err(e) => Err(e.to_string()),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

async fn follow(name: String, tail: u64, tx: mpsc::Sender<Msg>, token: CancellationToken) {
    let task = Task { name, tx, token };
    let client = tokio::select! {
        c = DockerClient::connect() => c,
        () = task.token.cancelled() => return,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let why = format!("cannot reach the Docker Engine: {e}");
            let ended = Msg::ContainerLogEnded {
                container: task.name.clone(),
                why,
            };
            task.send(ended).await;
            return;
        }
    };
    // The id last streamed, and the newest line seen from it.
    let mut streamed: Option<String> = None;
    let mut last_at: Option<DateTime<Utc>> = None;
    let mut said_gone = false;
    loop {
        let found = match lookup(&client, &task.name).await {
            Ok(f) => f,
            Err(e) => {
                let why = format!("cannot look up {}: {e}", task.name);
                let ended = Msg::ContainerLogEnded {
                    container: task.name.clone(),
                    why,
                };
                task.send(ended).await;
                return;
            }
        };
        let (id, running) = match found {
            Found::Gone => {
                if !said_gone {
                    said_gone = true;
                    let line = format!("— {} is gone (no such container); waiting", task.name);
                    if !task.note(line).await {
                        return;
                    }
                }
                if !task.pause().await {
                    return;
                }
                continue;
            }
            Found::Running(id) => (id, true),
            Found::Stopped(id) => (id, false),
        };
        said_gone = false;
        let query = match &streamed {
            // First look: the history, then new lines (also for a stopped container).
            None => LogQuery {
                follow: true,
                since: None,
                tail: Some(tail),
            },
            Some(old) if *old != id => {
                let line = format!(
                    "— {} was recreated: following the new container {} (was {})",
                    task.name,
                    short(&id),
                    short(old)
                );
                if !task.note(line).await {
                    return;
                }
                LogQuery {
                    follow: true,
                    since: None,
                    tail: Some(tail),
                }
            }
            // Same container, running again after a stop: only what is new.
            Some(_) if running => LogQuery {
                follow: true,
                since: last_at,
                tail: None,
            },
            Some(_) => {
                if !task.pause().await {
                    return;
                }
                continue;
            }
        };
        streamed = Some(id.clone());
        match stream(&client, &task, &id, &query, &mut last_at).await {
            None => return,
            Some(()) => {
                let line = format!("— {} stopped (container {})", task.name, short(&id));
                if !task.note(line).await || !task.pause().await {
                    return;
                }
            }
        }
    }
}

/// Streams one container's log until it ends (`Some`) or the task is cancelled (`None`).
async fn stream(
    client: &DockerClient,
    task: &Task,
    id: &str,
    query: &LogQuery,
    last_at: &mut Option<DateTime<Utc>>,
) -> Option<()> {
    let mut follower = client.logs(id, query);
    let ended = loop {
        let next = tokio::select! {
            n = follower.next() => n,
            () = task.token.cancelled() => break None,
        };
        let entry = match next {
            Some(Ok(line)) => {
                // `since` has whole-second precision on the engine: drop what we already have.
                if let (Some(at), Some(seen)) = (line.timestamp, *last_at)
                    && at <= seen
                {
                    continue;
                }
                if line.timestamp.is_some() {
                    *last_at = line.timestamp;
                }
                LogEntry {
                    at: line.timestamp,
                    stderr: line.stream == StreamKind::Stderr,
                    // A container may print its own connection URL or password: the pane shows
                    // it redacted, like every other line cutover shows.
                    text: crate::engine::redact::redact_line(&line.text),
                    note: false,
                }
            }
            Some(Err(e)) => LogEntry {
                at: Some(Utc::now()),
                stderr: true,
                text: format!("— log stream error: {e}"),
                note: true,
            },
            None => break Some(()),
        };
        let msg = Msg::ContainerLog {
            container: task.name.clone(),
            entry,
        };
        if !task.send(msg).await {
            break None;
        }
    };
    follower.cancel().await;
    ended
}
