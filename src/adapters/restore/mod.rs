//! The disaster path's restore: a verified custom-format dump into an existing, empty database
//! in the postgres container, through the Engine API's exec.
//!
//! - The target must hold no user table: replaying a dump into a live database duplicates rows
//!   in tables without a primary key (DESIGN.md defect 4). The caller creates it fresh.
//! - `pg_restore --jobs N` loads tables and builds indexes N at a time. It needs the dump as a
//!   file it can seek in where it runs: first choice, it runs beside the server in a throwaway
//!   container that reads the dump where it lies ([`beside`]); else the dump is streamed into
//!   the container's `/tmp` (mode 0600), restored, then removed whatever the outcome. N is twice the
//!   engine host's CPU count ([`jobs_for`]): the jobs also wait on the disk, so more of them
//!   than CPUs keeps the CPUs busy.
//! - One process reading stdin instead, said in the returned [`RestoreHow`], when the
//!   container's `/tmp` lacks room for the file.
//! - The dump's sha256 is checked on the bytes streamed into the container, against the one
//!   journaled when it was verified, before pg_restore reads them: a file changed since is
//!   refused ([`BackupError::Changed`]) and nothing is restored. (On stdin, where pg_restore
//!   reads as it arrives, the database restored from a changed file is refused after the
//!   fact; the caller drops it.)
//! - `--exit-on-error`: the first failed statement stops the restore with pg_restore's message,
//!   rather than leaving a half-restored database that looks finished.
//! - Measured on the 964 MB test bed database (2 CPUs), the file already inside: `--jobs 4`
//!   6.7-6.8 s, `--jobs 3` 6.8-8.0 s, `--jobs 2` 8.1-8.7 s; one pg_restore on stdin 11.8-13.0 s,
//!   `psql < plain dump` 11.3-14.9 s; copying the 201 MB dump in 0.8 s. Raising
//!   maintenance_work_mem for the restore's sessions changed nothing, so the server's settings
//!   are left alone.

use std::path::Path;

use super::backup::{BackupError, PgTarget, Result, io};
use super::docker::{DockerClient, ExecSpec};
use super::hashing_reader::{HashingReader, Seen};

pub mod beside;

/// More jobs than this gain little (the largest table and its indexes set the floor), and
/// each is a connection.
pub const MAX_JOBS: u32 = 8;

/// `pg_restore --jobs` for a host with `cpus` CPUs: twice as many, 2 to [`MAX_JOBS`].
pub fn jobs_for(cpus: u32) -> u32 {
    cpus.saturating_mul(2).clamp(2, MAX_JOBS)
}

/// How the restore ran, for the log and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreHow {
    /// `pg_restore --jobs N` in a throwaway container of the server's image that shares its
    /// network namespace and reads the dump where it lies (bind-mounted, read-only).
    Beside { jobs: u32 },
    /// `pg_restore --jobs N` from a copy of the dump inside the container.
    Parallel { jobs: u32 },
    /// One `pg_restore` reading the dump on stdin, and why.
    Stdin { why: String },
}

impl std::fmt::Display for RestoreHow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreHow::Beside { jobs } => write!(
                f,
                "pg_restore --jobs {jobs} beside the server, reading the dump where it lies"
            ),
            RestoreHow::Parallel { jobs } => write!(f, "pg_restore --jobs {jobs}"),
            RestoreHow::Stdin { why } => write!(f, "one pg_restore on stdin ({why})"),
        }
    }
}

/// Restores `path` into `target.database`, which must exist and hold no user table, provided
/// the bytes restored have the sha256 `expected` (hex).
pub async fn restore(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    expected: &str,
) -> Result<RestoreHow> {
    let port = refuse_non_empty(docker, target).await?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| io(format!("stat {}", path.display()), e))?
        .len();
    let jobs = jobs_for(docker.host_cpus().await.unwrap_or(1));
    if beside::restore(docker, target, port, path, bytes, expected, jobs).await? {
        return Ok(RestoreHow::Beside { jobs });
    }
    let how = match container_tmp_free(docker, target).await {
        Some(free) if free > bytes + bytes / 10 + (64 << 20) => RestoreHow::Parallel { jobs },
        Some(free) => RestoreHow::Stdin {
            why: format!(
                "the container's /tmp has {} MiB free, the dump needs {} MiB",
                free >> 20,
                bytes >> 20
            ),
        },
        None => RestoreHow::Stdin {
            why: "cannot read the container's free space in /tmp".into(),
        },
    };
    if let RestoreHow::Parallel { jobs } = &how {
        let inside = format!("/tmp/cutover-restore-{}.dump", std::process::id());
        let result = restore_parallel(docker, target, path, bytes, expected, &inside, *jobs).await;
        // Removed whatever happened: it is a full copy of the database.
        let rm = target.spec(["rm", "-f", inside.as_str()]);
        let _ = docker.exec_output(&target.container, &rm).await;
        result?;
    } else {
        restore_stdin(docker, target, path, bytes, expected).await?;
    }
    Ok(how)
}

