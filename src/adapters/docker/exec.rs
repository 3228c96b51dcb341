//! Running a command inside a container without a TTY, so stdout and stderr stay separate and
//! binary output (pg_dump -Fc) is byte-exact. Output is a stream of chunks; stdin, if given,
//! is copied from any `AsyncRead` by a task and closed (half-shutdown) at its end so the
//! command sees EOF. The exit code is read from the engine after the output ends.
//!
//! Invariant: env values are passed to the engine only; they are never logged here.

use std::pin::Pin;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::connect::DockerClient;
use super::error::{DockerError, Result};

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// `NAME=value` entries added to the container's environment for this command only.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

impl ExecSpec {
    pub fn new<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecSpec {
            cmd: cmd.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push(format!("{name}={value}"));
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }
}

/// One piece of output; a chunk may hold part of a line or several lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecChunk {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// Collected output of a finished command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A running exec. Drain `next_chunk` until `None`, then call `wait` for the exit code.
pub struct ExecSession {
    client: DockerClient,
    pub id: String,
    output: OutputStream,
    stdin_task: Option<JoinHandle<std::io::Result<u64>>>,
}

impl ExecSession {
    /// The next output chunk, `None` at end of output.
    pub async fn next_chunk(&mut self) -> Option<Result<ExecChunk>> {
        loop {
            let item = self.output.next().await?;
            return Some(match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    Ok(ExecChunk::Stdout(message))
                }
                Ok(LogOutput::StdErr { message }) => Ok(ExecChunk::Stderr(message)),
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => Err(DockerError::api(
                    format!("read output of exec {}", self.id),
                    e,
                )),
            });
        }
    }

    /// Waits for the command to end and returns its exit code. A stdin copy error is reported
    /// only when the command itself succeeded (a command that exits early closes its stdin),
    /// and never a broken pipe then: a command that succeeded without reading all its input
    /// stopped on purpose (`pg_restore --list` reads a custom dump's table of contents only).
    /// Once the command has ended, a stdin copy still in progress has no reader and is
    /// aborted rather than awaited (awaiting it stalled `pg_restore --list` for 18 s).
    pub async fn wait(mut self) -> Result<i64> {
        while self.next_chunk().await.is_some() {}
        let mut delay = Duration::from_millis(20);
        let code = loop {
            let info = self
                .client
                .docker
                .inspect_exec(&self.id)
                .await
                .map_err(|e| DockerError::api(format!("inspect exec {}", self.id), e))?;
            if info.running != Some(true) {
                break info.exit_code.unwrap_or(-1);
            }
            if delay > Duration::from_secs(2) {
                return Err(DockerError::Invalid(format!(
                    "exec {} ended its output but the engine still reports it running",
                    self.id
                )));
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        };
        let stdin_result = match self.stdin_task.take() {
            Some(t) if t.is_finished() => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Some(t) => {
                t.abort();
                Ok(0)
            }
            None => Ok(0),
        };
        if code == 0
            && let Err(e) = stdin_result
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(DockerError::Io {
                context: format!("writing stdin of exec {}", self.id),
                source: e,
            });
        }
        Ok(code)
    }
}

impl DockerClient {
    /// Starts `spec` in `container` with no TTY. `stdin`, if given, is streamed to the command
    /// and closed at its end.
    pub async fn exec_start(
        &self,
        container: &str,
        spec: &ExecSpec,
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<ExecSession> {
        let config = ExecConfig {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(spec.cmd.clone()),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            ..Default::default()
        };
        let what = spec.cmd.first().cloned().unwrap_or_default();
        let created = self
            .docker
            .create_exec(container, config)
            .await
            .map_err(|e| DockerError::api(format!("create exec {what} in {container}"), e))?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: Some(64 * 1024),
                }),
            )
            .await
            .map_err(|e| DockerError::api(format!("start exec {what} in {container}"), e))?;
        let StartExecResults::Attached { output, mut input } = started else {
            return Err(DockerError::Invalid(format!(
                "exec {what} in {container} started detached; expected attached streams"
            )));
        };
        let stdin_task = stdin.map(|mut reader| {
            tokio::spawn(async move {
                let n = tokio::io::copy(&mut reader, &mut input).await?;
                input.shutdown().await?;
                Ok(n)
            })
        });
        Ok(ExecSession {
            client: self.clone(),
            id: created.id,
            output,
            stdin_task,
        })
    }

    /// Runs `spec` to completion and collects its output (for small outputs only).
    pub async fn exec_output(&self, container: &str, spec: &ExecSpec) -> Result<ExecOutput> {
        self.exec_output_with_stdin(container, spec, None).await
    }

    /// Like `exec_output`, feeding `stdin` to the command.
    pub async fn exec_output_with_stdin(
        &self,
        container: &str,
        spec: &ExecSpec,
        stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    ) -> Result<ExecOutput> {
        let mut session = self.exec_start(container, spec, stdin).await?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = session.next_chunk().await {
            match chunk? {
                ExecChunk::Stdout(b) => stdout.extend_from_slice(&b),
                ExecChunk::Stderr(b) => stderr.extend_from_slice(&b),
            }
        }
        let exit_code = session.wait().await?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }
}
