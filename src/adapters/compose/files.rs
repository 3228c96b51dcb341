//! File handling around the edit: the byte-identical backup with its sha256, atomic replacement
//! (temp file in the same directory, fsync, rename, fsync of the directory, original mode kept)
//! and restore from the backup after checking its checksum.
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ComposeError;

/// A copy of the compose file in the run directory; journal it before editing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backup {
    pub original: PathBuf,
    pub copy: PathBuf,
    pub sha256: String,
    pub len: u64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn io(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> ComposeError {
    let path = path.to_path_buf();
    move |source| ComposeError::Io {
        path,
        action,
        source,
    }
}

/// Copies `compose_path` into `run_dir` (same file name plus `.orig`) and verifies the copy.
/// When a copy with the same bytes is already there (a resumed run) it is reused; a copy with
/// different bytes is never overwritten: it may be the only pre-upgrade version left.
pub fn backup_compose_file(compose_path: &Path, run_dir: &Path) -> Result<Backup, ComposeError> {
    let bytes = fs::read(compose_path).map_err(io(compose_path, "read the compose file"))?;
    fs::create_dir_all(run_dir).map_err(io(run_dir, "create the run directory"))?;
    let copy = copy_path(compose_path, run_dir);
    let sha256 = sha256_hex(&bytes);
    match fs::read(&copy) {
        Ok(existing) if sha256_hex(&existing) == sha256 => {}
        Ok(_) => {
            return Err(ComposeError::Validation(format!(
                "{} already holds a different copy of the compose file (from an earlier run?); \
                 move it away or use another run directory",
                copy.display()
            )));
        }
        Err(_) => atomic_write(&copy, &bytes)?,
    }
    let written = fs::read(&copy).map_err(io(&copy, "read back the backup copy"))?;
    if sha256_hex(&written) != sha256 {
        return Err(ComposeError::BackupChecksum {
            path: copy,
            expected: sha256,
            actual: sha256_hex(&written),
        });
    }
    Ok(Backup {
        original: compose_path.to_path_buf(),
        copy,
        sha256,
        len: bytes.len() as u64,
    })
}

fn copy_path(compose_path: &Path, run_dir: &Path) -> PathBuf {
    let name = compose_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "compose.yml".into());
    run_dir.join(format!("{name}.orig"))
}

/// The copy an earlier run left in `run_dir`, if any, described by its current bytes.
pub(super) fn existing_backup(
    compose_path: &Path,
    run_dir: &Path,
) -> Result<Option<Backup>, ComposeError> {
    let copy = copy_path(compose_path, run_dir);
    match fs::read(&copy) {
        Ok(bytes) => Ok(Some(Backup {
            original: compose_path.to_path_buf(),
            sha256: sha256_hex(&bytes),
            len: bytes.len() as u64,
            copy,
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ComposeError::Io {
            path: copy,
            action: "read the backup copy",
            source,
        }),
    }
}

/// Puts the backup's bytes back at `backup.original`, atomically, after checking the copy still
/// has the recorded checksum. Restoring a file that already has those bytes is a no-op.
pub fn restore_compose_file(backup: &Backup) -> Result<(), ComposeError> {
    let bytes = fs::read(&backup.copy).map_err(io(&backup.copy, "read the backup copy"))?;
    let actual = sha256_hex(&bytes);
    if actual != backup.sha256 {
        return Err(ComposeError::BackupChecksum {
            path: backup.copy.clone(),
            expected: backup.sha256.clone(),
            actual,
        });
    }
    if fs::read(&backup.original).is_ok_and(|cur| cur == bytes) {
        return Ok(());
    }
    atomic_write(&backup.original, &bytes)
}

/// Replaces `target` with `bytes` so that a reader sees either the old or the new file, never a
/// partial one, and the new one survives a crash. Keeps `target`'s mode when it exists.
pub fn atomic_write(target: &Path, bytes: &[u8]) -> Result<(), ComposeError> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = fs::metadata(target).ok();
    let mode = existing
        .as_ref()
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.cutover-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp, "create the temporary file"))?;
        f.write_all(bytes)
            .map_err(io(&tmp, "write the temporary file"))?;
        // The umask may have narrowed `mode` at creation; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io(&tmp, "set the mode of"))?;
        if let Some(m) = &existing {
            // Keep the owner too (we often run as root on a file the operator owns). Only root
            // can give a file away; otherwise the file was ours to begin with, so ignore failure.
            let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
        }
        f.sync_all().map_err(io(&tmp, "fsync"))?;
        fs::rename(&tmp, target).map_err(io(target, "rename the temporary file onto"))?;
        // The rename is durable only once the directory entry is on disk.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir, "fsync the directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
