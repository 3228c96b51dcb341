//! `Stack`: one privexbot-shaped stack (postgres on the "before" image, backend, celery-worker)
//! in a temporary directory, brought up by `testbed/bed up` and removed on `Drop`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tokio_postgres::Client;

use super::{bed_path, connect_pg, container_ip, docker, unique_project};

pub struct Stack {
    project: String,
    dir: tempfile::TempDir,
    password: String,
    down: bool,
}

impl Stack {
    /// Restarts the stack's postgres (e.g. after `ALTER SYSTEM`) and waits until it takes a
    /// login again.
    pub async fn restart_postgres(&self) {
        let pg = self.container("postgres");
        super::docker(&["restart", &pg]);
        let ip = super::container_ip(&pg);
        super::wait_for(
            "postgres after the restart",
            std::time::Duration::from_secs(60),
            || async {
                super::connect_pg(ip, self.password())
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
    }

    /// A healthy stack with empty application tables (the worker creates `worker_ticks`).
    pub fn up() -> Stack {
        Self::up_seeded(0)
    }

    /// A healthy stack seeded by `testbed/seed.sql` with `scale` users (0: no seed).
    pub fn up_seeded(scale: u32) -> Stack {
        Self::up_seeded_on(scale, None)
    }

    /// As `up_seeded`, with postgres on `before` (None: the test bed's default, the
    /// Alpine-shaped image; `support::cutover::GLIBC_BEFORE` for the glibc -> glibc case).
    pub fn up_seeded_on(scale: u32, before: Option<&str>) -> Stack {
        Self::up_with_files_on(scale, &[], before)
    }

    /// Like [`Stack::up_seeded`], with `files` (name, text) written into the stack's directory
    /// first: a `compose.yaml` there replaces the template, and Compose reads a
    /// `compose.override.yaml` (or the `COMPOSE_FILE` of an `.env`) as a user's would.
    pub fn up_with_files(scale: u32, files: &[(&str, &str)]) -> Stack {
        Self::up_with_files_on(scale, files, None)
    }

    fn up_with_files_on(scale: u32, files: &[(&str, &str)], before: Option<&str>) -> Stack {
        let project = unique_project();
        let dir = tempfile::Builder::new()
            .prefix("cutover-stack-")
            .tempdir()
            .expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write a stack file");
        }
        // Build the guard first: a failing `up` still gets cleaned up.
        let mut stack = Stack {
            project,
            dir,
            password: String::new(),
            down: false,
        };
        let status = Command::new(bed_path())
            .arg("up")
            .arg(stack.dir.path())
            .arg(&stack.project)
            .arg(scale.to_string())
            .envs(before.map(|b| ("CUTOVER_TESTBED_BEFORE", b)))
            .stdin(Stdio::null())
            .status()
            .expect("run testbed/bed up");
        assert!(
            status.success(),
            "testbed/bed up {} failed ({status})",
            stack.project
        );
        let env = std::fs::read_to_string(stack.dir.path().join(".env")).expect("read .env");
        stack.password = env
            .lines()
            .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
            .expect("POSTGRES_PASSWORD in .env")
            .to_string();
        stack
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// The stack's directory (compose.yaml and .env).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn compose_file(&self) -> PathBuf {
        self.dir.path().join("compose.yaml")
    }

    /// The stack's template compose file (`testbed/stack/compose.yaml`), to derive variants.
    pub fn template() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/stack/compose.yaml"),
        )
        .expect("read testbed/stack/compose.yaml")
    }

    /// The container name of a service (`postgres`, `backend`, `celery-worker`).
    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}", self.project)
    }

    pub fn container_id(&self, service: &str) -> String {
        docker(&["inspect", "-f", "{{.Id}}", &self.container(service)])
    }

    /// The postgres container's address on the stack's network (postgres publishes no port).
    pub fn postgres_ip(&self) -> IpAddr {
        container_ip(&self.container("postgres"))
    }

    /// The backend's published loopback port.
    pub fn backend_port(&self) -> u16 {
        let mapping = docker(&["port", &self.container("backend"), "8000/tcp"]);
        let first = mapping.lines().next().expect("backend publishes 8000");
        first
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .expect("port number")
    }

    /// The database password (from the stack's .env). Do not print it.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A connection as privexbot to the postgres container's network address.
    pub async fn connect(&self) -> Client {
        connect_pg(self.postgres_ip(), &self.password)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.container("postgres")))
    }

    /// The same, to another database of the cluster.
    pub async fn connect_db(&self, db: &str) -> Client {
        super::connect_pg_db(self.postgres_ip(), &self.password, db)
            .await
            .unwrap_or_else(|e| panic!("connect to {db} on {}: {e}", self.container("postgres")))
    }

    /// The Compose tool on this stack (`testbed/bed compose`), e.g. `["restart", "postgres"]`.
    pub fn compose(&self, args: &[&str]) -> Output {
        Command::new(bed_path())
            .arg("compose")
            .arg(&self.project)
            .arg(self.dir.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run testbed/bed compose")
    }

    /// Tears the stack down now (Drop would otherwise) and returns the project name, so a test
    /// can assert nothing is left.
    pub fn down(mut self) -> String {
        self.teardown();
        self.project.clone()
    }

    fn teardown(&mut self) {
        if self.down {
            return;
        }
        self.down = true;
        if std::thread::panicking() {
            // Leave the evidence in the test output before it is removed.
            let _ = Command::new(bed_path())
                .args(["compose", &self.project])
                .arg(self.dir.path())
                .args(["logs", "--tail", "40"])
                .stdin(Stdio::null())
                .status();
        }
        let status = Command::new(bed_path())
            .args(["down", &self.project])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "warning: testbed/bed down {} failed: {status:?}",
                self.project
            );
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.teardown();
    }
}
