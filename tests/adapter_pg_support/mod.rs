//! A throwaway PostgreSQL container from the test bed images, for adapter tests against a real
//! server. Started with the docker CLI, reached on its bridge IP, removed on drop (also when the
//! test panics). Without a Docker engine or the image the test prints "SKIPPED: <why>" and
//! returns, except under CI=true where that is a failure.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cutover::adapters::postgres::{PgCredentials, PgTarget, connect_until};

pub const BEFORE: &str = "cutover-testbed/postgres-before:latest";
pub const AFTER: &str = "cutover-testbed/postgres-after:latest";

pub struct PgContainer {
    pub name: String,
    pub ip: String,
    pub password: String,
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn skip(why: String) -> Option<PgContainer> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {why}"
    );
    println!("SKIPPED: {why}");
    None
}

impl PgContainer {
    /// Starts `image` with POSTGRES_USER/DB `privexbot` and a fresh password.
    pub fn start(image: &str) -> Option<PgContainer> {
        if let Err(e) = docker(&["version", "--format", "{{.Server.Version}}"]) {
            return skip(format!("no Docker engine reachable ({e})"));
        }
        if docker(&["image", "inspect", image]).is_err() {
            return skip(format!(
                "test bed image {image} is missing (build it with the testbed scripts)"
            ));
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "cutover-test-pg-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let password = format!("pw-{nanos:x}-'\"x");
        let env_pw = format!("POSTGRES_PASSWORD={password}");
        let started = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "cutover-test=1",
            "-e",
            "POSTGRES_USER=privexbot",
            "-e",
            "POSTGRES_DB=privexbot",
            "-e",
            &env_pw,
            image,
        ]);
        // From here on the guard removes the container whatever happens.
        let mut c = PgContainer {
            name,
            ip: String::new(),
            password,
        };
        if let Err(e) = started {
            panic!("docker run {image} failed: {e}");
        }
        c.ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &c.name,
        ])
        .expect("docker inspect");
        assert!(!c.ip.is_empty(), "container {} has no IP address", c.name);
        Some(c)
    }

    pub fn credentials(&self) -> PgCredentials {
        PgCredentials::from_env_list([
            "POSTGRES_USER=privexbot".to_string(),
            "POSTGRES_DB=privexbot".to_string(),
            format!("POSTGRES_PASSWORD={}", self.password),
        ])
    }

    pub fn target(&self) -> PgTarget {
        PgTarget::new(&self.ip, 5432, self.credentials())
    }

    /// `docker restart`, then its address read again: on the default bridge another test's
    /// container may have taken the old one while this one was stopped.
    pub fn restart(&mut self) {
        docker(&["restart", "-t", "30", &self.name]).expect("docker restart");
        self.ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &self.name,
        ])
        .expect("docker inspect");
    }

    /// Waits for a real connection (the server starts twice on first boot).
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect_until(
            &self.target(),
            Duration::from_secs(90),
            Duration::from_millis(250),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nlogs:\n{}", self.logs()))
    }

    pub async fn connect_as(&self, application_name: &str) -> tokio_postgres::Client {
        let mut t = self.target();
        t.application_name = application_name.into();
        connect_until(&t, Duration::from_secs(90), Duration::from_millis(250))
            .await
            .unwrap()
    }

    pub fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["exec", self.name.as_str()];
        args.extend_from_slice(cmd);
        docker(&args).unwrap_or_else(|e| panic!("docker exec {cmd:?}: {e}"))
    }

    /// The address the container sees our connections come from (its network's gateway).
    pub fn gateway(&self) -> String {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
            &self.name,
        ])
        .unwrap()
    }

    pub fn logs(&self) -> String {
        docker(&["logs", "--tail", "50", &self.name]).unwrap_or_default()
    }
}

impl Drop for PgContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .output();
    }
}
