//! Downtime probes: a tokio task that tries one thing every 20 ms and records the windows in
//! which it failed.
//!
//! - Postgres: a FRESH connection each attempt (TCP, password login) plus `SELECT 1`: what an
//!   application that reconnects sees, so a server that accepts no new connections counts as
//!   down even while old sessions linger.
//! - HTTP: `GET /health` on the backend; anything but 2xx is down (the stand-in answers 503
//!   when its own `SELECT 1` fails).
//!
//! Addresses: the container's IP on the stack's own bridge network, looked up through the
//! Engine API by container name, cached while attempts succeed and looked up again after a
//! failure (a recreated container may get another address). A container that is not running
//! has no address: that attempt fails at once instead of hanging in connect.
//!
//! A window runs from the start of the first failed attempt to the end of the next successful
//! one, so the 20 ms period and the attempt's own latency count against the service, equally
//! for cutover and the baselines. Every attempt is bounded (500 ms); after `finish` the task
//! keeps probing until one success (at most 120 s) so a window is never cut short.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cutover::adapters::docker::DockerClient;
use cutover::adapters::http::HttpClient;
use tokio::task::JoinHandle;

pub const PERIOD: Duration = Duration::from_millis(20);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// What a probe talks to.
#[derive(Clone)]
pub enum Target {
    Postgres {
        container: String,
        password: String,
    },
    Http {
        container: String,
        port: u16,
        path: String,
    },
}

/// What a probe saw, in milliseconds since it started.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProbeReport {
    pub attempts: u64,
    pub failures: u64,
    /// (start, end) of every failing window.
    pub windows: Vec<(f64, f64)>,
    /// False when the target never answered again within the drain limit.
    pub recovered: bool,
}

impl ProbeReport {
    pub fn longest_ms(&self) -> f64 {
        self.windows.iter().map(|(a, b)| b - a).fold(0.0, f64::max)
    }
    pub fn total_ms(&self) -> f64 {
        self.windows.iter().map(|(a, b)| b - a).sum()
    }
}

pub struct Probe {
    stop: Arc<AtomicBool>,
    task: JoinHandle<ProbeReport>,
}

impl Probe {
    /// Starts probing now; the first attempt is made before this returns to the caller's
    /// next await.
    pub fn start(docker: DockerClient, target: Target) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(docker, target, stop.clone()));
        Probe { stop, task }
    }

    /// Stops after the target answers again; returns the windows.
    pub async fn finish(self) -> ProbeReport {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("probe task")
    }
}

async fn run(docker: DockerClient, target: Target, stop: Arc<AtomicBool>) -> ProbeReport {
    let t0 = Instant::now();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1000.0;
    let http = HttpClient::new(ATTEMPT_TIMEOUT);
    let mut ip: Option<IpAddr> = None;
    let mut report = ProbeReport::default();
    let mut failing_since: Option<Instant> = None;
    let mut stop_seen: Option<Instant> = None;
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        if ip.is_none() {
            ip = address(&docker, container_of(&target)).await;
        }
        let ok = match ip {
            None => false,
            Some(addr) => tokio::time::timeout(ATTEMPT_TIMEOUT, attempt(&target, addr, &http))
                .await
                .is_ok_and(|r| r),
        };
        report.attempts += 1;
        if ok {
            if let Some(since) = failing_since.take() {
                report.windows.push((ms(since), ms(Instant::now())));
            }
        } else {
            report.failures += 1;
            ip = None;
            failing_since.get_or_insert(started);
        }
        if stop.load(Ordering::SeqCst) {
            let seen = *stop_seen.get_or_insert_with(Instant::now);
            if ok {
                report.recovered = true;
                return report;
            }
            if seen.elapsed() > DRAIN_LIMIT {
                if let Some(since) = failing_since {
                    report.windows.push((ms(since), ms(Instant::now())));
                }
                return report;
            }
        }
    }
}

fn container_of(t: &Target) -> &str {
    match t {
        Target::Postgres { container, .. } | Target::Http { container, .. } => container,
    }
}

/// The running container's first network address, or None (absent, stopped, no network).
async fn address(docker: &DockerClient, container: &str) -> Option<IpAddr> {
    let c = docker.try_inspect(container).await.ok()??;
    if !c.state.as_ref()?.running.unwrap_or(false) {
        return None;
    }
    let nets = c.network_settings?.networks?;
    let mut names: Vec<&String> = nets.keys().collect();
    names.sort();
    names
        .into_iter()
        .find_map(|n| nets[n].ip_address.as_deref()?.parse().ok())
}

async fn attempt(target: &Target, addr: IpAddr, http: &HttpClient) -> bool {
    match target {
        Target::Postgres { password, .. } => {
            let mut cfg = tokio_postgres::Config::new();
            cfg.host(addr.to_string())
                .port(5432)
                .user("privexbot")
                .password(password)
                .dbname("privexbot")
                .connect_timeout(ATTEMPT_TIMEOUT);
            let Ok((client, conn)) = cfg.connect(tokio_postgres::NoTls).await else {
                return false;
            };
            let conn = tokio::spawn(conn);
            let ok = client.simple_query("SELECT 1").await.is_ok();
            drop(client);
            let _ = conn.await;
            ok
        }
        Target::Http { port, path, .. } => {
            let url = format!("http://{addr}:{port}{path}");
            http.get(&url).await.is_ok_and(|r| r.is_success())
        }
    }
}
