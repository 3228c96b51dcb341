//! `cutover plan` for the built-in pgvector upgrade, on the test bed's compose file: a reviewed
//! snapshot naming the concrete containers, images, files and tables, built without Docker and
//! changing nothing on disk. The configuration keys the upgrade added are checked here too.

use std::path::Path;
use std::process::{Command, Output};

fn cutover(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        // No engine needed: point at one that does not exist.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A stack directory like the test bed's: its compose file and an .env naming the project.
fn stack(worker: bool) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let mut file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testbed/stack/compose.yaml"
    ))
    .unwrap();
    if !worker {
        let start = file.find("  celery-worker:").unwrap();
        let end = file.find("\nnetworks:").unwrap();
        file.replace_range(start..end + 1, "");
    }
    std::fs::write(tmp.path().join("compose.yaml"), file).unwrap();
    std::fs::write(
        tmp.path().join(".env"),
        "COMPOSE_PROJECT_NAME=privexbot\nPOSTGRES_PASSWORD=not-printed\n",
    )
    .unwrap();
    tmp
}

#[test]
fn the_pgvector_plan_names_what_it_touches() {
    let tmp = stack(true);
    let out = cutover(
        tmp.path(),
        &["plan", "--target-image", "pgvector/pgvector:pg16"],
        &[("CUTOVER_QDRANT_PORTS", "6333:6333,6334:6334")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(tmp.path().to_str().unwrap(), "[STACK]");
    assert!(!text.contains("not-printed"), "no secret in the plan");
    insta::assert_snapshot!(text);
    let mut left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, [".env", "compose.yaml"], "plan creates nothing");
}

#[test]
fn a_worker_missing_from_the_file_is_listed_as_skipped() {
    let tmp = stack(false);
    let out = cutover(tmp.path(), &["plan"], &[("CUTOVER_QDRANT_PORTS", "none")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("celery-worker: not in the compose file, will be skipped"));
    assert!(!text.contains("privexbot-celery-worker (stop)"), "{text}");
    assert!(text.contains("ports unpublished"), "{text}");
}

#[test]
fn the_upgrade_keys_have_defaults_and_are_validated() {
    let tmp = stack(true);
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "project = \"privexbot\"  # COMPOSE_PROJECT_NAME in .env",
        "pull_policy = \"missing\"  # default",
        "extra_writer_services = []  # default",
        "collation_policy = \"auto\"  # default",
        "rollback_check = \"rows\"  # default",
        "qdrant_ports = \"auto\"  # default",
        "ready_timeout_secs = 120  # default",
        "stop_timeout_secs = 30  # default",
        "# migrations_dir is not set",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let out = cutover(
        tmp.path(),
        &["config", "--print", "--pull", "never"],
        &[("CUTOVER_EXTRA_WRITER_SERVICES", "scheduler, flower")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pull_policy = \"never\"  # command line"),
        "{text}"
    );
    assert!(
        text.contains("extra_writer_services = [\"scheduler\", \"flower\"]"),
        "{text}"
    );

    for (var, value, says) in [
        ("CUTOVER_COLLATION_POLICY", "sometimes", "collation_policy"),
        (
            "CUTOVER_ROLLBACK_CHECK",
            "thorough",
            "is not one of rows, contents",
        ),
        ("CUTOVER_QDRANT_PORTS", "6333", "HOST:CONTAINER"),
        ("CUTOVER_READY_TIMEOUT_SECS", "0", "at least 1 second"),
        ("CUTOVER_STOP_TIMEOUT_SECS", "soon", "whole number"),
        (
            "CUTOVER_PULL_POLICY",
            "sometimes",
            "always, missing or never",
        ),
        (
            "CUTOVER_EXTRA_WRITER_SERVICES",
            "postgres",
            "the database itself",
        ),
    ] {
        let out = cutover(tmp.path(), &["config", "--print"], &[(var, value)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert!(err.contains(says), "{var}={value}: {err}");
    }
}
