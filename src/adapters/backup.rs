//! Backups of a PostgreSQL database running in a container, taken and restored through the
//! Engine API's exec with no TTY (a TTY would mangle the binary dump).
//!
//! Invariants:
//! - The run directory is created 0700 and the dump file 0600 at creation (never chmod'ed
//!   after: there is no window in which another user can open them).
//! - The password travels only in the exec's PGPASSWORD env; it is never logged, never in an
//!   argument list and never in an error.
//! - A dump that fails in any way (non-zero exit, stream error, disk full) leaves no file
//!   behind; a returned `BackupRecord` always names a complete, verified file.
//! - Restore (`super::restore`) only ever targets a database with no user tables (the caller
//!   creates it fresh): restoring over live data duplicates rows in tables without a primary
//!   key.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::adapters::docker::{
    DiskSpace, DockerClient, DockerError, ExecChunk, ExecSpec, free_space,
};

/// Errors from backup and restore; each names the file or database and the way out.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "disk full while writing {path} after {written} bytes; the partial file was removed \
         ({} free there now, and the dump needs more than {written} bytes). Free space on that \
         filesystem or choose a run directory on a larger one (run_dir)",
        free.map_or("unknown".to_string(), |f| format!("{f} bytes"))
    )]
    DiskFull {
        path: PathBuf,
        written: u64,
        /// Free bytes on the filesystem once the partial file is gone.
        free: Option<u64>,
    },
    #[error(
        "not enough space in {path}: need about {need} bytes, {free} free. Free space there or \
         choose another directory"
    )]
    InsufficientSpace { path: PathBuf, need: u64, free: u64 },
    #[error(
        "run directory {path} is readable by other users (mode {mode:o}); run `chmod 700 {path}`"
    )]
    UnsafeDir { path: PathBuf, mode: u32 },
    #[error(
        "pg_dump of database {database} failed (exit code {code}); partial file removed: {stderr}"
    )]
    DumpFailed {
        database: String,
        code: i64,
        stderr: String,
    },
    #[error("backup {path} failed verification: {reason}")]
    VerifyFailed { path: PathBuf, reason: String },
    #[error(
        "refusing to restore into database {database}: it already has {tables} user table(s). \
         Restore only into a freshly created, empty database"
    )]
    TargetNotEmpty { database: String, tables: u64 },
    #[error(
        "the backup {path} changed since it was verified (sha256 {sha256}, journaled \
         {expected}); refusing to restore it. Find the original file, or roll back without \
         --disaster"
    )]
    Changed {
        path: PathBuf,
        sha256: String,
        expected: String,
    },
    #[error("pg_restore into database {database} failed (exit code {code}): {stderr}")]
    RestoreFailed {
        database: String,
        code: i64,
        stderr: String,
    },
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

/// How to reach the database inside its container.
#[derive(Clone)]
pub struct PgTarget {
    pub container: String,
    pub user: String,
    pub database: String,
    /// Passed as PGPASSWORD to the exec only.
    pub password: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("container", &self.container)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PgTarget {
    pub(crate) fn spec<I: IntoIterator<Item = S>, S: Into<String>>(&self, cmd: I) -> ExecSpec {
        let mut spec = ExecSpec::new(cmd);
        if let Some(p) = &self.password {
            spec = spec.env("PGPASSWORD", p);
        }
        spec
    }
}

/// A complete, verified backup (what the journal and the report record).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupRecord {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub toc_entries: usize,
    pub database: String,
    /// The compression pg_dump used: `zstd:1`, or `default` (gzip) where the container's
    /// pg_dump lacks zstd. Empty in records journaled before this field existed.
    #[serde(default)]
    pub compression: String,
}

