//! The shaped images (testbed/lib/shaped.sh) against a real Docker Engine: they reproduce what
//! they stand for, and the hazard they exist for is real on them.
//!
//! - `stand_ins_reproduce_what_they_stand_for`: measured inside each image, not read from its
//!   recipe: the postgres uid/gid (70 Alpine, 999 Debian), the cluster's locale (`en_US.utf8`
//!   exists in both; a fresh Alpine-shaped cluster gets it for collate, ctype and lc_*), the
//!   collation order by `ORDER BY` (the Alpine-shaped one is code point order on a few hundred
//!   generated strings, as musl's is; the Debian-shaped one is glibc's en_US order), and the
//!   entrypoint's chown: each image, started as root on the other's volume, takes every file
//!   of PGDATA over (so a rollback to the Alpine image gets uid 70 back by itself).
//! - `the_entrypoint_reads_its_settings_from_files_as_upstream`: `POSTGRES_PASSWORD_FILE` and
//!   `POSTGRES_USER_FILE` (Compose secrets) initialise the cluster, the file's trailing newline
//!   dropped, and a setting given both ways is refused, as the official entrypoint does.
//! - `the_alpine_volume_on_the_debian_image_has_broken_indexes`: the upgrade as the guide does
//!   it (same volume, new image, nothing else) starts silently, and then amcheck fails and an
//!   index scan answers differently from a sequential scan. This is what cutover's collation
//!   step must repair, and the proof that the end-to-end checks can fail.

mod support;

use std::time::Duration;

use support::collation::{amcheck_failures, disagreeing_queries, index_vs_seq};
use support::cutover::{AFTER, BEFORE};
use support::{Scratch, Stack, docker, logs, require_docker, wait_for};

/// The words of the issue, and their order under musl's en_US.utf8 (code point) and glibc's
/// en_US.UTF-8.
const WORDS: [&str; 11] = ["a", "A", "Á", "b", "B", "c", "e", "é", "Eb", "_x", "Z"];
const MUSL_ORDER: [&str; 11] = ["A", "B", "Eb", "Z", "_x", "a", "b", "c", "e", "Á", "é"];
const GLIBC_ORDER: [&str; 11] = ["a", "A", "Á", "b", "B", "c", "e", "é", "Eb", "_x", "Z"];

/// A PostgreSQL container of `image` on the named volume, started as the image starts it.
fn start_pg(scratch: &Scratch, image: &str, volume: &str, name: &str) -> String {
    let name = format!("{}-{name}", scratch.project);
    let labels = scratch.label_args();
    let mount = format!("{volume}:/var/lib/postgresql/data");
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend(labels.iter().map(String::as_str));
    args.extend(["-e", "POSTGRES_PASSWORD=shaped-test", "-v", &mount, image]);
    docker(&args);
    name
}

/// Waits until the server (not the entrypoint's private first-run one) accepts queries.
async fn wait_ready(container: &str) {
    wait_for(
        &format!("{container} to be ready"),
        Duration::from_secs(60),
        || async {
            let log = logs(container);
            let tail = match log.rfind("initialisation complete") {
                Some(i) => &log[i..],
                None if log.contains("initialising") => "",
                None => &log[..],
            };
            (tail.contains("ready to accept connections")).then_some(())
        },
    )
    .await;
}

