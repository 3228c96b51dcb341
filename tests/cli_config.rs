//! Configuration errors name the key and where it came from; secrets are redacted.

use std::path::Path;
use std::process::{Command, Output};

fn cutover(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stack() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("docker-compose.yml"), "services: {}\n").unwrap();
    tmp
}

#[test]
fn an_unknown_key_names_file_and_line() {
    let tmp = stack();
    std::fs::write(
        tmp.path().join("cutover.toml"),
        "database = \"privexbot\"\n\ncolour = \"blue\"\n",
    )
    .unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cutover.toml:3: unknown key `colour`"),
        "{err}"
    );
}

#[test]
fn a_bad_value_names_file_line_and_key() {
    let tmp = stack();
    std::fs::write(
        tmp.path().join("cutover.toml"),
        "# comment\nauto_rollback = \"sometimes\"\n",
    )
    .unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cutover.toml:2: bad value for key `auto_rollback`"),
        "{err}"
    );
}

#[test]
fn a_bad_environment_variable_is_named() {
    let tmp = stack();
    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_DATABSE", "x")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CUTOVER_DATABSE: unknown key `databse`")
    );
}

#[test]
fn layers_override_in_order_and_secrets_are_redacted() {
    let tmp = stack();
    std::fs::write(
        tmp.path().join("cutover.toml"),
        "database = \"fromfile\"\nproject = \"fromfile\"\ndb_password = \"hunter2\"\n",
    )
    .unwrap();
    let out = cutover(
        tmp.path(),
        &["config", "--print", "--project", "fromflag"],
        &[("CUTOVER_DATABASE", "fromenv")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("database = \"fromenv\"  # environment"),
        "{text}"
    );
    assert!(
        text.contains("project = \"fromflag\"  # command line"),
        "{text}"
    );
    assert!(
        text.contains("target_image = \"pgvector/pgvector:pg16\"  # default"),
        "{text}"
    );
    assert!(text.contains("db_password = \"[redacted]\""), "{text}");
    assert!(!text.contains("hunter2"));
}

#[test]
fn no_compose_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cutover(tmp.path(), &["plan"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no compose file"));
}

#[test]
fn the_apps_migrations_command_excludes_migrations_dir_and_is_printed_redacted() {
    let tmp = stack();
    std::fs::write(
        tmp.path().join("cutover.toml"),
        "migrations_dir = \"db\"\nmigrations_command = \"alembic upgrade head\"\n",
    )
    .unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`migrations_dir`")
            && err.contains("`migrations_command`")
            && err.contains("mutually exclusive"),
        "{err}"
    );

    std::fs::write(
        tmp.path().join("cutover.toml"),
        "migrations_down_command = \"alembic downgrade base\"\n",
    )
    .unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad value for key `migrations_down_command`")
            && err.contains("needs `migrations_command`"),
        "{err}"
    );

    std::fs::write(
        tmp.path().join("cutover.toml"),
        "migrations_command = \"DB_PASSWORD=hunter2 alembic upgrade head\"\n",
    )
    .unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("migrations_command = \"DB_PASSWORD=[redacted] alembic upgrade head\"")
            && !printed.contains("hunter2"),
        "{printed}"
    );
}

#[test]
fn the_backend_health_url_is_optional_and_a_bad_one_is_refused_once() {
    let tmp = stack();
    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_BACKEND_SERVICE", "api")],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // Unset: read from the backend's compose healthcheck, else http://<backend>:8000/health.
    assert!(text.contains("# backend_health_url is not set"), "{text}");
    assert!(
        text.contains("backend_health_status = \"healthy\""),
        "{text}"
    );

    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_BACKEND_HEALTH_URL", "https://api/healthz")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("bad value for key `backend_health_url` (from environment)")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains("only http://"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn database_and_user_are_unset_unless_given_and_then_printed() {
    let tmp = stack();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("# database is not set"), "{text}");
    assert!(text.contains("# db_user is not set"), "{text}");
    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_DATABASE", "app"), ("CUTOVER_DB_USER", "owner")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("database = \"app\"  # environment"), "{text}");
    assert!(
        text.contains("db_user = \"owner\"  # environment"),
        "{text}"
    );
}

#[test]
fn rehearse_app_is_off_by_default_and_set_from_the_file_or_the_environment() {
    let tmp = stack();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("rehearse_app = false  # default"), "{said}");

    std::fs::write(tmp.path().join("cutover.toml"), "rehearse_app = true\n").unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("rehearse_app = true  # "), "{said}");

    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_REHEARSE_APP", "no")],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("rehearse_app = false  # "), "{said}");

    let out = cutover(
        tmp.path(),
        &["config", "--print"],
        &[("CUTOVER_REHEARSE_APP", "maybe")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "CUTOVER_REHEARSE_APP: bad value for key `rehearse_app`: expected true or false"
        ),
        "{err}"
    );
    std::fs::write(tmp.path().join("cutover.toml"), "rehearse_app = \"yes\"\n").unwrap();
    let out = cutover(tmp.path(), &["config", "--print"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cutover.toml:1: bad value for key `rehearse_app`"),
        "{err}"
    );
}
