//! A scripted plan for tests: in-memory steps whose "world" is a directory of marker files,
//! with fault knobs so the real binary can be driven through failures and crashes.
//!
//! Each action writes `<world>/<id>` when it runs and removes it when undone, and appends
//! `run <id>` / `undo <id>` to `<world>/effects.log`, so a test can see both the state of the
//! world and the order things happened in. Knobs come from `CUTOVER_SCRIPTED`, a comma list:
//! `fail=ID`, `fail_undo=ID`, `sleep=ID:MS`, `timeout=ID:MS`, `ponr=ID`,
//! `crash=ID:before|mid` (abort the process at the start of `run`, or after the output is saved
//! and the change made), `crash_undo=ID` (abort at the start of `undo`),
//! `stubborn=ID:MS` (an action that makes its change, then keeps running for MS ms ignoring
//! cancellation: only the runner abandoning it, on a second interrupt, stops it early).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PlanError;
use crate::config::Config;
use crate::engine::{Finish, Plan, Step, StepContext, StepError, StepKind};

#[derive(Debug, Clone, Default)]
pub struct Knobs {
    pub fail: Vec<String>,
    pub fail_undo: Vec<String>,
    pub sleep_ms: BTreeMap<String, u64>,
    pub timeout_ms: BTreeMap<String, u64>,
    pub ponr: Vec<String>,
    pub crash_before: Vec<String>,
    pub crash_mid: Vec<String>,
    pub crash_undo: Vec<String>,
    pub stubborn_ms: BTreeMap<String, u64>,
}

impl Knobs {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut k = Knobs::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or(format!("knob {item:?} needs NAME=VALUE"))?;
            let id_ms = || -> Result<(String, u64), String> {
                let (id, ms) = value
                    .split_once(':')
                    .ok_or(format!("{item:?}: expected ID:MS"))?;
                Ok((
                    id.to_string(),
                    ms.parse()
                        .map_err(|_| format!("{item:?}: bad milliseconds"))?,
                ))
            };
            match name {
                "fail" => k.fail.push(value.into()),
                "fail_undo" => k.fail_undo.push(value.into()),
                "ponr" => k.ponr.push(value.into()),
                "crash_undo" => k.crash_undo.push(value.into()),
                "sleep" => drop(k.sleep_ms.insert(id_ms()?.0, id_ms()?.1)),
                "timeout" => drop(k.timeout_ms.insert(id_ms()?.0, id_ms()?.1)),
                "stubborn" => drop(k.stubborn_ms.insert(id_ms()?.0, id_ms()?.1)),
                "crash" => match value.split_once(':') {
                    Some((id, "before")) => k.crash_before.push(id.into()),
                    Some((id, "mid")) => k.crash_mid.push(id.into()),
                    _ => return Err(format!("{item:?}: expected crash=ID:before|mid")),
                },
                _ => return Err(format!("unknown knob {name:?}")),
            }
        }
        Ok(k)
    }
}

/// Ids of the scripted plan's steps, in order.
pub const STEPS: &[(&str, &str, StepKind)] = &[
    ("check-compose", "Compose file is readable", StepKind::Check),
    (
        "check-world",
        "World directory is writable",
        StepKind::Check,
    ),
    (
        "window-announced",
        "Maintenance window announced to users",
        StepKind::SignOff,
    ),
    (
        "owner-approval",
        "Database owner approves the upgrade",
        StepKind::SignOff,
    ),
    ("stop-writers", "Stop the writers", StepKind::Action),
    ("backup", "Take the backup", StepKind::Action),
    ("swap-image", "Swap the database image", StepKind::Action),
    ("verify", "Verify the service", StepKind::Check),
];

pub fn build(config: &Config) -> Result<Plan, PlanError> {
    let spec = std::env::var("CUTOVER_SCRIPTED").unwrap_or_default();
    let knobs = Knobs::parse(&spec).map_err(|e| PlanError::Build {
        name: "scripted".into(),
        source: anyhow::anyhow!("CUTOVER_SCRIPTED: {e}"),
    })?;
    plan(
        config.compose_file.clone(),
        config.stack_dir().join("scripted-world"),
        knobs,
    )
    .map_err(|source| PlanError::Build {
        name: "scripted".into(),
        source,
    })
}

/// Builds the plan directly (engine tests use this with their own knobs).
pub fn plan(compose_file: PathBuf, world: PathBuf, knobs: Knobs) -> anyhow::Result<Plan> {
    let knobs = Arc::new(knobs);
    let steps = STEPS
        .iter()
        .map(|(id, title, kind)| {
            Arc::new(ScriptedStep {
                id: id.to_string(),
                title: title.to_string(),
                kind: *kind,
                compose_file: compose_file.clone(),
                world: world.clone(),
                knobs: knobs.clone(),
            }) as Arc<dyn Step>
        })
        .collect();
    Plan::new("scripted", steps)
}

pub struct ScriptedStep {
    id: String,
    title: String,
    kind: StepKind,
    compose_file: PathBuf,
    world: PathBuf,
    knobs: Arc<Knobs>,
}

