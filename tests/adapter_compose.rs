//! The compose adapter on a privexbot-shaped file: the edit (snapshotted), idempotence, the
//! on-disk flow (backup, atomic replace keeping the mode, restore of the exact bytes), the
//! reader, YAML error positions, and acceptance of the result by the real `docker-compose`.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use cutover::adapters::compose::*;

const FIXTURE: &str = include_str!("fixtures/privexbot/docker-compose.yml");
const DOTENV: &str = include_str!("fixtures/privexbot/.env");

fn edit() -> PgvectorEdit {
    PgvectorEdit::new("pgvector/pgvector:pg16", "qdrant/qdrant:v1.12.4")
}

/// A temp project directory holding the fixture compose file and its `.env`.
fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(&compose, FIXTURE).unwrap();
    std::fs::write(dir.path().join(".env"), DOTENV).unwrap();
    (dir, compose)
}

#[test]
fn edit_sets_image_adds_qdrant_and_volume() {
    let out = edit_compose_text(FIXTURE, &edit()).unwrap();
    assert!(out.changed);
    insta::assert_snapshot!("privexbot_edited", out.text);
    insta::assert_debug_snapshot!("privexbot_changes", out.changes);
    validate_edit(FIXTURE, &out.text, &edit()).unwrap();
}

#[test]
fn edit_keeps_every_comment_line() {
    let out = edit_compose_text(FIXTURE, &edit()).unwrap();
    for line in FIXTURE.lines().filter(|l| l.contains('#')) {
        let kept = line.trim_start().starts_with("image: postgres") || out.text.contains(line);
        assert!(kept, "comment line lost: {line}");
    }
}

#[test]
fn edit_is_idempotent() {
    let once = edit_compose_text(FIXTURE, &edit()).unwrap();
    let twice = edit_compose_text(&once.text, &edit()).unwrap();
    assert!(!twice.changed, "{:?}", twice.changes);
    assert_eq!(twice.text, once.text);
}

#[test]
fn taken_ports_leave_qdrant_unpublished() {
    let mut e = edit();
    e.qdrant_ports = choose_qdrant_ports(&[6333]);
    assert!(e.qdrant_ports.is_empty());
    let out = edit_compose_text(FIXTURE, &e).unwrap();
    let project = parse_compose(&out.text, Default::default(), None).unwrap();
    assert!(project.service("qdrant").unwrap().ports.is_empty());

    e.qdrant_ports = vec![PortMapping {
        host: 16333,
        container: 6333,
        host_ip: cutover::adapters::compose::loopback(),
    }];
    let out = edit_compose_text(FIXTURE, &e).unwrap();
    let project = parse_compose(&out.text, Default::default(), None).unwrap();
    assert_eq!(
        project.service("qdrant").unwrap().ports,
        vec!["127.0.0.1:16333:6333"]
    );
}

#[test]
fn minimal_file_without_networks_or_volumes() {
    let text = "services:\n  postgres:\n    image: postgres:16-alpine\n";
    let out = edit_compose_text(text, &edit()).unwrap();
    insta::assert_snapshot!("minimal_edited", out.text);
    validate_edit(text, &out.text, &edit()).unwrap();
    let project = parse_compose(&out.text, Default::default(), None).unwrap();
    assert!(project.service("qdrant").unwrap().networks.is_empty());
    assert_eq!(project.volumes, vec!["qdrant_data"]);
}

#[test]
fn missing_postgres_service_names_the_services() {
    let err = edit_compose_text("services:\n  db:\n    image: postgres:16\n", &edit()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`postgres`") && msg.contains("db"), "{msg}");
}

#[test]
fn broken_yaml_reports_line_and_column() {
    let broken =
        "services:\n  postgres:\n    image: postgres:16-alpine\n    environment: [a, b\n  redis:\n";
    let err = edit_compose_text(broken, &edit()).unwrap_err();
    match &err {
        ComposeError::Yaml { line, column, .. } => {
            assert!(*line >= 4, "line {line}");
            assert!(*column >= 1, "column {column}");
        }
        other => panic!("expected a YAML error, got {other}"),
    }
    assert!(
        err.to_string().contains("line") && err.to_string().contains("column"),
        "{err}"
    );

    let err = parse_compose("a: b\n  c: d\n", Default::default(), None).unwrap_err();
    let ComposeError::Yaml {
        line: 2, column, ..
    } = err
    else {
        panic!("{err}")
    };
    assert!(column > 1);
}

#[test]
fn validation_rejects_changes_to_other_services() {
    let out = edit_compose_text(FIXTURE, &edit()).unwrap();
    let tampered = out
        .text
        .replace("redis-server --appendonly yes", "redis-server");
    let err = validate_edit(FIXTURE, &tampered, &edit()).unwrap_err();
    assert!(err.to_string().contains("service redis changed"), "{err}");
}

#[test]
fn reader_returns_services_networks_and_env() {
    let (_dir, compose) = project();
    let p = read_project(&compose).unwrap();
    let names: Vec<_> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["backend", "postgres", "redis", "frontend"]);
    let pg = p.service("postgres").unwrap();
    assert_eq!(pg.image.as_deref(), Some("postgres:16-alpine"));
    assert_eq!(pg.container_name.as_deref(), Some("privexbot-postgres"));
    assert_eq!(pg.networks, ["privexbot-network"]);
    assert_eq!(pg.environment["POSTGRES_USER"], "privexbot");
    assert_eq!(pg.environment["POSTGRES_PASSWORD"], "s3cr3t pass#word");
    assert_eq!(
        p.service("redis").unwrap().image.as_deref(),
        Some("redis:7-alpine")
    );
    assert_eq!(p.env["POSTGRES_DB"], "privexbot");
    // env_file values reach the service that names the file.
    assert_eq!(
        p.service("backend").unwrap().environment["SECRET_KEY"],
        "abc=def"
    );
    assert_eq!(p.volumes, ["postgres_data", "redis_data"]);
    // Debug never shows a secret.
    assert!(!format!("{p:?}").contains("s3cr3t"));
}