/// `psql -At` as postgres inside the container; one output line per row.
fn psql(container: &str, sql: &str) -> Vec<String> {
    docker(&[
        "exec", container, "psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", sql,
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// The strings sorted by the server's default collation.
fn order_by(container: &str, words: &[String]) -> Vec<String> {
    let values: Vec<String> = words
        .iter()
        .map(|w| format!("('{}')", w.replace('\'', "''")))
        .collect();
    psql(
        container,
        &format!(
            "SELECT v FROM (VALUES {}) AS t(v) ORDER BY v",
            values.join(",")
        ),
    )
}

/// A few hundred short strings over case, accents, punctuation and digits (deterministic).
fn generated_words() -> Vec<String> {
    let alphabet: Vec<char> = "aAáÁbBeEéÉzZ_-.09ßø".chars().collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..300)
        .map(|_| {
            let len = 1 + (next() % 4) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}

fn uid_gid(container: &str) -> (String, String) {
    (
        docker(&["exec", container, "id", "-u", "postgres"]),
        docker(&["exec", container, "id", "-g", "postgres"]),
    )
}

/// Owners (uid) of PGDATA's files, distinct.
fn pgdata_owners(container: &str) -> Vec<String> {
    let out = docker(&[
        "exec",
        container,
        "sh",
        "-c",
        "find \"$PGDATA\" -printf '%U\\n' | sort -u",
    ]);
    out.lines().map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stand_ins_reproduce_what_they_stand_for() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let scratch = Scratch::new();
    let labels = scratch.label_args();
    let volume = format!("{}-data", scratch.project);
    let mut args = vec!["volume", "create"];
    args.extend(labels.iter().map(String::as_str));
    args.push(&volume);
    docker(&args);
    let words: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    let generated = generated_words();

    // The Alpine-shaped image, on a fresh volume.
    let alpine = start_pg(&scratch, BEFORE, &volume, "alpine");
    wait_ready(&alpine).await;
    assert_eq!(uid_gid(&alpine), ("70".into(), "70".into()));
    assert_eq!(
        pgdata_owners(&alpine),
        ["70"],
        "a fresh cluster is the user's"
    );
    let locales = docker(&["exec", &alpine, "locale", "-a"]);
    assert!(locales.lines().any(|l| l == "en_US.utf8"), "{locales}");
    assert_eq!(
        psql(
            &alpine,
            "SELECT datcollate || ' ' || datctype FROM pg_database WHERE datname = 'postgres'"
        ),
        ["en_US.utf8 en_US.utf8"],
        "initialised with --locale=en_US.utf8, as the Alpine image's users get"
    );
    assert_eq!(psql(&alpine, "SHOW lc_messages"), ["en_US.utf8"]);
    assert_eq!(order_by(&alpine, &words), MUSL_ORDER);
    // musl's en_US.utf8 is code point order: so is the stand-in's, on every generated string.
    let mut by_code_point = generated.clone();
    by_code_point.sort();
    assert_eq!(order_by(&alpine, &generated), by_code_point);
    docker(&["stop", &alpine]);

    // The Debian-shaped image on the Alpine-shaped volume: its entrypoint, as root, chowns
    // every file to its own postgres (999), and it starts.
    let debian = start_pg(&scratch, AFTER, &volume, "debian");
    wait_ready(&debian).await;
    assert_eq!(uid_gid(&debian), ("999".into(), "999".into()));
    assert_eq!(
        pgdata_owners(&debian),
        ["999"],
        "taken over by the entrypoint"
    );
    let locales = docker(&["exec", &debian, "locale", "-a"]);
    assert!(locales.lines().any(|l| l == "en_US.utf8"), "{locales}");
    // A real glibc en_US: the order, and not code point order.
    assert_eq!(order_by(&debian, &words), GLIBC_ORDER);
    assert_ne!(order_by(&debian, &generated), by_code_point);
    assert_eq!(
        psql(&debian, "SELECT 'a' < 'B', 'Z' < 'a', '_x' < 'a'"),
        ["t|f|f"]
    );
    docker(&["stop", &debian]);

    // Back on the Alpine-shaped image (a rollback): its entrypoint takes the files back to 70.
    docker(&["rm", &alpine]);
    let alpine = start_pg(&scratch, BEFORE, &volume, "alpine");
    wait_ready(&alpine).await;
    assert_eq!(
        pgdata_owners(&alpine),
        ["70"],
        "taken back by the entrypoint"
    );
    assert_eq!(order_by(&alpine, &words), MUSL_ORDER);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_entrypoint_reads_its_settings_from_files_as_upstream() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let scratch = Scratch::new();
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("pw"), "from-the-file\n").unwrap();
    std::fs::write(secrets.path().join("user"), "filed_user\n").unwrap();
    // Readable by root alone: the entrypoint reads it before it drops to postgres.
    std::fs::set_permissions(
        secrets.path().join("pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mount = format!("{}:/run/secrets:ro", secrets.path().display());
    let labels = scratch.label_args();
    for image in [BEFORE, AFTER] {
        let name = format!(
            "{}-files-{}",
            scratch.project,
            if image == BEFORE { "b" } else { "a" }
        );
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend(labels.iter().map(String::as_str));
        args.extend([
            "-e",
            "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
            "-e",
            "POSTGRES_USER_FILE=/run/secrets/user",
            "-v",
            &mount,
            image,
        ]);
        docker(&args);
        wait_ready(&name).await;
        // Over TCP, where the password counts: the file's value without its newline.
        let login = |pw: &str| {
            std::process::Command::new("docker")
                .args(["exec", "-e", &format!("PGPASSWORD={pw}"), &name])
                .args(["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "filed_user"])
                .args(["-d", "filed_user", "-c", "SELECT current_user"])
                .output()
                .unwrap()
        };
        let ok = login("from-the-file");
        assert_eq!(
            String::from_utf8_lossy(&ok.stdout).trim(),
            "filed_user",
            "{image}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(
            !login("from-the-file\n").status.success(),
            "{image}: newline dropped"
        );
        docker(&["rm", "-f", "-v", &name]);

        // Both ways at once: refused before anything starts.
        let both = std::process::Command::new("docker")
            .args(["run", "--rm", "-e", "POSTGRES_PASSWORD=x"])
            .args([
                "-e",
                "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
                "-v",
                &mount,
                image,
            ])
            .output()
            .unwrap();
        assert_eq!(both.status.code(), Some(1), "{image}");
        assert!(
            String::from_utf8_lossy(&both.stderr)
                .contains("both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set"),
            "{image}: {}",
            String::from_utf8_lossy(&both.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alpine_volume_on_the_debian_image_has_broken_indexes() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let stack = Stack::up_seeded(300);
    let out = stack.compose(&["stop", "backend", "celery-worker"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        let db = stack.connect().await;
        assert!(
            amcheck_failures(&db).await.is_empty(),
            "sound on the Alpine-shaped image"
        );
        assert!(disagreeing_queries(&db).await.is_empty());
    }

    // The guide's upgrade: the image changed in the compose file, postgres recreated on the
    // same volume, no collation step.
    let compose = std::fs::read_to_string(stack.compose_file()).unwrap();
    std::fs::write(stack.compose_file(), compose.replace(BEFORE, AFTER)).unwrap();
    let out = stack.compose(&["up", "-d", "--no-deps", "postgres"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pg = stack.container("postgres");
    assert_eq!(docker(&["inspect", "-f", "{{.Config.Image}}", &pg]), AFTER);
    let db = wait_for(
        "the Debian-shaped server",
        Duration::from_secs(60),
        || async {
            support::connect_pg(stack.postgres_ip(), stack.password())
                .await
                .ok()
        },
    )
    .await;
    // It starts silently: ready, and nothing about collation in its log.
    let log = logs(&pg);
    assert!(log.contains("ready to accept connections"), "{log}");
    assert!(!log.to_lowercase().contains("collation"), "{log}");

    let failed = amcheck_failures(&db).await;
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"public.tags_name_key"),
        "the unique text index is broken: {failed:?}"
    );
    assert!(
        failed.iter().any(|(_, m)| m.contains("invariant violated")),
        "{failed:?}"
    );
    // The user-visible damage: `name = 'a'` exists (sequential scan) but the index misses it.
    let (by_index, by_seq) = index_vs_seq(&db, "SELECT count(*) FROM tags WHERE name = 'a'").await;
    assert_eq!(by_seq, 1);
    assert_ne!(by_index, by_seq, "the index scan disagrees");
    assert!(!disagreeing_queries(&db).await.is_empty());

    // REINDEX (what cutover's collation step does) makes it whole again on this server.
    db.batch_execute("REINDEX DATABASE privexbot")
        .await
        .unwrap();
    assert!(amcheck_failures(&db).await.is_empty());
    assert!(disagreeing_queries(&db).await.is_empty());
}
