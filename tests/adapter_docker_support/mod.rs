//! Shared helpers for the adapter tests against the real Docker engine: connecting (or
//! skipping with "SKIPPED: <why>" unless CI=true), building tiny busybox-static images once
//! under a file lock, unique names, and a Drop guard that removes what a test created even
//! when it panics (it shells out to the docker CLI because Drop cannot await).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use cutover::adapters::docker::DockerClient;

/// Connects, or returns None after printing why (panics instead when CI=true).
pub async fn client() -> Option<DockerClient> {
    match DockerClient::connect().await {
        Ok(c) => Some(c),
        Err(e) => skip(&format!("no Docker engine reachable: {e}")),
    }
}

pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why} (CI=true, so this is a failure)");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// A unique, engine-safe name for this test run.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "cutover-t-{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The busybox test image `cutover-test/busybox:<tag>`, built from Debian's busybox-static if
/// absent. `extra` files (empty) are added to the rootfs; `changes` are `docker import
/// --change` lines. Built once per tag across parallel tests and processes (flock).
pub fn busybox_image(tag: &str, extra: &[&str], changes: &[&str]) -> Option<String> {
    let image = format!("cutover-test/busybox:{tag}");
    let lock_path = std::env::temp_dir().join("cutover-test-busybox.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("open image build lock");
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("lock image build");
    let present = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if present {
        return Some(image);
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        // The test bed installs its host packages itself (as root), busybox-static among them.
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/bed"))
            .arg("setup")
            .stdin(std::process::Stdio::null())
            .status();
    }
    if !busybox.exists() {
        return skip("/bin/busybox missing: apt-get install -y busybox-static");
    }
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    for applet in [
        "sh", "sleep", "echo", "cat", "printf", "httpd", "nc", "touch", "test", "ls", "env",
        "true", "false", "id", "mkdir", "wc", "head", "hostname", "pwd",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    for dir in ["tmp", "etc", "www", "data", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    std::fs::write(root.path().join("www/index.html"), "ok\n").unwrap();
    std::fs::write(
        root.path().join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("etc/group"),
        "root:x:0:\nnobody:x:65534:\n",
    )
    .unwrap();
    for f in extra {
        let p = root.path().join(f.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    let mut script = format!("tar -C {} -c . | docker import", root.path().display());
    for c in changes {
        script.push_str(&format!(" --change '{c}'"));
    }
    script.push_str(&format!(" - {image}"));
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "building {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(image)
}

/// The default test image: busybox with a shell CMD, `ENV IMG=one`, a VOLUME and a workdir.
pub fn base_image() -> Option<String> {
    busybox_image(
        "one",
        &[],
        &[
            "ENV IMG=one",
            "ENV PATH=/bin",
            "CMD [\"sleep\", \"3600\"]",
            "VOLUME /anon",
            "WORKDIR /",
        ],
    )
}

/// A second image with different defaults, to recreate onto.
pub fn second_image() -> Option<String> {
    busybox_image(
        "two",
        &[],
        &[
            "ENV IMG=two",
            "ENV PATH=/bin",
            "CMD [\"sleep\", \"3600\"]",
            "VOLUME /anon",
        ],
    )
}

/// Removes everything registered, in reverse, when dropped (also on panic).
#[derive(Default)]
pub struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
}

impl Cleanup {
    pub fn container(&mut self, name: &str) {
        self.containers.push(name.to_string());
    }
    pub fn volume(&mut self, name: &str) {
        self.volumes.push(name.to_string());
    }
    pub fn network(&mut self, name: &str) {
        self.networks.push(name.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            let _ = Command::new("docker").args(args).output();
        };
        // `-v`: containers of images that declare a VOLUME get anonymous volumes, which would
        // otherwise outlive the test.
        for c in self.containers.iter().rev() {
            run(&["rm", "-f", "-v", c]);
        }
        for v in self.volumes.iter().rev() {
            run(&["volume", "rm", "-f", v]);
        }
        for n in self.networks.iter().rev() {
            run(&["network", "rm", n]);
        }
    }
}

/// A free TCP port on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker` CLI helper for setup only (the code under test uses the API).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
