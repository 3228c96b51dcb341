//! Qdrant stand-in: the REST surface cutover uses, answering in Qdrant's documented shapes.
//!
//! - `GET /` → `{"title":"qdrant - vector search engine","version":...,"commit":...}`
//! - `GET /healthz`, `/livez` → `healthz check passed`; `GET /readyz` → `all shards are ready`
//! - `GET /collections` → `{"result":{"collections":[{"name":..}]},"status":"ok","time":..}`
//! - `PUT /collections/{name}` (body: the collection config) → `{"result":true,...}`;
//!   an existing name gives 400 with Qdrant's error shape `{"status":{"error":..},"time":..}`
//! - `GET` / `DELETE /collections/{name}`
//!
//! Invariant: a collection exists exactly when `<storage>/collections/<name>/config.json`
//! does, so collections survive a container restart on the same volume. Names are checked
//! before they touch the file system.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The Qdrant release whose API shapes this stand-in follows.
const VERSION: &str = "1.12.4";

struct Storage {
    collections: PathBuf,
}

pub async fn run() -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let root = env("QDRANT__STORAGE__STORAGE_PATH").unwrap_or_else(|| "/qdrant/storage".into());
    let port: u16 = env("QDRANT__SERVICE__HTTP_PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(6333);
    let collections = PathBuf::from(root).join("collections");
    std::fs::create_dir_all(&collections)?;
    let storage = Arc::new(Storage { collections });
    println!(
        "qdrant-standin: version {VERSION}, storage {}, {} collection(s) loaded",
        storage.collections.display(),
        list(&storage)?.len()
    );
    let app = Router::new()
        .route("/", get(root_info))
        .route("/healthz", get(|| async { "healthz check passed" }))
        .route("/livez", get(|| async { "healthz check passed" }))
        .route("/readyz", get(|| async { "all shards are ready" }))
        .route("/collections", get(get_collections))
        .route(
            "/collections/{name}",
            get(get_collection)
                .put(put_collection)
                .delete(delete_collection),
        )
        .with_state(storage);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("Qdrant HTTP listening on {port}");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn root_info() -> Json<Value> {
    Json(json!({"title": "qdrant - vector search engine", "version": VERSION, "commit": "standin"}))
}

fn list(storage: &Storage) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&storage.collections)? {
        let entry = entry?;
        if entry.path().join("config.json").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Qdrant's success envelope; `time` is the handling time in seconds.
fn ok(started: Instant, result: Value) -> Response {
    let time = started.elapsed().as_secs_f64();
    Json(json!({"result": result, "status": "ok", "time": time})).into_response()
}

/// Qdrant's error envelope.
fn err(started: Instant, code: StatusCode, message: String) -> Response {
    let time = started.elapsed().as_secs_f64();
    (
        code,
        Json(json!({"status": {"error": message}, "time": time})),
    )
        .into_response()
}

fn internal(started: Instant, e: std::io::Error) -> Response {
    err(
        started,
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Service internal error: {e}"),
    )
}

/// Qdrant accepts fairly free names; we only refuse what could escape the storage directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
}

async fn get_collections(State(storage): State<Arc<Storage>>) -> Response {
    let started = Instant::now();
    match list(&storage) {
        Ok(names) => {
            let collections: Vec<Value> = names.into_iter().map(|n| json!({"name": n})).collect();
            ok(started, json!({"collections": collections}))
        }
        Err(e) => internal(started, e),
    }
}

async fn put_collection(
    State(storage): State<Arc<Storage>>,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let started = Instant::now();
    if !valid_name(&name) {
        return err(
            started,
            StatusCode::BAD_REQUEST,
            format!("Wrong input: bad name {name:?}"),
        );
    }
    let dir = storage.collections.join(&name);
    if dir.join("config.json").is_file() {
        let msg = format!("Wrong input: Collection `{name}` already exists!");
        return err(started, StatusCode::BAD_REQUEST, msg);
    }
    let config = body.map(|Json(v)| v).unwrap_or_else(|| json!({}));
    // Write then rename, so a crash never leaves a half-written config behind.
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join("config.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&config)?)?;
        std::fs::rename(&tmp, dir.join("config.json"))
    };
    match write() {
        Ok(()) => {
            println!("qdrant-standin: created collection {name}");
            ok(started, json!(true))
        }
        Err(e) => internal(started, e),
    }
}

async fn get_collection(State(storage): State<Arc<Storage>>, Path(name): Path<String>) -> Response {
    let started = Instant::now();
    let path = storage.collections.join(&name).join("config.json");
    if !valid_name(&name) || !path.is_file() {
        let msg = format!("Not found: Collection `{name}` doesn't exist!");
        return err(started, StatusCode::NOT_FOUND, msg);
    }
    let config: Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(e) => return internal(started, e),
    };
    let info = json!({
        "status": "green",
        "optimizer_status": "ok",
        "points_count": 0,
        "indexed_vectors_count": 0,
        "segments_count": 0,
        "config": {"params": config},
    });
    ok(started, info)
}

async fn delete_collection(
    State(storage): State<Arc<Storage>>,
    Path(name): Path<String>,
) -> Response {
    let started = Instant::now();
    if !valid_name(&name) {
        return ok(started, json!(false));
    }
    let dir = storage.collections.join(&name);
    if !dir.exists() {
        return ok(started, json!(false));
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => ok(started, json!(true)),
        Err(e) => internal(started, e),
    }
}
