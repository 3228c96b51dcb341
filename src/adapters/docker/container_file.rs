//! One small file read out of a container through the Engine's archive endpoint (what
//! `docker cp` uses): the password file a postgres container names in `POSTGRES_PASSWORD_FILE`,
//! typically a Compose or Swarm secret at `/run/secrets/…`.
//!
//! Why the archive and not `exec cat`: it needs nothing in the image (no shell, no `cat`), and
//! it works on a stopped container, whose volumes and bind mounts the Engine mounts for the
//! copy. A rollback often needs the password while the server is down.
//!
//! Invariants:
//! - Bounded: an archive larger than `max` bytes plus the tar headers is refused while it
//!   streams, never held whole.
//! - A symbolic link is followed as the entrypoint's shell would follow it (relative to the
//!   link's directory), at most [`MAX_LINKS`] of them.
//! - Only a regular file is read; a directory, a device or anything else is an error naming
//!   the path.
//! - The contents are returned, never logged; errors name the path, not what it holds.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use futures_util::StreamExt;

use super::connect::DockerClient;
use super::error::{DockerError, Result};

/// Links followed before giving up (a loop, or a chain no secret store makes).
pub const MAX_LINKS: usize = 8;
/// Room for the tar framing around the file: its header, a PAX header for a long name, the
/// padding and the two zero blocks at the end.
const TAR_OVERHEAD: usize = 16 * 1024;

/// What the archive of one path held.
enum Entry {
    File(Vec<u8>),
    Link(String),
}

impl DockerClient {
    /// The contents of the regular file at `path` inside `container` (running or not), at
    /// most `max` bytes, following symbolic links.
    pub async fn read_container_file(
        &self,
        container: &str,
        path: &str,
        max: usize,
    ) -> Result<Vec<u8>> {
        let mut at = PathBuf::from(path);
        for _ in 0..=MAX_LINKS {
            match self.archive_entry(container, &at, max).await? {
                Entry::File(bytes) => return Ok(bytes),
                Entry::Link(target) => at = follow(&at, &target),
            }
        }
        Err(DockerError::Invalid(format!(
            "{path} in container {container}: more than {MAX_LINKS} symbolic links to follow"
        )))
    }

    async fn archive_entry(&self, container: &str, path: &Path, max: usize) -> Result<Entry> {
        let shown = path.display().to_string();
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&shown)
            .build();
        let mut stream = std::pin::pin!(
            self.docker
                .download_from_container(container, Some(options))
        );
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let e = DockerError::api(format!("read {shown} from container {container}"), e);
                if e.is_not_found() {
                    DockerError::NotFound {
                        kind: "file (or container)",
                        name: format!("{container}:{shown}"),
                    }
                } else {
                    e
                }
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() > max + TAR_OVERHEAD {
                return Err(DockerError::Invalid(format!(
                    "{shown} in container {container} is larger than {max} bytes"
                )));
            }
        }
        first_entry(&bytes, max)
            .map_err(|why| DockerError::Invalid(format!("{shown} in container {container}: {why}")))
    }
}

/// The first entry of a tar holding one path: its bytes if it is a regular file, its target
/// if it is a symbolic link.
fn first_entry(archive_bytes: &[u8], max: usize) -> std::result::Result<Entry, String> {
    let mut archive = tar::Archive::new(archive_bytes);
    let mut entries = archive
        .entries()
        .map_err(|e| format!("unreadable archive ({e})"))?;
    let mut entry = entries
        .next()
        .ok_or("the archive is empty")?
        .map_err(|e| format!("unreadable archive ({e})"))?;
    let kind = entry.header().entry_type();
    if kind.is_symlink() {
        let target = entry
            .link_name()
            .map_err(|e| format!("unreadable link ({e})"))?
            .ok_or("a symbolic link without a target")?;
        return Ok(Entry::Link(target.to_string_lossy().into_owned()));
    }
    if !kind.is_file() {
        return Err(format!("not a regular file ({kind:?})"));
    }
    let mut bytes = Vec::new();
    (&mut entry)
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable archive ({e})"))?;
    if bytes.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(Entry::File(bytes))
}

/// Where the link at `link` pointing to `target` leads: an absolute target as it is, a
/// relative one from the link's directory, `..` resolved lexically as the kernel would for a
/// path without further links.
fn follow(link: &Path, target: &str) -> PathBuf {
    let joined = if target.starts_with('/') {
        PathBuf::from(target)
    } else {
        link.parent().unwrap_or(Path::new("/")).join(target)
    };
    let mut out = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(name: &str, kind: tar::EntryType, body: &[u8], link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        h.set_mode(0o400);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, body).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn a_regular_file_is_read_whole_and_a_larger_one_refused() {
        let t = tar_of("pw", tar::EntryType::Regular, b"s3cret\n", None);
        assert!(matches!(first_entry(&t, 64), Ok(Entry::File(b)) if b == b"s3cret\n"));
        let err = first_entry(&t, 3).err().unwrap();
        assert!(err.contains("larger than 3 bytes"), "{err}");
    }

    #[test]
    fn a_link_gives_its_target_and_a_directory_is_refused() {
        let t = tar_of("pw", tar::EntryType::Symlink, b"", Some("..data/pw"));
        assert!(matches!(first_entry(&t, 64), Ok(Entry::Link(l)) if l == "..data/pw"));
        let t = tar_of("d", tar::EntryType::Directory, b"", None);
        let err = first_entry(&t, 64).err().unwrap();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn links_resolve_from_the_links_directory() {
        let at = Path::new("/run/secrets/pg_pw");
        assert_eq!(
            follow(at, "..data/pg_pw"),
            Path::new("/run/secrets/..data/pg_pw")
        );
        assert_eq!(follow(at, "../keys/pw"), Path::new("/run/keys/pw"));
        assert_eq!(follow(at, "/etc/pw"), Path::new("/etc/pw"));
        assert_eq!(follow(Path::new("/pw"), "../../x"), Path::new("/x"));
    }
}
