//! A stack split over two compose files, as many deployments are: the base `compose.yaml`
//! names the image upstream ships (`postgres:16-alpine`, never pulled here), and the site's
//! `compose.override.yaml`, which Compose merges on top, sets the one this deployment runs.
//!
//! cutover reads the project through the Compose tool (`COMPOSE`: v1 or v2; CI runs both), so it
//! sees the image the containers really run, edits the file that sets it (the override, with its
//! comments kept) and leaves the base byte-identical; the merged project is what Compose accepts
//! and runs the target image. The rollback puts the override back byte for byte.

mod support;

use std::process::{Command, Stdio};

use cutover::adapters::compose::{ComposeProject, parse_resolved};
use support::cutover::{AFTER, BEFORE, Run, text};
use support::{Stack, docker};

/// The site's override: it sets the image this deployment runs (the test bed's "before").
fn override_file() -> String {
    format!(
        "\
# Site override (kept by cutover: it edits only what the upgrade changes).
services:
  postgres:
    # The image this deployment runs.
    image: {BEFORE}
"
    )
}

/// The base file: the template with the upstream image (the override wins).
fn base_compose() -> String {
    let t = Stack::template();
    let line = format!("    image: {BEFORE}\n");
    assert!(t.contains(&line), "the template sets the postgres image");
    t.replacen(&line, "    image: postgres:16-alpine\n", 1)
}

/// The merged project as the tests' Compose tool resolves it (`config`, YAML from either
/// version), read by cutover's parser of that output.
fn merged(dir: &std::path::Path) -> ComposeProject {
    let words = support::compose_words();
    let out = Command::new(&words[0])
        .args(&words[1..])
        .arg("config")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run compose config");
    assert!(
        out.status.success(),
        "`{} config` rejects the project: {}",
        words.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_resolved(&String::from_utf8_lossy(&out.stdout), Default::default()).unwrap()
}

fn image_of(container: &str) -> String {
    docker(&["inspect", "-f", "{{.Config.Image}}", container])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_override_that_sets_the_image_is_the_file_edited_and_restored() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let base = base_compose();
    let over = override_file();
    let stack = Stack::up_with_files(
        20,
        &[("compose.yaml", &base), ("compose.override.yaml", &over)],
    );
    let dir = stack.dir();
    let pg = stack.container("postgres");
    assert_eq!(image_of(&pg), BEFORE, "the override's image runs");
    let base_path = dir.join("compose.yaml");
    let override_path = dir.join("compose.override.yaml");

    // The plan names the override as the file it edits, and the tool that read the project.
    let plan = Run::new(dir, &["plan"]).output();
    assert!(plan.status.success(), "{}", text(&plan));
    let said = text(&plan);
    assert!(
        said.contains(&format!("file {} (copy kept", override_path.display())),
        "{said}"
    );
    assert!(said.contains("compose.override.yaml"), "{said}");

    let run = Run::upgrade(dir).output();
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(image_of(&pg), AFTER, "postgres runs the target image");
    assert_eq!(
        std::fs::read_to_string(&base_path).unwrap(),
        base,
        "the base file is byte-identical"
    );
    let edited = std::fs::read_to_string(&override_path).unwrap();
    assert!(
        edited.contains(&format!("image: {AFTER}")),
        "override edited: {edited}"
    );
    for comment in [
        "# Site override (kept by cutover",
        "# The image this deployment runs.",
    ] {
        assert!(edited.contains(comment), "comment kept: {edited}");
    }
    // The merged project is what Compose accepts and would run: the target image, and a
    // qdrant service on postgres's network.
    let m = merged(dir);
    let image = |m: &ComposeProject, s: &str| m.service(s).and_then(|s| s.image.clone());
    assert_eq!(image(&m, "postgres").as_deref(), Some(AFTER), "{m:?}");
    let qdrant = m.service("qdrant").expect("qdrant in the merged project");
    assert_eq!(
        qdrant.networks,
        ["privexbot-network"],
        "qdrant joins postgres's network (the override named none; the merged project did)"
    );

    // Rollback: the override is back byte for byte, the base untouched, the old image running.
    let rb = Run::new(dir, &["rollback", "--yes"]).output();
    assert!(
        rb.status.code() == Some(0),
        "rollback completes (exit 0): {}",
        text(&rb)
    );
    assert_eq!(std::fs::read_to_string(&override_path).unwrap(), over);
    assert_eq!(std::fs::read_to_string(&base_path).unwrap(), base);
    assert_eq!(image_of(&pg), BEFORE, "the old postgres is back");
    assert_eq!(image(&merged(dir), "postgres").as_deref(), Some(BEFORE));
    let db = stack.connect().await;
    support::cutover::assert_worker_seq_gapless(&db, "after the rollback").await;
}
