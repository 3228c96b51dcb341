//! The pgvector upgrade end to end: the real `cutover` binary against real test-bed stacks.
//!
//! Two stacks in all (each bring-up costs seconds on a small machine), each test asserting
//! many things:
//! - `a_seeded_stack_is_upgraded`: `plan` lists exactly the steps `run --json` then runs; the
//!   run upgrades postgres in place, installs `vector`, starts a ready qdrant, creates the three
//!   tables, keeps every pre-existing table's fingerprint, keeps the worker's sequence gapless,
//!   edits the compose file with its comments kept (and the Compose tool accepts it), and
//!   writes the figures in the report.
//! - `another_major_is_refused_and_an_absent_worker_is_skipped`: a target image of another
//!   major exits 2 with nothing stopped; a failing migration rolls the whole window back
//!   (exit 1, old postgres, compose file byte-identical, no qdrant, writers running); then,
//!   with the worker commented out of the same stack, the upgrade reports it skipped and succeeds.
//!   This one runs on the glibc -> glibc pair (postgres-before -> postgres-after); the first
//!   on the default Alpine-shaped -> Debian-shaped pair.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cutover::adapters::fingerprint::fingerprint;
use cutover::adapters::http::HttpClient;
use serde_json::Value;
use support::cutover::{
    AFTER, BEFORE, GLIBC_AFTER, GLIBC_BEFORE, Run, SIGN, containers, latest_run, report, text,
};
use support::{Stack, docker, wait_for};

fn plan_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let n = w.next()?;
            (n.ends_with('.') && n[..n.len() - 1].parse::<u32>().is_ok()).then_some(())?;
            w.next()?;
            w.next().map(String::from)
        })
        .collect()
}

/// Step ids a `--json` run signed or started, in order.
fn run_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| matches!(v["event"].as_str(), Some("step_started" | "signed_off")))
        .filter_map(|v| v.get("step")?.as_str().map(String::from))
        .collect()
}