/// What an action saves before changing anything: where its change lives.
#[derive(Debug, Serialize, Deserialize)]
struct Output {
    marker: PathBuf,
    #[serde(default)]
    sha256: Option<String>,
}

impl ScriptedStep {
    fn marker(&self) -> PathBuf {
        self.world.join(&self.id)
    }

    fn record(&self, what: &str) -> Result<(), StepError> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.world.join("effects.log"))
            .map_err(|e| StepError::new("cannot write effects.log").with_cause(e))?;
        writeln!(f, "{what} {}", self.id)
            .map_err(|e| StepError::new("cannot write effects.log").with_cause(e))
    }

    fn has(list: &[String], id: &str) -> bool {
        list.iter().any(|x| x == id)
    }

    async fn act(&self, cx: &StepContext) -> Result<Finish, StepError> {
        if Self::has(&self.knobs.crash_before, &self.id) {
            std::process::abort();
        }
        if Self::has(&self.knobs.fail, &self.id) {
            return Err(
                StepError::new(format!("scripted failure of {}", self.id)).with_cause("knob fail")
            );
        }
        let marker = self.marker();
        let sha256 = (self.id == "backup").then(|| hex::encode(Sha256::digest(b"scripted backup")));
        // The output goes to the journal before the change it describes.
        cx.save_output(&Output {
            marker: marker.clone(),
            sha256,
        })?;
        if self.id == "backup" {
            for i in 1..=3 {
                cx.progress(i, Some(3), "chunks");
            }
        }
        std::fs::write(&marker, b"done")
            .map_err(|e| StepError::new("cannot write marker").with_cause(e))?;
        self.record("run")?;
        cx.log(format!("wrote {}", marker.display()));
        if let Some(ms) = self.knobs.stubborn_ms.get(&self.id) {
            // Deliberately deaf to `cx.cancel_token()`: a step that cannot stop at a safe point.
            cx.log(format!("busy for {ms} ms; not listening to interrupts"));
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
        if Self::has(&self.knobs.crash_mid, &self.id) {
            std::process::abort();
        }
        Ok(Finish::Ok)
    }

    fn check(&self) -> Result<Finish, StepError> {
        if Self::has(&self.knobs.fail, &self.id) {
            return Err(StepError::new(format!("scripted failure of {}", self.id)));
        }
        match self.id.as_str() {
            "check-compose" => std::fs::metadata(&self.compose_file)
                .map(|_| Finish::Ok)
                .map_err(|e| StepError::new("compose file is not readable").with_cause(e)),
            "check-world" => std::fs::create_dir_all(&self.world)
                .map(|_| Finish::Ok)
                .map_err(|e| StepError::new("cannot create the world directory").with_cause(e)),
            _ => {
                let missing: Vec<_> = STEPS
                    .iter()
                    .filter(|(id, _, k)| *k == StepKind::Action && !self.world.join(id).exists())
                    .map(|(id, _, _)| id.to_string())
                    .collect();
                if missing.is_empty() {
                    Ok(Finish::Ok)
                } else {
                    Err(StepError {
                        message: "actions left no trace".into(),
                        causes: missing,
                    })
                }
            }
        }
    }
}

#[async_trait]
impl Step for ScriptedStep {
    fn id(&self) -> &str {
        &self.id
    }
    fn title(&self) -> &str {
        &self.title
    }
    fn kind(&self) -> StepKind {
        self.kind
    }
    fn past_point_of_no_return(&self) -> bool {
        Self::has(&self.knobs.ponr, &self.id)
    }
    fn touches(&self) -> Vec<String> {
        match self.kind {
            StepKind::Action => vec![display(&self.marker())],
            StepKind::Check if self.id == "check-compose" => vec![display(&self.compose_file)],
            StepKind::Check => vec![display(&self.world)],
            StepKind::SignOff => Vec::new(),
        }
    }
    fn timeout(&self) -> Duration {
        Duration::from_millis(
            self.knobs
                .timeout_ms
                .get(&self.id)
                .copied()
                .unwrap_or(30_000),
        )
    }

    async fn run(&self, cx: &StepContext) -> Result<Finish, StepError> {
        if let Some(ms) = self.knobs.sleep_ms.get(&self.id) {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(*ms)) => {}
                () = cx.cancel_token().cancelled() => return Err(StepError::new("cancelled before any change")),
            }
        }
        match self.kind {
            StepKind::Action => self.act(cx).await,
            _ => self.check(),
        }
    }

    async fn undo(&self, cx: &StepContext) -> Result<(), StepError> {
        if Self::has(&self.knobs.crash_undo, &self.id) {
            std::process::abort();
        }
        if Self::has(&self.knobs.fail_undo, &self.id) {
            return Err(StepError::new(format!(
                "scripted undo failure of {}",
                self.id
            )));
        }
        // Idempotent: the marker may never have been written (crash before the change).
        let marker = cx
            .output::<Output>()
            .map_or_else(|| self.marker(), |o| o.marker);
        match std::fs::remove_file(&marker) {
            Ok(()) => cx.log(format!("removed {}", marker.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => cx.log("nothing to undo"),
            Err(e) => return Err(StepError::new("cannot remove marker").with_cause(e)),
        }
        self.record("undo")
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
