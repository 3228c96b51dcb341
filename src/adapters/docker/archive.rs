//! A tar produced by a command in one container, unpacked into another container's filesystem
//! as it streams: e.g. `pg_basebackup -Ft -D -` in the live postgres, into a created (not
//! started) container whose data volume is mounted, through the Engine's archive upload.
//!
//! Why this way: nothing is written on cutover's machine and the copy never sits in memory
//! whole (a bounded channel between the exec's output and the upload's body); the Engine
//! mounts the target's volumes for the upload, so the target need not run.
//!
//! Invariant: a producer that fails (non-zero exit) fails the pipe even when the upload
//! accepted what it got: a truncated tar unpacks without error.

use bollard::query_parameters::UploadToContainerOptionsBuilder;
use bytes::Bytes;
use futures_util::stream;

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::exec::{ExecChunk, ExecSpec};

/// What went through the pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piped {
    /// Bytes of tar the producer wrote.
    pub bytes: u64,
}

impl DockerClient {
    /// Runs `spec` in `from` and unpacks its stdout, a tar, at `path` in `into`, keeping the
    /// archive's owners (`copyUIDGID`). Err names the producer's stderr when it fails.
    pub async fn pipe_tar(
        &self,
        from: &str,
        spec: &ExecSpec,
        into: &str,
        path: &str,
    ) -> Result<Piped> {
        let mut session = self.exec_start(from, spec, None).await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let body = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        let options = UploadToContainerOptionsBuilder::new()
            .path(path)
            .copy_uidgid("1")
            .build();
        let upload =
            self.docker
                .upload_to_container(into, Some(options), bollard::body_stream(body));
        let pump = async move {
            let mut bytes = 0u64;
            let mut stderr = Vec::new();
            while let Some(chunk) = session.next_chunk().await {
                match chunk? {
                    ExecChunk::Stdout(b) => {
                        bytes += b.len() as u64;
                        // The upload ended early (it failed): keep draining so the producer
                        // can finish and say why.
                        let _ = tx.send(b).await;
                    }
                    ExecChunk::Stderr(b) => stderr.extend_from_slice(&b),
                }
            }
            drop(tx);
            let code = session.wait().await?;
            Ok::<_, DockerError>((bytes, stderr, code))
        };
        let (uploaded, pumped) = tokio::join!(upload, pump);
        let (bytes, stderr, code) = pumped?;
        let what = spec.cmd.first().cloned().unwrap_or_default();
        if code != 0 {
            return Err(DockerError::Invalid(format!(
                "{what} in {from} exited {code}: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        uploaded
            .map_err(|e| DockerError::api(format!("unpack {what}'s tar into {into}:{path}"), e))?;
        Ok(Piped { bytes })
    }
}