/// Creates `dir` (and parents) with mode 0700; an existing one must not be open to others.
pub fn create_run_dir(dir: &Path) -> Result<()> {
    match std::fs::DirBuilder::new()
        .recursive(false)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io(format!("create {}", parent.display()), e))?;
            }
            return create_run_dir(dir);
        }
        Err(e) => return Err(io(format!("create run directory {}", dir.display()), e)),
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| io(format!("stat {}", dir.display()), e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(BackupError::UnsafeDir {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Checks that `dir`'s filesystem has at least `need` bytes free.
pub fn check_free_space(dir: &Path, need: u64) -> Result<DiskSpace> {
    let space = free_space(dir).map_err(|e| io(format!("statvfs {}", dir.display()), e))?;
    if space.free_bytes < need {
        return Err(BackupError::InsufficientSpace {
            path: dir.to_path_buf(),
            need,
            free: space.free_bytes,
        });
    }
    Ok(space)
}

/// `pg_dump -Fc` of `target` into `run_dir/file_name` (zstd:1 where the container's pg_dump
/// has it, else its default compression; see `dump_with_best_compression`), then verified with `pg_restore --list`
/// (the TOC must name every table in `expect_tables`). `on_progress` gets bytes written so far.
pub async fn dump(
    docker: &DockerClient,
    target: &PgTarget,
    run_dir: &Path,
    file_name: &str,
    expect_tables: &[&str],
    on_progress: impl FnMut(u64) + Send,
) -> Result<BackupRecord> {
    dump_some(
        docker,
        target,
        run_dir,
        file_name,
        expect_tables,
        &[],
        on_progress,
    )
    .await
}

/// The same as [`dump`], of `tables` only (`pg_dump -t` each, definitions and rows), e.g. the
/// tables a rollback is about to drop. Names are exact (lower case, or `schema.table`).
pub async fn dump_tables(
    docker: &DockerClient,
    target: &PgTarget,
    run_dir: &Path,
    file_name: &str,
    tables: &[&str],
) -> Result<BackupRecord> {
    // Quoted, so that pg_dump takes each as the exact name, not a pattern.
    let exact: Vec<String> = tables
        .iter()
        .map(|t| {
            t.split('.')
                .map(crate::adapters::postgres::quote_ident)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    let exact: Vec<&str> = exact.iter().map(String::as_str).collect();
    dump_some(docker, target, run_dir, file_name, tables, &exact, |_| {}).await
}

async fn dump_some(
    docker: &DockerClient,
    target: &PgTarget,
    run_dir: &Path,
    file_name: &str,
    expect_tables: &[&str],
    only_tables: &[&str],
    mut on_progress: impl FnMut(u64) + Send,
) -> Result<BackupRecord> {
    create_run_dir(run_dir)?;
    let path = run_dir.join(file_name);
    let std_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io(format!("create backup file {}", path.display()), e))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let result = dump_with_best_compression(
        docker,
        target,
        &path,
        &mut file,
        &mut on_progress,
        only_tables,
    )
    .await;
    drop(file);
    let (bytes, sha256, compression) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(match e {
                BackupError::DiskFull { path, written, .. } => BackupError::DiskFull {
                    free: free_space(run_dir).ok().map(|s| s.free_bytes),
                    path,
                    written,
                },
                e => e,
            });
        }
    };
    let toc_entries = verify(docker, target, &path, expect_tables).await?;
    Ok(BackupRecord {
        path,
        bytes,
        sha256,
        toc_entries,
        database: target.database.clone(),
        compression: compression.label().to_string(),
    })
}

/// How pg_dump compresses the custom-format archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `--compress=zstd:1`: several times faster than the default gzip level on large dumps,
    /// and smaller. Needs pg_dump 16+ built with zstd.
    Zstd1,
    /// pg_dump's own default for `-Fc` (gzip).
    Default,
}

impl Compression {
    pub fn label(self) -> &'static str {
        match self {
            Compression::Zstd1 => "zstd:1",
            Compression::Default => "default (gzip)",
        }
    }
    fn args(self) -> &'static [&'static str] {
        match self {
            Compression::Zstd1 => &["--compress=zstd:1"],
            Compression::Default => &[],
        }
    }
}

