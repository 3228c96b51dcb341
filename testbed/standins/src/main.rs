//! `standin`: one small binary playing the parts of the test bed that cannot be installed here.
//!
//! - `qdrant`: Qdrant's REST surface that cutover uses (health, collections), port 6333.
//! - `backend`: privexbot's backend as far as cutover sees it: `/health` backed by a real
//!   `SELECT 1`, port 8000, so application downtime is measurable.
//! - `worker`: the celery-worker's place: writes a strictly increasing sequence number every
//!   100 ms and survives connection loss, so a test can prove no write was lost or duplicated.
//! - `probe URL`: exits 0 when URL answers 2xx (used by compose healthchecks; the image has no
//!   curl).
//!
//! Every mode exits promptly on SIGTERM/SIGINT: it runs as PID 1 in its container, where the
//! kernel gives unhandled signals no default action, so without this `docker stop` would wait
//! for its timeout.

mod backend;
mod db;
mod qdrant;
mod worker;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Stand-ins for the cutover test bed")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Qdrant REST stand-in (QDRANT__SERVICE__HTTP_PORT, QDRANT__STORAGE__STORAGE_PATH).
    Qdrant,
    /// privexbot backend stand-in answering /health on port 8000 (PORT).
    Backend,
    /// celery-worker stand-in writing worker_ticks every 100 ms.
    Worker,
    /// Exit 0 if the URL answers with a 2xx status within 3 s.
    Probe { url: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let work = async {
        match cli.mode {
            Mode::Qdrant => qdrant::run().await,
            Mode::Backend => backend::run(db::Settings::from_env()?).await,
            Mode::Worker => worker::run(db::Settings::from_env()?).await,
            Mode::Probe { url } => probe(&url).await,
        }
    };
    tokio::select! {
        result = work => result,
        signal = shutdown_signal() => {
            println!("standin: received {signal}, exiting");
            Ok(())
        }
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

async fn probe(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let status = client.get(url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}