/// The Compose tool the tests run under (`COMPOSE`, else v2 if present, else v1) accepts it.
fn compose_accepts(file: &Path) -> bool {
    let words = support::compose_words();
    Command::new(&words[0])
        .args(&words[1..])
        .arg("-f")
        .arg(file)
        .args(["config", "-q"])
        .current_dir(file.parent().unwrap())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeded_stack_is_upgraded() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(50);
    let dir = stack.dir();
    let pg = stack.container("postgres");
    let volume_before = docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &pg]);
    let before = fingerprint(&stack.connect().await, "public").await.unwrap();
    assert!(before.tables.contains_key("users"), "seeded: {before:?}");

    let plan = Run::new(dir, &["plan"]).output();
    assert!(plan.status.success(), "{}", text(&plan));
    let planned = plan_ids(&String::from_utf8_lossy(&plan.stdout));
    assert!(
        text(&plan).contains(&format!("container {pg}")),
        "{}",
        text(&plan)
    );

    let mut args = vec!["run", "--yes", "--json"];
    args.extend(SIGN);
    let run = Run::new(dir, &args).output();
    let out = text(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert_eq!(planned, run_ids(&out), "plan lists what run does");
    // The tests leave qdrant unpublished (qdrant_ports = none): the run must say so where the
    // operator looks, not only in the plan.
    let unpublished = report(&latest_run(dir))["upgrade"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| {
            w.as_str()
                .is_some_and(|w| w.contains("qdrant is not published on the host"))
        })
        .count();
    assert_eq!(unpublished, 1, "{out}");
    // 17 checks (9 of them probe the target image, one reads the rehearsal, one compares the
    // window's snapshots after it), 3 sign-offs, 16 actions (base-backup before the window,
    // portable-dump after it).
    assert_eq!(planned.len(), 36);

    // postgres runs the "after" image on the same volume, and the old one is kept.
    let image = docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]);
    assert_eq!(image, format!("{AFTER} true"));
    let volume_after = docker(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", &pg]);
    assert_eq!(volume_before, volume_after);
    assert_eq!(
        support::cutover::parked(stack.project()).len(),
        1,
        "the old container is parked"
    );

    let db = stack.connect().await;
    let vector: Option<String> = db
        .query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .await
        .unwrap()
        .map(|r| r.get(0));
    assert!(vector.is_some(), "vector is installed");

    // The three tables with their key columns (chunks.embedding is a pgvector column).
    for (table, cols) in [
        (
            "knowledge_bases",
            &["id", "workspace_id", "name", "embedding_model"][..],
        ),
        ("documents", &["id", "knowledge_base_id", "title", "status"]),
        (
            "chunks",
            &["id", "document_id", "chunk_index", "content", "embedding"],
        ),
    ] {
        let rows = db
            .query(
                "SELECT column_name::text, udt_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1",
                &[&table],
            )
            .await
            .unwrap();
        let have: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for c in cols {
            assert!(have.iter().any(|(n, _)| n == c), "{table}.{c} in {have:?}");
        }
        if table == "chunks" {
            assert!(have.contains(&("embedding".into(), "vector".into())));
        }
    }

    // Qdrant runs and is ready, at its address on the stack's network.
    let qdrant = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project()),
        "--filter",
        "label=com.docker.compose.service=qdrant",
    ]);
    assert!(!qdrant.is_empty(), "a running qdrant container");
    let base = format!("http://{}:6333", support::container_ip(&qdrant));
    let http = HttpClient::new(Duration::from_secs(3));
    http.qdrant_readyz(&base).await.expect("qdrant /readyz");
    http.qdrant_collections(&base)
        .await
        .expect("qdrant /collections");

    // Every pre-existing table is identical except the worker's, which has grown since; its
    // sequence has no gap and no duplicate once the worker has written after the upgrade.
    let after = fingerprint(&db, "public").await.unwrap();
    for (name, fp) in &before.tables {
        if name != "worker_ticks" {
            assert_eq!(Some(fp), after.tables.get(name), "table {name}");
        }
    }
    let max_before = before.tables["worker_ticks"].rows;
    wait_for(
        "the worker to write after the upgrade",
        Duration::from_secs(30),
        || {
            let db = &db;
            async move {
                let r = db
                    .query_one("SELECT count(*) FROM worker_ticks", &[])
                    .await
                    .ok()?;
                (r.get::<_, i64>(0) > max_before + 5).then_some(())
            }
        },
    )
    .await;
    let r = db
        .query_one(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM worker_ticks",
            &[],
        )
        .await
        .unwrap();
    let (n, distinct, min, max): (i64, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
    assert_eq!(
        (n, distinct, min),
        (max, max, 1),
        "seq 1..=max without gap or duplicate"
    );

    // The compose file holds the edits, keeps its comments, and the Compose tool accepts it.
    let file = std::fs::read_to_string(stack.compose_file()).unwrap();
    assert!(file.contains(&format!("image: {AFTER}")), "{file}");
    assert!(
        file.contains("qdrant:") && file.contains("qdrant_data"),
        "{file}"
    );
    assert!(file.contains(
        "# No published port: production reaches postgres only over the stack's network."
    ));
    assert!(file.contains("# ephemeral host port, loopback only"));
    assert!(compose_accepts(&stack.compose_file()));

    // The report holds the figures.
    let rep = report(&latest_run(dir));
    let u = &rep["upgrade"];
    assert!(u["db_downtime_ms"].as_i64().unwrap() > 0, "{u}");
    assert!(u["app_downtime_ms"].as_i64().unwrap() >= u["db_downtime_ms"].as_i64().unwrap());
    let backup = PathBuf::from(u["backup"]["path"].as_str().unwrap());
    let bytes = std::fs::read(&backup).unwrap();
    assert_eq!(u["backup"]["bytes"].as_u64(), Some(bytes.len() as u64));
    use sha2::Digest;
    assert_eq!(
        u["backup"]["sha256"].as_str(),
        Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
    );
    // The window read no table (issue 14): the two snapshots it opened were read after it,
    // and they hold the tables as the test saw them (the worker's has grown since).
    assert!(
        u["fingerprint_note"]
            .as_str()
            .is_some_and(|n| n.starts_with("The window read no table")),
        "{u}"
    );
    let fb = &u["fingerprint_before"]["tables"];
    let fa = &u["fingerprint_after"]["tables"];
    assert_eq!(fb.as_object().unwrap().len(), before.tables.len(), "{u}");
    for (t, v) in fb.as_object().unwrap() {
        assert_eq!(&fa[t], v, "report fingerprint of {t}");
        if t != "worker_ticks" {
            assert_eq!(
                serde_json::to_value(&before.tables[t]).unwrap(),
                *v,
                "the stop's fingerprint of {t}"
            );
        }
    }
    assert_eq!(u["image_before"], BEFORE);
    assert_eq!(u["image_after"], AFTER);
    assert!(u["server_after"].as_str().is_some());
    assert!(u["reindexed"].is_array());
    let signed: Vec<&str> = rep["sign_offs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["by"].as_str())
        .collect();
    assert_eq!(signed, ["Ann Example", "Bo Example", "Cy Example"]);
    let md = std::fs::read_to_string(latest_run(dir).join("report.md")).unwrap();
    assert!(md.contains("## Downtime (measured)") && md.contains("## Data fingerprints"));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_major_is_refused_and_an_absent_worker_is_skipped() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let pg16 = pg16_image();
    // Seeded: the migrations reference the seed's tables (workspaces, users). The glibc ->
    // glibc case (postgres-before -> postgres-after: no libc, collation or uid change).
    let stack = Stack::up_seeded_on(5, Some(GLIBC_BEFORE));
    let dir = stack.dir();
    let compose_before = std::fs::read(stack.compose_file()).unwrap();
    let world_before = containers(stack.project());

    let mut args = vec!["run", "--yes"];
    args.extend(SIGN);
    let refused = Run::new(dir, &args).target(&pg16).output();
    let out = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{out}");
    assert!(out.contains("major-version") && out.contains("16"), "{out}");
    assert_eq!(
        containers(stack.project()),
        world_before,
        "nothing stopped or replaced"
    );
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);

    // A failure late in the window (a migration that fails) rolls everything back: the old
    // postgres serves again, vector is gone, the compose file is byte-identical, qdrant's
    // container is removed, the writers run again.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("0001_boom.up.sql"),
        "CREATE TABLE boom (id int);\nSELECT 1/0;\n",
    )
    .unwrap();
    std::fs::write(
        bad.path().join("0001_boom.down.sql"),
        "DROP TABLE IF EXISTS boom;\n",
    )
    .unwrap();
    let failed = Run::new(dir, &args)
        .target(GLIBC_AFTER)
        .env("CUTOVER_MIGRATIONS_DIR", &bad.path().to_string_lossy())
        .output();
    let out = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(out.contains("undone   Recreate postgres"), "{out}");
    let pg = stack.container("postgres");
    let image = docker(&["inspect", "-f", "{{.Config.Image}} {{.State.Running}}", &pg]);
    assert_eq!(image, format!("{GLIBC_BEFORE} true"));
    assert_eq!(std::fs::read(stack.compose_file()).unwrap(), compose_before);
    let after_rollback = containers(stack.project());
    assert!(
        !after_rollback.iter().any(|c| c.contains("qdrant")),
        "{after_rollback:?}"
    );
    assert!(
        after_rollback
            .iter()
            .any(|c| c.contains("running") && c.ends_with("-backend")),
        "{after_rollback:?}"
    );
    let db = stack.connect().await;
    let vector = db
        .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'vector'", &[])
        .await
        .unwrap();
    assert!(vector.is_none(), "vector dropped by the rollback");
    drop(db);

    // Now the deployment as it often is: the worker commented out of the file, not running.
    docker(&["rm", "-f", &stack.container("celery-worker")]);
    comment_out_service(&stack.compose_file(), "celery-worker");
    let plan = text(&Run::new(dir, &["plan"]).output());
    assert!(
        plan.contains("celery-worker: not in the compose file, will be skipped"),
        "{plan}"
    );
    let run = Run::new(dir, &args).target(GLIBC_AFTER).output();
    let out = text(&run);
    assert_eq!(run.status.code(), Some(0), "{out}");
    assert!(
        out.contains("celery-worker: no container: skipped"),
        "{out}"
    );
    let rep = report(&latest_run(dir));
    assert_eq!(rep["upgrade"]["skipped_services"][0], "celery-worker");
    assert!(
        rep["upgrade"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("celery-worker"),
        "{rep}"
    );
}