/// The major version from `pg_dump --version` output (`pg_dump (PostgreSQL) 16.4`).
pub fn pg_dump_major(version: &str) -> Option<u32> {
    let tail = version.split_once("(PostgreSQL)")?.1;
    let num = tail.split_whitespace().next()?;
    let digits: String = num.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// True when pg_dump's stderr says the requested compression method is not available.
pub fn compression_unsupported(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("compress") || s.contains("zstd")
}

/// Dumps with zstd:1 when the container's pg_dump is 16 or newer; falls back to the default
/// compression when that pg_dump is older, or when a zstd attempt fails before writing a byte
/// with an error about the compression method (a build without zstd). Each choice is logged.
async fn dump_with_best_compression(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    file: &mut tokio::fs::File,
    on_progress: &mut (impl FnMut(u64) + Send),
    only_tables: &[&str],
) -> Result<(u64, String, Compression)> {
    let version = docker
        .exec_output(&target.container, &ExecSpec::new(["pg_dump", "--version"]))
        .await?;
    let major = (version.exit_code == 0)
        .then(|| pg_dump_major(&version.stdout_str()))
        .flatten();
    if major.is_some_and(|m| m >= 16) {
        match stream_dump(
            docker,
            target,
            path,
            file,
            on_progress,
            Compression::Zstd1,
            only_tables,
        )
        .await
        {
            Ok((bytes, sha)) => {
                tracing::info!(
                    "pg_dump of {} used compression zstd:1 ({bytes} bytes)",
                    target.database
                );
                return Ok((bytes, sha, Compression::Zstd1));
            }
            Err(BackupError::DumpFailed { stderr, .. })
                if compression_unsupported(&stderr)
                    && file.metadata().await.is_ok_and(|m| m.len() == 0) =>
            {
                tracing::warn!(
                    "pg_dump {} in {} refused --compress=zstd:1 ({stderr}); \
                     dumping with its default compression (gzip) instead",
                    major.unwrap_or(0),
                    target.container
                );
            }
            Err(e) => return Err(e),
        }
    } else {
        tracing::info!(
            "pg_dump in {} is {}; zstd needs 16 or newer, dumping with the default compression \
             (gzip)",
            target.container,
            major.map_or("of unknown version".to_string(), |m| format!("version {m}"))
        );
    }
    let (bytes, sha) = stream_dump(
        docker,
        target,
        path,
        file,
        on_progress,
        Compression::Default,
        only_tables,
    )
    .await?;
    Ok((bytes, sha, Compression::Default))
}

async fn stream_dump(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    file: &mut tokio::fs::File,
    on_progress: &mut (impl FnMut(u64) + Send),
    compression: Compression,
    only_tables: &[&str],
) -> Result<(u64, String)> {
    let mut args = vec!["pg_dump", "-Fc"];
    args.extend_from_slice(compression.args());
    args.extend(["-U", &target.user, "-d", &target.database]);
    for t in only_tables {
        args.extend(["-t", t]);
    }
    let spec = target.spec(args);
    let mut session = docker.exec_start(&target.container, &spec, None).await?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut stderr = Vec::new();
    while let Some(chunk) = session.next_chunk().await {
        match chunk? {
            ExecChunk::Stdout(b) => {
                file.write_all(&b)
                    .await
                    .map_err(|e| write_error(path, written, e))?;
                hasher.update(&b);
                written += b.len() as u64;
                on_progress(written);
            }
            ExecChunk::Stderr(b) => stderr.extend_from_slice(&b),
        }
    }
    // Flush and fsync before calling the backup good: the dump is what rollback relies on.
    file.flush()
        .await
        .map_err(|e| write_error(path, written, e))?;
    file.sync_all()
        .await
        .map_err(|e| write_error(path, written, e))?;
    let code = session.wait().await?;
    if code != 0 {
        return Err(BackupError::DumpFailed {
            database: target.database.clone(),
            code,
            stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
        });
    }
    Ok((written, hex::encode(hasher.finalize())))
}

/// Streams `path` into `pg_restore --list` in the container; returns the TOC entry count.
pub async fn verify(
    docker: &DockerClient,
    target: &PgTarget,
    path: &Path,
    expect_tables: &[&str],
) -> Result<usize> {
    let fail = |reason: String| BackupError::VerifyFailed {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(format!("stat {}", path.display()), e))?;
    if meta.len() == 0 {
        return Err(fail("the file is empty".into()));
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io(format!("open {}", path.display()), e))?;
    let out = docker
        .exec_output_with_stdin(
            &target.container,
            &ExecSpec::new(["pg_restore", "--list"]),
            Some(Box::new(file)),
        )
        .await?;
    if out.exit_code != 0 {
        return Err(fail(format!(
            "pg_restore --list exited {}: {}",
            out.exit_code,
            out.stderr_str().trim()
        )));
    }
    let toc = out.stdout_str();
    let entries: Vec<&str> = toc
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .collect();
    if entries.is_empty() {
        return Err(fail("the table of contents is empty".into()));
    }
    let missing: Vec<&str> = expect_tables
        .iter()
        .copied()
        .filter(|t| !entries.iter().any(|e| toc_names_table(e, t)))
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!("no TABLE entry for {}", missing.join(", "))));
    }
    Ok(entries.len())
}

