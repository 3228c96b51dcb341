//! Secrets never leave their place: with the stack's distinctive password (random, from its
//! `.env`) and a second one given to cutover as `CUTOVER_DB_PASSWORD`, a rolled-back run and a
//! full upgrade are made; then every artifact is searched for either: stdout and stderr of
//! every command, every file under `.cutover/` (journal, reports, cutover's log, captured
//! container logs, the backup), `cutover report` (Markdown and JSON), `cutover status` and
//! `cutover config --print`. Backups must be 0600 in a 0700 run directory. The backend also
//! gets the password inside a `DATABASE_URL`, which a failing migrations command prints.
//!
//! A second test keeps postgres's password and user in Compose secrets (`*_FILE`), in no
//! environment and not given to cutover: the rehearsal, the upgrade and the rollback read them
//! where they lie, and no file under `.cutover/` holds the password afterwards (the
//! rehearsal's included).

mod fault_support;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fault_support::{AFTER, Run, World, assert_restored, build_image, has_vector, text};
use support::Stack;

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// No file of `files` holds `secret`.
fn assert_in_no_file(files: &[PathBuf], secret: &str) {
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !contains(&bytes, secret),
            "the password appears in {}",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_any_artifact() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let exits = build_image(
        "cutover-test/postgres-exits:test",
        &format!(
            "FROM {AFTER}\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo 'fault image: exiting' >&2; exit 1\"]\nCMD []\n"
        ),
    );
    let stack = Stack::up_seeded(20);
    let dir = stack.dir();
    let password = stack.password().to_string();
    assert!(password.len() >= 16, "a distinctive password");
    let mut said = Vec::new();

    // A failed window, rolled back (error paths print the most), then a full upgrade, both
    // with the real password also set as configuration (it then wins over the container's).
    let failed = Run::upgrade(dir)
        .target(&exits)
        .env("CUTOVER_DB_PASSWORD", &password)
        .env("CUTOVER_READY_TIMEOUT_SECS", "6")
        .output();
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    said.push(("failed run", text(&failed)));
    // The app's own migrations print the backend's DATABASE_URL (the password inside a URL)
    // and the bare password, then fail: name-based redaction alone lets both through.
    let leaky = Run::upgrade(dir)
        .env(
            "CUTOVER_MIGRATIONS_COMMAND",
            "echo \"connecting to $DATABASE_URL\"; echo \"using $POSTGRES_PASSWORD\" >&2; exit 3",
        )
        .output();
    assert_eq!(leaky.status.code(), Some(1), "{}", text(&leaky));
    assert!(
        text(&leaky).contains("connecting to postgresql://privexbot:[redacted]@postgres"),
        "the URL is shown with its password hidden: {}",
        text(&leaky)
    );
    said.push(("failed migrations", text(&leaky)));
    let done = Run::upgrade(dir)
        .env("CUTOVER_DB_PASSWORD", &password)
        .arg("--json")
        .output();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    said.push(("upgrade", text(&done)));
    for args in [
        &["report"][..],
        &["report", "--json"],
        &["status"],
        &["config", "--print"],
        &["plan"],
    ] {
        let out = Run::new(dir, args)
            .env("CUTOVER_DB_PASSWORD", &password)
            .output();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        said.push((args[0], text(&out)));
    }
    let printed = &said.iter().find(|(w, _)| *w == "config").unwrap().1;
    assert!(
        printed.contains("db_password = \"[redacted]\""),
        "{printed}"
    );
    for (what, out) in &said {
        assert!(!out.contains(&password), "the password appears in {what}");
    }

    // The backend prints its DATABASE_URL and the bare password into its own log while the
    // upgrade stands; the rollback then keeps the window's container logs (from the run's
    // start), and they must hold that line, redacted.
    let backend = stack.container("backend");
    support::docker(&[
        "exec",
        &backend,
        "sh",
        "-c",
        "echo \"leak-check url=$DATABASE_URL pw=$POSTGRES_PASSWORD\" > /proc/1/fd/1",
    ]);
    let back = Run::new(dir, &["rollback", "--yes"]).output();
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert!(
        !text(&back).contains(&password),
        "the password appears in the rollback"
    );

    let cutover_dir = dir.join(".cutover");
    let all = files(&cutover_dir);
    let leak_lines: Vec<String> = all
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("logs")))
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("leak-check"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        leak_lines.iter().any(
            |l| l.contains("url=postgresql://privexbot:[redacted]@postgres")
                && l.contains("pw=[redacted]")
        ),
        "the backend's line is kept, redacted: {leak_lines:?}"
    );
    assert!(
        all.iter()
            .any(|f| f.parent().is_some_and(|p| p.ends_with("logs"))),
        "the window's container logs are kept: {all:?}"
    );
    assert!(
        all.iter().any(|f| f.ends_with("journal.jsonl"))
            && all.iter().any(|f| f.ends_with("report.json"))
            && all
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == "dump")),
        "the artifacts exist: {all:?}"
    );
    assert_in_no_file(&all, &password);

    // Backups 0600, in a 0700 run directory.
    for f in all
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "dump"))
    {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
        let parent = f.parent().unwrap();
        let mode = std::fs::metadata(parent).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", parent.display());
    }
}