/// The "after" image claiming major 16 (`PG_MAJOR=16`), built locally from it (no registry).
fn pg16_image() -> String {
    let tag = "cutover-testbed/postgres-pg16:test";
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("docker build");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        // The pre-flight reads the major from `postgres --version` in the image (PG_MAJOR only
        // when there is no server binary): this stand-in's `postgres` says 16.
        .write_all(
            format!(
                "FROM {AFTER}\nENV PG_MAJOR=16\nRUN mkdir -p /opt/pg16 && printf \
                 '#!/bin/sh\\necho \"postgres (PostgreSQL) 16.4\"\\n' >/opt/pg16/postgres && \
                 chmod +x /opt/pg16/postgres\nENV PATH=/opt/pg16:/usr/local/sbin:/usr/local/bin:\
                 /usr/sbin:/usr/bin:/sbin:/bin\n"
            )
            .as_bytes(),
        )
        .unwrap();
    assert!(child.wait().unwrap().success(), "building {tag}");
    tag.to_string()
}

/// Comments out `service`'s block (its key line and every more-indented line after it).
fn comment_out_service(file: &Path, service: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == format!("  {service}:") {
            inside = true;
        } else if inside && !line.is_empty() && !line.starts_with("   ") {
            inside = false;
        }
        if inside && !line.is_empty() {
            out.push_str("# ");
        }
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(file, out).unwrap();
}
