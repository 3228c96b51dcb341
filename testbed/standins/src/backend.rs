//! The privexbot backend stand-in: `/health` on port 8000 answers 200
//! `{"status":"healthy","database":"connected"}` only when a real `SELECT 1` succeeds, and 503
//! `{"status":"unhealthy",...}` otherwise, so polling it measures application downtime.
//! One database connection is kept and re-opened on demand after it breaks.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::db::Settings;

const TIMEOUT: Duration = Duration::from_secs(3);

struct Backend {
    settings: Settings,
    client: Mutex<Option<Client>>,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    println!("backend: database {}", settings.describe());
    let state = Arc::new(Backend {
        settings,
        client: Mutex::new(None),
    });
    let app = Router::new()
        .route("/health", get(health))
        .route(
            "/",
            get(|| async { Json(json!({"service": "privexbot-backend-standin"})) }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("backend: listening on 0.0.0.0:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn health(State(backend): State<Arc<Backend>>) -> (StatusCode, Json<Value>) {
    match check(&backend).await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "healthy", "database": "connected"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "database": "disconnected", "error": e})),
        ),
    }
}

async fn check(backend: &Backend) -> Result<(), String> {
    let mut slot = backend.client.lock().await;
    if slot.as_ref().is_none_or(|c| c.is_closed()) {
        let fresh = tokio::time::timeout(TIMEOUT, backend.settings.connect()).await;
        *slot = Some(
            fresh
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| format!("connect failed: {e}"))?,
        );
    }
    let client = slot.as_ref().expect("set above");
    let result = match tokio::time::timeout(TIMEOUT, client.query_one("SELECT 1", &[])).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("query failed: {e}")),
        Err(_) => Err("query timed out".to_string()),
    };
    if result.is_err() {
        // Drop the connection so the next request starts from a fresh one.
        *slot = None;
    }
    result
}
