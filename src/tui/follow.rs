//! The container log follower: one cancellable stream at a time, owned by the app loop (never
//! by a view). Switching cancels the current task and waits for it to end before the next one
//! starts, so two streams never feed the pane at once.
//!
//! Lines go to the app over a bounded channel: they are ordered data, and a slow screen should
//! slow the reader rather than grow memory.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::containers::LogEntry;
use super::msg::Msg;
use crate::adapters::docker::{DockerClient, LogQuery, StreamKind};

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

async fn follow(name: String, tail: u64, tx: mpsc::Sender<Msg>, token: CancellationToken) {
    let ended = |why: String| Msg::ContainerLogEnded {
        container: name.clone(),
        why,
    };
    let client = tokio::select! {
        c = DockerClient::connect() => c,
        () = token.cancelled() => return,
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(ended(format!("{e}"))).await;
            return;
        }
    };
    let query = LogQuery {
        follow: true,
        since: None,
        tail: Some(tail),
    };
    let mut follower = client.logs(&name, &query);
    loop {
        let next = tokio::select! {
            n = follower.next() => n,
            () = token.cancelled() => break,
        };
        let msg = match next {
            Some(Ok(line)) => Msg::ContainerLog {
                container: name.clone(),
                entry: LogEntry {
                    at: line.timestamp,
                    stderr: line.stream == StreamKind::Stderr,
                    text: line.text,
                },
            },
            Some(Err(e)) => ended(format!("{e}")),
            None => ended("the container stopped or its log closed".into()),
        };
        let last = matches!(msg, Msg::ContainerLogEnded { .. });
        tokio::select! {
            r = tx.send(msg) => if r.is_err() { break },
            () = token.cancelled() => break,
        }
        if last {
            break;
        }
    }
    follower.cancel().await;
}
