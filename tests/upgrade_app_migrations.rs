//! `migrations_command`: the app's own migrations, run in a one-off container from the
//! backend's image, against one real test-bed stack (the real binary, no registry).
//!
//! One stack, in the order a single stack allows (a completed upgrade cannot be failed again):
//! - `plan` shows the command (a secret-looking value redacted) instead of cutover's migration
//!   list; `migrations_dir` together with `migrations_command` is refused naming both keys;
//! - a failing command (`exit 7`, `boom` on stderr) fails the run with exit 1 and rolls it
//!   back (postgres on the before image again), the message carries the exit code and `boom`,
//!   the undo says the app's migrations cannot be undone and their schema changes stay, and no
//!   one-off container is left;
//! - a command that proves where it ran (the backend's env, postgres reachable by its service
//!   name on the stack's network) succeeds: exit 0, its lines in the run's cutover.log, a
//!   postgres on the after image, no one-off container left;
//! - `cutover rollback` of that run: the undo (no `migrations_down_command`) says the app's
//!   migrations cannot be undone and their schema changes stay on the same volume (output and
//!   report); postgres is on the before image again; no one-off left;
//! - upgraded again and rolled back with `migrations_down_command`: the undo runs it the same
//!   way (its lines show the backend's env and postgres reached by name); no one-off left.

mod support;

use std::path::Path;
use std::process::Output;

use support::cutover::{AFTER, BEFORE, Run, SIGN, latest_run, text};
use support::{Stack, docker};

/// The binary in `dir` with the test images, no registry, qdrant unpublished, plus `env`.
fn cutover(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    env.iter()
        .fold(Run::new(dir, args), |r, (k, v)| r.env(k, v))
        .output()
}

fn run(dir: &Path, command: &str) -> Output {
    let mut args = vec!["run", "--yes"];
    args.extend(SIGN);
    cutover(dir, &args, &[("CUTOVER_MIGRATIONS_COMMAND", command)])
}

/// Every one-off container of the project, and anything with the one-off's name.
fn oneoffs(project: &str) -> Vec<String> {
    let by_label = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=com.docker.compose.oneoff=True",
        "--format",
        "{{.Names}}",
    ]);
    let by_name = docker(&[
        "ps",
        "-a",
        "--filter",
        "name=cutover-migrations",
        "--format",
        "{{.Names}}",
    ]);
    by_label
        .lines()
        .chain(by_name.lines().filter(|n| n.starts_with(project)))
        .map(String::from)
        .collect()
}

