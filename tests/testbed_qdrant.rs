//! The Qdrant stand-in against a real Docker Engine: every endpoint cutover uses answers in
//! Qdrant's documented shapes, on the container's network address, and collections survive a
//! restart on the same volume.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Scratch, container_ip, docker, logs, require_docker, wait_for};

async fn get(ip: IpAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{ip}:6333{path}"))
        .await
        .expect("GET");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn qdrant_standin_answers_every_endpoint_in_the_documented_shapes() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let scratch = Scratch::new();
    let name = format!("{}-qdrant", scratch.project);
    let volume = format!("{}_qdrant_storage", scratch.project);
    let labels = scratch.label_args();
    let mut create_volume = vec!["volume", "create"];
    create_volume.extend(labels.iter().map(String::as_str));
    create_volume.push(&volume);
    docker(&create_volume);
    let mount = format!("{volume}:/qdrant/storage");
    let mut run = vec!["run", "-d", "--name", &name];
    run.extend(labels.iter().map(String::as_str));
    run.extend(["-v", &mount, "cutover-testbed/qdrant-standin:latest"]);
    docker(&run);

    let ip = container_ip(&name);
    wait_for("qdrant stand-in", Duration::from_secs(20), || async {
        reqwest::get(format!("http://{ip}:6333/healthz"))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(logs(&name).contains("Qdrant HTTP listening on 6333"));

    let (status, body) = get(ip, "/").await;
    assert_eq!(status, 200);
    let root = json(&body);
    assert_eq!(root["title"], "qdrant - vector search engine");
    assert!(root["version"].is_string());
    assert_eq!(
        get(ip, "/healthz").await,
        (200, "healthz check passed".into())
    );
    assert_eq!(
        get(ip, "/livez").await,
        (200, "healthz check passed".into())
    );
    assert_eq!(
        get(ip, "/readyz").await,
        (200, "all shards are ready".into())
    );

    let (status, body) = get(ip, "/collections").await;
    assert_eq!(status, 200);
    let empty = json(&body);
    assert_eq!(empty["status"], "ok");
    assert_eq!(empty["result"]["collections"], json!([]));
    assert!(empty["time"].is_f64());

    let http = reqwest::Client::new();
    let put = |c: &str| {
        http.put(format!("http://{ip}:6333/collections/{c}"))
            .json(&json!({"vectors": {"size": 384, "distance": "Cosine"}}))
            .send()
    };
    let resp = put("knowledge_chunks").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["result"], true);
    assert_eq!(created["status"], "ok");
    // Creating it again is Qdrant's 400 with its error envelope.
    let resp = put("knowledge_chunks").await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let dup: Value = resp.json().await.unwrap();
    assert!(
        dup["status"]["error"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{dup}"
    );

    let listed = || async {
        let (_, body) = get(ip, "/collections").await;
        json(&body)["result"]["collections"].clone()
    };
    assert_eq!(listed().await, json!([{"name": "knowledge_chunks"}]));

    // Collections live on the volume: a restart keeps them.
    docker(&["restart", &name]);
    let ip = container_ip(&name);
    wait_for(
        "qdrant stand-in after restart",
        Duration::from_secs(20),
        || async {
            reqwest::get(format!("http://{ip}:6333/readyz"))
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await;
    let (_, body) = get(ip, "/collections").await;
    assert_eq!(
        json(&body)["result"]["collections"],
        json!([{"name": "knowledge_chunks"}])
    );
    let (status, body) = get(ip, "/collections/knowledge_chunks").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["result"]["status"], "green");
    let (status, _) = get(ip, "/collections/absent").await;
    assert_eq!(status, 404);
}
