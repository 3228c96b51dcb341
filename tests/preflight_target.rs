//! The pre-flight asks the target image itself, in a throwaway container, whether it can run
//! this cluster, and refuses (exit 2) before anything is stopped when it cannot:
//! - an "after" image lacking the cluster's locale (here: its compiled locale removed);
//! - an "after" image lacking a library the cluster preloads (`pg_stat_statements.so` removed);
//! - and it accepts a target whose tag looks like a version but is not
//!   (`…:487fda13df613da6`), reading the major from `postgres --version` inside it.
//!
//! The broken images are built here with `docker build` FROM the test bed's "after" image, with
//! the postgres user moved to uid 999 as in the official Debian images, so a chown that
//! happened would show in the data directory's owner. Each test also shows the unguarded path
//! breaking: the broken image really cannot start a server with that setting.

mod support;

use std::process::{Command, Stdio};

use support::cutover::{AFTER, Run, containers, latest_run, text};
use support::{Stack, docker};

/// A locally built variant of the "after" image, removed on drop.
struct Variant {
    tag: String,
}

impl Variant {
    /// `FROM <after>` + `RUN <run>`, tagged `cutover-pftest/<name>-<pid>:latest`.
    fn build(name: &str, run: &str) -> Variant {
        let tag = format!("cutover-pftest/{name}-{}:latest", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {AFTER}\nRUN {run}\n"),
        )
        .unwrap();
        let out = Command::new("docker")
            .args(["build", "-q", "-t", &tag])
            .arg(dir.path())
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker build {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Variant { tag }
    }

    /// Runs `script` as the postgres user in a throwaway container of the variant, on a fresh
    /// data directory of its own (never the stack's); returns its output.
    fn try_server(&self, script: &str) -> String {
        let out = Command::new("docker")
            .args(["run", "--rm", "--network", "none", "--user", "postgres"])
            .args(["--entrypoint", "sh", &self.tag, "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

impl Drop for Variant {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Postgres at uid/gid 999, as in the official Debian-based images.
const UID_999: &str = "groupmod -g 999 postgres && usermod -u 999 -g 999 postgres";

/// Starts a throwaway server on a fresh data directory with `-c <setting>` and gives it 3 s:
/// a setting the image cannot honour ends it with a FATAL at once.
fn start_with(setting: &str) -> String {
    format!(
        "initdb -D /tmp/d --locale=C >/dev/null 2>&1 && \
         timeout 3 postgres -D /tmp/d -c listen_addresses='' -c {setting}; echo exit=$?"
    )
}

/// Owner uid of the data directory inside the postgres container.
fn data_owner(stack: &Stack) -> String {
    docker(&[
        "exec",
        &stack.container("postgres"),
        "sh",
        "-c",
        "stat -c %u \"${PGDATA:-/var/lib/postgresql/data}\"",
    ])
}

/// No probe container of `image` is left, running or not.
fn assert_no_probe_left(image: &str) {
    let left = docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        "label=io.cutover.probe",
        "--filter",
        &format!("ancestor={image}"),
    ]);
    assert!(left.is_empty(), "probe containers left: {left}");
}

/// Runs the upgrade against `image` and asserts it was refused in pre-flight by `step`, with
/// every container as it was and the data directory's owner unchanged; returns the output.
fn assert_refused(stack: &Stack, image: &str, step: &str) -> String {
    let before = containers(stack.project());
    let owner = data_owner(stack);
    let out = Run::upgrade(stack.dir()).target(image).output();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "exit 2 expected:\n{said}");
    assert!(said.contains(step), "refused by {step}:\n{said}");
    assert_eq!(
        containers(stack.project()),
        before,
        "nothing stopped, removed or replaced"
    );
    assert_eq!(data_owner(stack), owner, "nothing chowned");
    assert_no_probe_left(image);
    said
}

#[tokio::test]
async fn an_after_image_without_the_clusters_locale_is_refused_before_anything_stops() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up();
    let db = stack.connect().await;
    let locale: String = db
        .query_one(
            "SELECT datcollate::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // The configuration names it too (postgresql.auto.conf), as an operator's would.
    db.batch_execute(&format!("ALTER SYSTEM SET lc_monetary = '{locale}'"))
        .await
        .unwrap();
    // glibc finds `en_US.UTF-8` in /usr/lib/locale/en_US.utf8: remove it under that name.
    let (lang, codeset) = locale.split_once('.').unwrap_or((&locale, ""));
    let dir = format!(
        "/usr/lib/locale/{lang}.{}",
        codeset
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    );
    let broken = Variant::build(
        "after-no-locale",
        &format!("rm -rf {dir} /usr/lib/locale/locale-archive && {UID_999}"),
    );
    let unguarded = broken.try_server(&start_with(&format!("lc_messages={locale}")));
    assert!(
        unguarded.contains("invalid value for parameter \"lc_messages\""),
        "the broken image really cannot start a server with lc_messages={locale}:\n{unguarded}"
    );

    let said = assert_refused(&stack, &broken.tag, "locales");
    assert!(said.contains(&locale), "names the locale:\n{said}");
    assert!(
        said.contains("postgresql.auto.conf"),
        "names where it is used:\n{said}"
    );
    assert!(said.contains("localedef"), "says the fix:\n{said}");
}

#[tokio::test]
async fn an_after_image_without_a_preloaded_library_is_refused_before_anything_stops() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up();
    let db = stack.connect().await;
    db.batch_execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        .await
        .unwrap();
    drop(db);
    // The running server really preloads it.
    let restarted = stack.compose(&["restart", "postgres"]);
    assert!(restarted.status.success(), "restart postgres");
    let preloaded = support::wait_for("postgres back", std::time::Duration::from_secs(60), || {
        let stack = &stack;
        async move {
            let db = support::connect_pg(stack.postgres_ip(), stack.password())
                .await
                .ok()?;
            let row = db
                .query_one("SHOW shared_preload_libraries", &[])
                .await
                .ok()?;
            Some(row.get::<_, String>(0))
        }
    })
    .await;
    assert_eq!(preloaded, "pg_stat_statements");

    let broken = Variant::build(
        "after-no-pgss",
        &format!("rm -f \"$(pg_config --pkglibdir)/pg_stat_statements.so\" && {UID_999}"),
    );
    let unguarded = broken.try_server(&start_with("shared_preload_libraries=pg_stat_statements"));
    assert!(
        unguarded.contains("could not access file \"pg_stat_statements\""),
        "the broken image really cannot start with the library preloaded:\n{unguarded}"
    );

    let said = assert_refused(&stack, &broken.tag, "preload-libraries");
    assert!(
        said.contains("pg_stat_statements (shared_preload_libraries in postgresql.auto.conf)"),
        "names the library and where it is set:\n{said}"
    );
}

#[tokio::test]
async fn a_hash_tag_is_no_version_the_major_is_read_from_the_image() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up();
    let tag = format!(
        "cutover-pftest/after-hash-{}:487fda13df613da6",
        std::process::id()
    );
    docker(&["tag", AFTER, &tag]);
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = Command::new("docker")
                .args(["rmi", &self.0])
                .stdout(Stdio::null())
                .status();
        }
    }
    let _untag = Untag(tag.clone());
    let before = containers(stack.project());
    // Stop the process right after the last pre-flight check: the pre-flight is what is
    // under test, and nothing may have been touched by then.
    let out = Run::upgrade(stack.dir())
        .target(&tag)
        .fault(Some("kill-after:sessions"))
        .output();
    assert_eq!(containers(stack.project()), before, "nothing touched");
    assert_no_probe_left(&tag);
    let journal = std::fs::read_to_string(latest_run(stack.dir()).join("journal.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let finished = |step: &str| {
        records
            .iter()
            .any(|r| r["type"] == "step_finished" && r["step"] == step)
    };
    for step in ["target-probe", "major-version", "locales", "sessions"] {
        assert!(finished(step), "{step} passed:\n{}", text(&out));
    }
    let probe = records
        .iter()
        .rev()
        .find(|r| r["type"] == "step_output" && r["step"] == "target-probe")
        .expect("target-probe output");
    let version = probe["output"]["target"]["postgres_version"]
        .as_str()
        .unwrap_or_default();
    let data_major = docker(&[
        "exec",
        &stack.container("postgres"),
        "sh",
        "-c",
        "cat \"${PGDATA:-/var/lib/postgresql/data}/PG_VERSION\"",
    ]);
    assert!(
        version.starts_with(&format!("postgres (PostgreSQL) {data_major}.")),
        "the major comes from `postgres --version` in the image: {version:?}"
    );
    let id = docker(&["image", "inspect", "-f", "{{.Id}}", &tag]);
    assert_eq!(probe["output"]["target"]["image_id"], id.as_str(), "pinned");
}
