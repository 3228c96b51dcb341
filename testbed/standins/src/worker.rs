//! The celery-worker stand-in: the write load a maintenance window must not lose.
//!
//! Invariant: `worker_ticks.seq` holds 1, 2, 3, ... with no gap and no duplicate, whatever
//! happens to the database in between. The worker keeps its counter in memory, retries the same
//! number after any failure, and treats a unique violation as "my earlier commit landed but the
//! reply was lost", so it advances instead of writing twice. On start it continues after the
//! highest number already in the table, so restarting the worker keeps the sequence too.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::db::Settings;

const TICK: Duration = Duration::from_millis(100);
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    println!("worker: starting, database {}", settings.describe());
    let mut next: Option<i64> = None;
    let mut connects = 0u64;
    let mut backoff = Duration::from_millis(100);
    loop {
        let client = match settings.connect().await {
            Ok(c) => c,
            Err(e) => {
                println!("worker: connect failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        connects += 1;
        let setup = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS worker_ticks (
                         seq bigint PRIMARY KEY,
                         written_at timestamptz NOT NULL DEFAULT now())",
                )
                .await?;
            let row = client
                .query_one("SELECT coalesce(max(seq), 0) + 1 FROM worker_ticks", &[])
                .await?;
            Ok::<i64, tokio_postgres::Error>(row.get(0))
        };
        match setup.await {
            Ok(first_free) => {
                let seq = *next.get_or_insert(first_free);
                let what = if connects == 1 {
                    "connected"
                } else {
                    "reconnected"
                };
                println!("worker: {what} (connection #{connects}), next seq {seq}");
            }
            Err(e) => {
                println!("worker: setup failed: {e}; reconnecting");
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        let mut seq = next.expect("set above");
        loop {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&seq];
            let insert = client.execute("INSERT INTO worker_ticks (seq) VALUES ($1)", &params);
            match tokio::time::timeout(STATEMENT_TIMEOUT, insert).await {
                Ok(Ok(_)) => {
                    if seq % 100 == 0 {
                        println!("worker: wrote seq {seq}");
                    }
                    seq += 1;
                }
                Ok(Err(e)) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    println!(
                        "worker: seq {seq} already stored (an earlier commit landed); advancing"
                    );
                    seq += 1;
                }
                Ok(Err(e)) => {
                    println!("worker: write of seq {seq} failed: {e}; reconnecting");
                    break;
                }
                Err(_) => {
                    println!("worker: write of seq {seq} timed out; reconnecting");
                    break;
                }
            }
            tokio::time::sleep(TICK).await;
        }
        next = Some(seq);
        tokio::time::sleep(backoff).await;
    }
}
