//! One container's command piped into another's: the stdout of an exec in `from` becomes the
//! stdin of an exec in `into`, through the Engine, as it streams (`pg_dump -Fc` in the live
//! postgres into `pg_restore` in a copy of it).
//!
//! Why this way: nothing is written on cutover's machine, and the data never sits in memory
//! whole (an in-process pipe with a bounded buffer between the two execs).
//!
//! Invariants:
//! - both exit codes are checked: a producer that fails fails the pipe even when the consumer
//!   accepted what it got (a truncated dump may restore "successfully" as far as it goes); the
//!   error names the failing side, its container and the tail of its stderr;
//! - a consumer that stops reading early does not stall the producer: its output is drained to
//!   the end so it finishes (and, for a database client, ends its session) on its own.

use tokio::io::AsyncWriteExt;

use super::connect::DockerClient;
use super::error::{DockerError, Result};
use super::exec::{ExecChunk, ExecSession, ExecSpec};

/// The in-process pipe's buffer between the two execs.
const BUFFER: usize = 256 * 1024;
/// How much of each side's stderr is kept (its end: where a failure is said).
const STDERR_TAIL: usize = 8 * 1024;

/// What went through the pipe, and what each side said on stderr (its tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPiped {
    /// Bytes the producer wrote on stdout.
    pub bytes: u64,
    pub from_stderr: String,
    pub into_stderr: String,
}

impl DockerClient {
    /// Runs `produce` in `from` with its stdout fed to `consume` in `into` (stdin closed at the
    /// producer's end). Ok only when both exit 0.
    pub async fn pipe_exec(
        &self,
        from: &str,
        produce: &ExecSpec,
        into: &str,
        consume: &ExecSpec,
    ) -> Result<ExecPiped> {
        let (mut writer, reader) = tokio::io::duplex(BUFFER);
        // The consumer first: the producer's first bytes have somewhere to go.
        let consumer = self
            .exec_start(into, consume, Some(Box::new(reader)))
            .await?;
        let producer = match self.exec_start(from, produce, None).await {
            Ok(p) => p,
            Err(e) => {
                // Its stdin ends now; let it finish rather than leave it waiting.
                drop(writer);
                let _ = drain(consumer).await;
                return Err(e);
            }
        };
        let pump = async move {
            let mut producer = producer;
            let mut open = true;
            let mut bytes = 0u64;
            let mut stderr = Vec::new();
            while let Some(chunk) = producer.next_chunk().await {
                match chunk? {
                    ExecChunk::Stdout(b) => {
                        bytes += b.len() as u64;
                        // The consumer ended early (it failed): keep draining so the producer
                        // can finish and say why, if it failed too.
                        if open && writer.write_all(&b).await.is_err() {
                            open = false;
                        }
                    }
                    ExecChunk::Stderr(b) => keep_tail(&mut stderr, &b),
                }
            }
            let _ = writer.shutdown().await;
            drop(writer);
            let code = producer.wait().await?;
            Ok::<_, DockerError>((bytes, stderr, code))
        };
        let (pumped, drained) = tokio::join!(pump, drain(consumer));
        let (bytes, from_err, from_code) = pumped?;
        let (into_err, into_code) = drained?;
        let from_stderr = String::from_utf8_lossy(&from_err).trim().to_string();
        let into_stderr = String::from_utf8_lossy(&into_err).trim().to_string();
        let side = |spec: &ExecSpec, c: &str, code: i64, err: &str| {
            let what = spec.cmd.first().cloned().unwrap_or_default();
            format!("{what} in {c} exited {code}: {err}")
        };
        match (from_code, into_code) {
            (0, 0) => Ok(ExecPiped {
                bytes,
                from_stderr,
                into_stderr,
            }),
            (0, code) => Err(DockerError::Invalid(side(
                consume,
                into,
                code,
                &into_stderr,
            ))),
            (code, 0) => Err(DockerError::Invalid(side(
                produce,
                from,
                code,
                &from_stderr,
            ))),
            // The producer's failure first: the consumer's is most likely its consequence.
            (p, c) => Err(DockerError::Invalid(format!(
                "{}; and {}",
                side(produce, from, p, &from_stderr),
                side(consume, into, c, &into_stderr)
            ))),
        }
    }
}

/// Reads a session's output to its end (stdout discarded, stderr's tail kept), then its code.
async fn drain(mut session: ExecSession) -> Result<(Vec<u8>, i64)> {
    let mut stderr = Vec::new();
    while let Some(chunk) = session.next_chunk().await {
        if let ExecChunk::Stderr(b) = chunk? {
            keep_tail(&mut stderr, &b);
        }
    }
    let code = session.wait().await?;
    Ok((stderr, code))
}

/// Appends `more`, keeping only the last `STDERR_TAIL` bytes.
fn keep_tail(buf: &mut Vec<u8>, more: &[u8]) {
    buf.extend_from_slice(more);
    if buf.len() > STDERR_TAIL {
        buf.drain(..buf.len() - STDERR_TAIL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stderr_tail_keeps_the_end() {
        let mut buf = Vec::new();
        keep_tail(&mut buf, &vec![b'a'; STDERR_TAIL]);
        keep_tail(&mut buf, b"the end");
        assert_eq!(buf.len(), STDERR_TAIL);
        assert!(buf.ends_with(b"the end"));
    }
}
