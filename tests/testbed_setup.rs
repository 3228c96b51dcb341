//! A fresh machine: `testbed/bed setup` (which `images`, `up` and `demo-up` run first) installs
//! the Debian packages the test bed needs, by itself, when run as root. Shown on a machine
//! that has none of them: a new container of the test bed's own Debian base (minbase, apt
//! only), with the bed mounted read-only. Before: each tool is missing (so the test can fail);
//! after: each is there, and a second run installs nothing.

mod support;

use std::process::{Command, Output, Stdio};

use support::{bed_path, require_docker};

const BASE: &str = "cutover-testbed/base:latest";

/// What the bed needs on the host, as the shell checks it.
const PRESENT: &str = "command -v debootstrap && \
     test -f /usr/share/keyrings/debian-archive-trixie-stable.gpg && \
     command -v flock && test -x /bin/busybox && \
     { command -v docker-compose || docker compose version; }";

fn in_fresh_base(script: &str) -> Output {
    let bed_dir = bed_path().parent().unwrap().to_path_buf();
    Command::new("docker")
        .args([
            "run",
            "--rm",
            "-e",
            "CUTOVER_TESTBED_CACHE=/tmp/bed-cache",
            "-v",
        ])
        .arg(format!("{}:/bed:ro", bed_dir.display()))
        // One stream, in order: what the second run says must come after the marker.
        .args([BASE, "bash", "-c", &format!("exec 2>&1; {script}")])
        .stdin(Stdio::null())
        .output()
        .expect("docker run")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn bed_setup_installs_what_a_fresh_machine_lacks() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let before = in_fresh_base(PRESENT);
    assert!(
        !before.status.success(),
        "the fresh base already has the tools: {}",
        text(&before)
    );

    let out = in_fresh_base(&format!(
        "/bed/bed setup && {PRESENT} && echo SECOND && /bed/bed setup"
    ));
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("installing the Debian packages the test bed needs: debootstrap"),
        "the bed says what it installs: {said}"
    );
    let second = said.split("SECOND").nth(1).unwrap_or_default();
    assert!(
        !second.contains("installing"),
        "a second run installs nothing: {second}"
    );
}

#[test]
fn without_root_bed_setup_names_the_one_command() {
    let Some(_engine) = require_docker() else {
        return;
    };
    let out = in_fresh_base("useradd -m op && su op -c '/bed/bed setup'");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("Install them with: sudo apt-get install -y debootstrap"),
        "{said}"
    );
}