/// True when a `pg_restore --list` line is the TABLE entry of `table` (`schema.table` or bare).
pub fn toc_names_table(line: &str, table: &str) -> bool {
    let (schema, name) = table.split_once('.').unwrap_or(("", table));
    let t: Vec<&str> = line.split_whitespace().collect();
    t.windows(3).any(|w| {
        w[0] == "TABLE" && w[1] != "DATA" && w[2] == name && (schema.is_empty() || w[1] == schema)
    })
}

/// Recomputes a file's sha256 (hex), e.g. to re-check a journaled backup before restoring.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| io(format!("open {}", path.display()), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| io(format!("read {}", path.display()), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn write_error(path: &Path, written: u64, e: std::io::Error) -> BackupError {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(nix::libc::ENOSPC) {
        BackupError::DiskFull {
            path: path.to_path_buf(),
            written,
            free: None,
        }
    } else {
        io(format!("write {}", path.display()), e)
    }
}

pub(crate) fn io(context: String, source: std::io::Error) -> BackupError {
    BackupError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_table_lines_are_recognised() {
        let l = "215; 1259 16385 TABLE public users postgres";
        assert!(toc_names_table(l, "users"));
        assert!(toc_names_table(l, "public.users"));
        assert!(!toc_names_table(l, "other.users"));
        assert!(!toc_names_table(
            "3380; 0 16385 TABLE DATA public users postgres",
            "users"
        ));
        assert!(!toc_names_table(l, "use"));
    }

    #[test]
    fn pg_dump_versions_and_compression_errors_are_read() {
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 16.4\n"), Some(16));
        assert_eq!(
            pg_dump_major("pg_dump (PostgreSQL) 17.2 (Debian 17.2-1.pgdg120+1)"),
            Some(17)
        );
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 15.8"), Some(15));
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(pg_dump_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(pg_dump_major("nonsense"), None);
        assert!(compression_unsupported(
            "pg_dump: error: this build does not support compression with zstd"
        ));
        assert!(compression_unsupported(
            "pg_dump: error: invalid compression specification"
        ));
        assert!(!compression_unsupported(
            "pg_dump: error: connection to server failed"
        ));
    }

    #[test]
    fn run_dir_is_0700_and_open_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/run");
        create_run_dir(&d).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        create_run_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            create_run_dir(&d),
            Err(BackupError::UnsafeDir { .. })
        ));
    }

    #[test]
    fn free_space_check_names_need_and_free() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_free_space(tmp.path(), 1).is_ok());
        let e = check_free_space(tmp.path(), u64::MAX)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&tmp.path().display().to_string()) && e.contains("free"),
            "{e}"
        );
    }
}
