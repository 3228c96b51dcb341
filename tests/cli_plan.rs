//! `cutover plan` output is a reviewed snapshot; it must change nothing on disk.

use std::process::Command;

#[test]
fn plan_prints_every_step_and_what_it_touches() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = tmp.path().join("privexbot");
    std::fs::create_dir(&stack).unwrap();
    std::fs::write(stack.join("compose.yaml"), "services: {}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["plan", "--plan", "scripted"])
        .current_dir(&stack)
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(stack.to_str().unwrap(), "[STACK]");
    insta::assert_snapshot!(text);
    let left: Vec<_> = std::fs::read_dir(&stack)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        ["compose.yaml"],
        "cutover plan must not create anything"
    );
}

#[test]
fn the_real_plan_refuses_a_compose_file_without_postgres_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("compose.yaml"), "services: {}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("plan")
        .current_dir(tmp.path())
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no service \"postgres\""), "{err}");
    assert!(err.contains("set postgres_service"), "{err}");
}