#[test]
fn apply_backs_up_replaces_atomically_and_restores_exact_bytes() {
    let (dir, compose) = project();
    std::fs::set_permissions(&compose, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run_dir = dir.path().join("run");

    let outcome = apply_pgvector_edit(&compose, &run_dir, &edit()).unwrap();
    assert!(outcome.changed);
    assert_eq!(
        std::fs::read(&outcome.backup.copy).unwrap(),
        FIXTURE.as_bytes()
    );
    assert_eq!(outcome.backup.sha256, sha256_hex(FIXTURE.as_bytes()));
    let edited = std::fs::read_to_string(&compose).unwrap();
    assert!(edited.contains("pgvector/pgvector:pg16"));
    assert_eq!(mode(&compose), 0o640);
    assert_no_temp_files(dir.path());

    // A resumed run: nothing is written and the original's copy is still the one reported.
    let again = apply_pgvector_edit(&compose, &run_dir, &edit()).unwrap();
    assert!(!again.changed);
    assert_eq!(again.backup, outcome.backup);
    // Backing up the edited file into the same run directory is refused rather than
    // overwriting the only pre-upgrade version.
    assert!(backup_compose_file(&compose, &run_dir).is_err());

    restore_compose_file(&outcome.backup).unwrap();
    assert_eq!(std::fs::read(&compose).unwrap(), FIXTURE.as_bytes());
    assert_eq!(mode(&compose), 0o640);
    // Restoring twice is a no-op.
    restore_compose_file(&outcome.backup).unwrap();

    // A tampered copy is refused and the target is left alone.
    std::fs::write(&outcome.backup.copy, "services: {}\n").unwrap();
    let err = restore_compose_file(&outcome.backup).unwrap_err();
    assert!(matches!(err, ComposeError::BackupChecksum { .. }), "{err}");
    assert_eq!(std::fs::read(&compose).unwrap(), FIXTURE.as_bytes());
}

#[test]
fn apply_on_an_already_edited_file_changes_nothing() {
    let (dir, compose) = project();
    let edited = edit_compose_text(FIXTURE, &edit()).unwrap().text;
    std::fs::write(&compose, &edited).unwrap();
    let outcome = apply_pgvector_edit(&compose, &dir.path().join("run"), &edit()).unwrap();
    assert!(!outcome.changed);
    assert_eq!(std::fs::read_to_string(&compose).unwrap(), edited);
}

#[test]
fn docker_compose_accepts_the_edited_file() {
    let Some(tool) = compose_tool() else { return };
    let (dir, compose) = project();
    let check = |path: &Path| {
        let out = Command::new(&tool[0])
            .args(&tool[1..])
            .arg("-f")
            .arg(path)
            .args(["config", "-q"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} rejected {}: {}",
            tool.join(" "),
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    check(&compose);
    apply_pgvector_edit(&compose, &dir.path().join("run"), &edit()).unwrap();
    check(&compose);
}

/// `docker-compose` (v1, Debian's) or `docker compose` (v2 plugin); None prints why the test is
/// skipped, except under CI where the tool is required.
fn compose_tool() -> Option<Vec<String>> {
    let works = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker-compose"]) {
        return Some(vec!["docker-compose".into()]);
    }
    if works(&["docker", "compose"]) {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but neither docker-compose nor `docker compose` works"
    );
    println!("SKIPPED: neither docker-compose nor `docker compose` is installed");
    None
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn assert_no_temp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "temp file left: {name}");
    }
}