/// Refuses a target with user tables; returns the port the server listens on.
async fn refuse_non_empty(docker: &DockerClient, target: &PgTarget) -> Result<u16> {
    let count_sql = "SELECT count(*) || ' ' || current_setting('port') FROM pg_catalog.pg_tables \
                     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')";
    let check = docker
        .exec_output(
            &target.container,
            &target.spec([
                "psql",
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                &target.user,
                "-d",
                &target.database,
                "-c",
                count_sql,
            ]),
        )
        .await?;
    if check.exit_code != 0 {
        return Err(BackupError::RestoreFailed {
            database: target.database.clone(),
            code: check.exit_code,
            stderr: format!("cannot inspect the target: {}", check.stderr_str().trim()),
        });
    }
    let out = check.stdout_str();
    let mut words = out.split_whitespace();
    let tables: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(u64::MAX);
    if tables != 0 {
        return Err(BackupError::TargetNotEmpty {
            database: target.database.clone(),
            tables,
        });
    }
    Ok(words.next().and_then(|w| w.parse().ok()).unwrap_or(5432))
}

/// Free bytes in the container's /tmp (`df -Pk`), None when it cannot be read.
async fn container_tmp_free(docker: &DockerClient, target: &PgTarget) -> Option<u64> {
    let out = docker
        .exec_output(&target.container, &ExecSpec::new(["df", "-Pk", "/tmp"]))
        .await
        .ok()?;
    if out.exit_code != 0 {
        return None;
    }
    let line = out.stdout_str().lines().nth(1)?.to_string();
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

pub(super) fn pg_restore_args<'a>(target: &'a PgTarget, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pg_restore",
        "--exit-on-error",
        "--no-owner",
        "-U",
        &target.user,
        "-d",
        &target.database,
    ];
    args.extend_from_slice(extra);
    args
}

/// `path`, opened for reading through a hasher.
pub(super) async fn open_hashing(path: &Path) -> Result<(HashingReader<tokio::fs::File>, Seen)> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io(format!("open {}", path.display()), e))?;
    Ok(HashingReader::new(file))
}

/// The whole file passed through `seen`, and its sha256 is `expected`.
pub(super) fn same_bytes(path: &Path, bytes: u64, expected: &str, seen: &Seen) -> Result<()> {
    let (n, sha256) = seen.result();
    if n == bytes && sha256 == expected {
        return Ok(());
    }
    Err(BackupError::Changed {
        path: path.to_path_buf(),
        sha256: if n == bytes {
            sha256
        } else {
            format!("unknown: {n} of {bytes} bytes read")
        },
        expected: expected.to_string(),
    })
}

async fn restore_parallel(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    bytes: u64,
    expected: &str,
    inside: &str,
    jobs: u32,
) -> Result<()> {
    let (file, seen) = open_hashing(path).await?;
    // The file name is an argument of the shell, never part of its script.
    let copy = ExecSpec::new([
        "sh",
        "-c",
        "umask 077 && cat > \"$1\" && wc -c < \"$1\"",
        "sh",
        inside,
    ]);
    let out = docker
        .exec_output_with_stdin(&target.container, &copy, Some(Box::new(file)))
        .await?;
    let copied: Option<u64> = out.stdout_str().trim().parse().ok();
    if out.exit_code != 0 || copied != Some(bytes) {
        return Err(BackupError::RestoreFailed {
            database: target.database.clone(),
            code: out.exit_code,
            stderr: format!(
                "copying the dump into the container's {inside} wrote {} of {bytes} bytes: {}",
                copied.map_or("an unknown number".into(), |n| n.to_string()),
                out.stderr_str().trim()
            ),
        });
    }
    same_bytes(path, bytes, expected, &seen)?;
    let jobs = jobs.to_string();
    let spec = target.spec(pg_restore_args(target, &["--jobs", &jobs, inside]));
    let out = docker.exec_output(&target.container, &spec).await?;
    failed_if_nonzero(target, out.exit_code, out.stderr_str().trim())
}

async fn restore_stdin(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    bytes: u64,
    expected: &str,
) -> Result<()> {
    let (file, seen) = open_hashing(path).await?;
    let spec = target.spec(pg_restore_args(target, &[]));
    let out = docker
        .exec_output_with_stdin(&target.container, &spec, Some(Box::new(file)))
        .await?;
    failed_if_nonzero(target, out.exit_code, out.stderr_str().trim())?;
    if seen.result().0 < bytes {
        // pg_restore may stop reading at the archive's end marker: hash the file as it is now.
        let sha256 = super::backup::sha256_file(path)?;
        if sha256 != expected {
            return Err(BackupError::Changed {
                path: path.to_path_buf(),
                sha256,
                expected: expected.to_string(),
            });
        }
        return Ok(());
    }
    same_bytes(path, bytes, expected, &seen)
}

pub(super) fn failed_if_nonzero(target: &PgTarget, code: i64, stderr: &str) -> Result<()> {
    if code != 0 {
        return Err(BackupError::RestoreFailed {
            database: target.database.clone(),
            code,
            stderr: stderr.to_string(),
        });
    }
    Ok(())
}