fn postgres_image(stack: &Stack) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}} {{.State.Running}}",
        &stack.container("postgres"),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn the_apps_own_migrations_run_in_a_oneoff_from_the_backend_image() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up();
    let dir = stack.dir();
    let project = stack.project().to_string();

    // `plan` shows the command, redacted, and not cutover's own migrations.
    let plan = cutover(
        dir,
        &["plan"],
        &[(
            "CUTOVER_MIGRATIONS_COMMAND",
            "APP_SECRET=hunter2 alembic upgrade head",
        )],
    );
    let out = text(&plan);
    assert!(plan.status.success(), "{out}");
    assert!(
        out.contains("migrations_command `APP_SECRET=[redacted] alembic upgrade head`"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    assert!(!out.contains("migration 0001"), "{out}");
    assert!(
        out.contains("a fast rollback keeps the app's schema changes"),
        "{out}"
    );

    // Both ways at once are refused, naming both keys.
    let both = cutover(
        dir,
        &["plan"],
        &[
            ("CUTOVER_MIGRATIONS_COMMAND", "alembic upgrade head"),
            ("CUTOVER_MIGRATIONS_DIR", "/tmp"),
        ],
    );
    let out = text(&both);
    assert_eq!(both.status.code(), Some(2), "{out}");
    assert!(
        out.contains("migrations_dir") && out.contains("migrations_command"),
        "{out}"
    );

    // A failing command rolls the window back.
    let failed = run(dir, "bash -c 'echo boom >&2; exit 7'");
    let out = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("exited with code 7") && out.contains("boom"),
        "{out}"
    );
    assert!(out.contains("undone   Recreate postgres"), "{out}");
    assert!(
        out.contains("cannot be undone by cutover") && out.contains("schema change"),
        "{out}"
    );
    assert_eq!(postgres_image(&stack), format!("{BEFORE} true"));
    assert!(oneoffs(&project).is_empty(), "{:?}", oneoffs(&project));
    let report = std::fs::read_to_string(latest_run(dir).join("report.md")).unwrap();
    assert!(report.contains("cannot be undone by cutover"), "{report}");

    // A command that shows it ran in the backend's image, with its env, on its network.
    let ok = run(
        dir,
        "bash -c 'echo \"migrating $POSTGRES_DB\"; exec 3<>/dev/tcp/postgres/5432 && echo reached-postgres'",
    );
    let out = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{out}");
    assert!(out.contains("migrations | migrating privexbot"), "{out}");
    assert!(out.contains("migrations | reached-postgres"), "{out}");
    let log = std::fs::read_to_string(latest_run(dir).join("cutover.log")).unwrap();
    assert!(
        log.contains("migrations: migrating privexbot")
            && log.contains("migrations: reached-postgres"),
        "{log}"
    );
    assert_eq!(postgres_image(&stack), format!("{AFTER} true"));
    assert!(oneoffs(&project).is_empty(), "{:?}", oneoffs(&project));
    let rep = support::cutover::report(&latest_run(dir));
    let m = rep["upgrade"]["migrations"].to_string();
    assert!(
        m.contains("migrations_command") && m.contains("exit code 0"),
        "{m}"
    );

    // A fast rollback of the completed run: the undo cannot undo the app's migrations and says
    // that their schema changes stay; the old postgres serves again; no one-off is left.
    let back = cutover(
        dir,
        &["rollback", "--yes"],
        &[("CUTOVER_MIGRATIONS_COMMAND", "bash -c 'exit 0'")],
    );
    let out = text(&back);
    assert_eq!(
        back.status.code(),
        Some(0),
        "a completed rollback is exit 0: {out}"
    );
    assert!(
        out.contains("cannot be undone by cutover")
            && out.contains("on the same data volume")
            && out.contains("schema changes the command made stay"),
        "{out}"
    );
    assert_eq!(postgres_image(&stack), format!("{BEFORE} true"));
    assert!(oneoffs(&project).is_empty(), "{:?}", oneoffs(&project));
    let report = std::fs::read_to_string(latest_run(dir).join("report.md")).unwrap();
    assert!(
        report.contains("schema changes the command made stay"),
        "{report}"
    );
    // Upgraded again, then rolled back with a `migrations_down_command`: the undo runs it in a
    // one-off the same way (the backend's env, postgres by name), and removes it.
    let again = run(dir, "bash -c 'echo up-again'");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let back = cutover(
        dir,
        &["rollback", "--yes"],
        &[
            ("CUTOVER_MIGRATIONS_COMMAND", "bash -c 'exit 0'"),
            (
                "CUTOVER_MIGRATIONS_DOWN_COMMAND",
                "bash -c 'echo \"downgrading $POSTGRES_DB\"; exec 3<>/dev/tcp/postgres/5432 && echo down-reached-postgres'",
            ),
        ],
    );
    let out = text(&back);
    assert_eq!(
        back.status.code(),
        Some(0),
        "a completed rollback is exit 0: {out}"
    );
    assert!(
        out.contains("migrations | downgrading privexbot")
            && out.contains("migrations | down-reached-postgres")
            && !out.contains("cannot be undone by cutover"),
        "{out}"
    );
    assert!(
        out.contains("undone   Apply the schema migrations"),
        "{out}"
    );
    assert_eq!(postgres_image(&stack), format!("{BEFORE} true"));
    assert!(oneoffs(&project).is_empty(), "{:?}", oneoffs(&project));
}