/// The postgres service's environment in the test bed's compose file, and the same with the
/// user and the password taken from Compose secrets, as an operator who keeps them out of every
/// environment writes it.
const ENV_PLAIN: &str = "      POSTGRES_USER: privexbot
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_DB: privexbot
    volumes:";
const ENV_SECRETS: &str = "      POSTGRES_USER_FILE: /run/secrets/pg_user
      POSTGRES_PASSWORD_FILE: /run/secrets/pg_password
      POSTGRES_DB: privexbot
    secrets:
      - pg_user
      - pg_password
    volumes:";
const SECRETS: &str = "
secrets:
  pg_user:
    file: ./pg_user.txt
  pg_password:
    file: ./pg_password.txt
";

/// Unguarded (the `*_FILE` settings not read), this run stops at its first login with "no
/// database password for …", before anything is touched: checked by hand when this was written.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_kept_in_a_compose_secret_is_read_where_it_lies() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let password = format!("secret-file-{nanos:x}");
    let compose = Stack::template().replace(ENV_PLAIN, ENV_SECRETS) + SECRETS;
    assert!(
        compose.contains("POSTGRES_PASSWORD_FILE"),
        "the variant applies"
    );
    // The backend still gets the password from .env; postgres only from the file, which ends
    // in a newline as an editor leaves it (the entrypoint drops it; so must cutover).
    let stack = Stack::up_with_files(
        20,
        &[
            ("compose.yaml", &compose),
            (
                ".env",
                &format!("COMPOSE_PROJECT_NAME=x\nPOSTGRES_PASSWORD={password}\n"),
            ),
            ("pg_password.txt", &format!("{password}\n")),
            ("pg_user.txt", "privexbot\n"),
        ],
    );
    let dir = stack.dir();
    // Readable by root alone, as a careful operator leaves a secret.
    std::fs::set_permissions(
        dir.join("pg_password.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let pg = stack.container("postgres");
    let pg_env = support::docker(&["inspect", "-f", "{{json .Config.Env}}", &pg]);
    assert!(
        pg_env.contains("POSTGRES_PASSWORD_FILE=/run/secrets/pg_password")
            && !pg_env.contains(&password)
            && !pg_env.contains("POSTGRES_USER="),
        "postgres has its password and user in files only: {pg_env}"
    );
    let before = World::of(&stack);
    let pg_id = stack.container_id("postgres");

    // The rehearsal's copy cannot mount the live stack's secrets: it gets the values.
    let rehearsed = Run::new(dir, &["rehearse"]).output();
    assert_eq!(rehearsed.status.code(), Some(0), "{}", text(&rehearsed));
    assert!(
        text(&rehearsed).contains("Rehearsal PASSED"),
        "{}",
        text(&rehearsed)
    );
    let done = Run::upgrade(dir).output();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let image = support::docker(&["inspect", "-f", "{{.Config.Image}}", &pg]);
    assert_eq!(image, AFTER, "postgres runs the new image");
    assert!(has_vector(&stack).await, "vector is enabled");
    let back = Run::new(dir, &["rollback", "--yes"]).output();
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_restored(&stack, &before, &pg_id, &text(&back));

    for (what, out) in [
        ("rehearsal", &rehearsed),
        ("upgrade", &done),
        ("rollback", &back),
    ] {
        assert!(
            !text(out).contains(&password),
            "the password appears in the {what}"
        );
    }
    assert_in_no_file(&files(&dir.join(".cutover")), &password);
}
