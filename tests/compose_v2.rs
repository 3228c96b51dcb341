//! Compose v2 on a machine that only packages v1: `testbed/bed compose-v2` installs Debian 13's
//! docker-compose 2.x as the docker CLI plugin, and cutover's `compose_command` picks the tool.
//!
//! The install goes to a temporary `DOCKER_CONFIG`, so this test never changes which Compose the
//! machine's other users (or parallel tests) get. The download is cached in the test bed's cache
//! (`CUTOVER_TESTBED_CACHE`); the first run on a machine reads the Debian mirror.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::cutover::{Run, text};

fn bed_compose_v2(docker_config: &Path) -> Output {
    Command::new(support::bed_path())
        .arg("compose-v2")
        .env("DOCKER_CONFIG", docker_config)
        .stdin(Stdio::null())
        .output()
        .expect("run testbed/bed compose-v2")
}

fn version_short(docker_config: &Path) -> Option<String> {
    let out = Command::new("docker")
        .args(["compose", "version", "--short"])
        .env("DOCKER_CONFIG", docker_config)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn the_bed_installs_compose_v2_and_cutover_uses_the_forced_tool() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let cfg = tempfile::tempdir().unwrap();
    // An empty DOCKER_CONFIG has no plugin: the CLI has no `compose` there (unless the system
    // plugin directory has one, in which case this only shows the install is harmless).
    let system_v2 = version_short(cfg.path());

    let first = bed_compose_v2(cfg.path());
    assert!(first.status.success(), "{}", text(&first));
    let plugin = cfg.path().join("cli-plugins/docker-compose");
    assert!(plugin.is_file(), "{}", text(&first));
    let version = version_short(cfg.path()).expect("docker compose runs after the install");
    assert!(
        version.starts_with("2."),
        "docker compose reports {version}"
    );
    if system_v2.is_none() {
        assert!(
            text(&first).contains("installing"),
            "says what it does: {}",
            text(&first)
        );
    }

    // Idempotent: the second run changes nothing and says so.
    let mtime = std::fs::metadata(&plugin).unwrap().modified().unwrap();
    let second = bed_compose_v2(cfg.path());
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("already installed"),
        "{}",
        text(&second)
    );
    assert_eq!(
        std::fs::metadata(&plugin).unwrap().modified().unwrap(),
        mtime
    );

    // cutover: the key is shown with its source, and a forced tool is the one used.
    let stack_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        stack_dir.path().join("compose.yaml"),
        support::Stack::template(),
    )
    .unwrap();
    std::fs::write(
        stack_dir.path().join(".env"),
        "COMPOSE_PROJECT_NAME=cotest-none\nPOSTGRES_PASSWORD=x\n",
    )
    .unwrap();
    let print = Run::new(stack_dir.path(), &["config", "--print"])
        .env("CUTOVER_COMPOSE_COMMAND", "v2")
        .output();
    assert!(print.status.success(), "{}", text(&print));
    assert!(
        String::from_utf8_lossy(&print.stdout).contains("compose_command = \"v2\"  # environment"),
        "{}",
        text(&print)
    );

    // A forced tool that does not run stops the pre-flight (exit 2), naming the key and the fix;
    // it never falls back to the other version.
    let missing = Run::upgrade(stack_dir.path())
        .env("CUTOVER_COMPOSE_COMMAND", "/nonexistent/docker-compose")
        .env("DOCKER_CONFIG", cfg.path().to_str().unwrap())
        .output();
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("compose_command is `/nonexistent/docker-compose`"),
        "{}",
        text(&missing)
    );

    // Forced v2 with the plugin just installed: the engine check reports that tool and version
    // (the run then stops at discovery: there is no such stack).
    let v2 = Run::upgrade(stack_dir.path())
        .env("CUTOVER_COMPOSE_COMMAND", "v2")
        .env("DOCKER_CONFIG", cfg.path().to_str().unwrap())
        .arg("--json")
        .output();
    assert!(
        text(&v2).contains(&format!("compose tool: docker compose (version {version})")),
        "{}",
        text(&v2)
    );
}
