//! The wizard's states on the REAL pgvector plan (built from the test bed's compose file,
//! without Docker), fed synthetic engine events built from the plan's own step metadata: the
//! checklist with one item left to sign, the run during the backup, the Result screen with the
//! plan's figures, and the same screen after the operator rolled the finished upgrade back.
//! Shared by the snapshot tests and the README's pictures (tests/tui_assets.rs).

use std::collections::BTreeMap;
use std::path::Path;

use cutover::adapters::backup::BackupRecord;
use cutover::adapters::fingerprint::{Fingerprint, TableFingerprint};
use cutover::config::{Config, Inputs};
use cutover::engine::recovery::RunState;
use cutover::engine::{EventKind, Finish, RunOutcome, StepKind};
use cutover::tui::State;
use cutover::tui::containers::{LogEntry, from_outputs};
use cutover::tui::figures::Figures;
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::Msg;
use cutover::upgrade::report::UpgradeFacts;

use super::{at, ev, feed, t0};

/// Where the pictures and snapshots say the stack lives (the plan is built in a temporary
/// directory, whose name changes with every build).
pub const STACK_DIR: &str = "/srv/privexbot";

/// The real plan on the test bed's compose file, project "privexbot", and the directory it was
/// built in (gone when this returns: only its name is kept, to be replaced by [`STACK_DIR`]).
pub fn plan() -> (cutover::engine::Plan, String) {
    let tmp = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/stack/compose.yaml");
    // The images the test bed's stand-ins play, as on the stack this plan is for.
    let compose = std::fs::read_to_string(file)
        .unwrap()
        .replace(
            "cutover-testbed/postgres-before:latest",
            "postgres:16-alpine",
        )
        .replace("cutover-testbed/app:latest", "privexbot/backend:1.8");
    std::fs::write(tmp.path().join("compose.yaml"), compose).unwrap();
    std::fs::write(
        tmp.path().join(".env"),
        "COMPOSE_PROJECT_NAME=privexbot\nPOSTGRES_PASSWORD=not-printed\n",
    )
    .unwrap();
    let env: BTreeMap<String, String> = [("CUTOVER_QDRANT_PORTS", "none")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::load(Inputs {
        cwd: tmp.path(),
        config_file: None,
        env: &env,
        flags: Default::default(),
    })
    .unwrap();
    let dir = tmp.path().display().to_string();
    (cutover::plans::build(&config).unwrap(), dir)
}

/// Pre-flight passed (with the real steps' kind of evidence); two of three items signed.
pub fn checklist() -> State {
    let (plan, dir) = plan();
    let mut s = State::new(&plan, "privexbot", t0());
    for step in &mut s.steps {
        for t in &mut step.info.touches {
            *t = t.replace(&dir, STACK_DIR);
        }
    }
    let total = plan.steps.len();
    let mut msgs = vec![ev(
        0,
        EventKind::RunStarted {
            plan: "pgvector".into(),
            run_dir: "/srv/privexbot/.cutover/runs/20261125T020000Z".into(),
            resumed: false,
        },
    )];
    let evidence: BTreeMap<&str, &str> = [
        ("engine", "Docker Engine 20.10.24, API 1.41"),
        (
            "discover",
            "postgres: privexbot-postgres (postgres:16-alpine)",
        ),
        ("versions", "server 16.4, data directory 16"),
        ("disk-space", "backup dir: 41.2 GiB free, need 1.9 GiB"),
        ("sessions", "backend: 3 sessions; celery-worker: 1 session"),
    ]
    .into_iter()
    .collect();
    let mut t = 0;
    // The pre-flight is what comes before the first action (later checks verify the run).
    let first_action = plan
        .steps
        .iter()
        .position(|s| s.kind() == StepKind::Action)
        .unwrap();
    for (i, step) in plan.steps.iter().enumerate().take(first_action) {
        let id = step.id().to_string();
        match step.kind() {
            StepKind::Check => {
                msgs.push(ev(
                    t,
                    EventKind::StepStarted {
                        step: id.clone(),
                        title: step.title().into(),
                        kind: StepKind::Check,
                        index: i,
                        total,
                    },
                ));
                if let Some(line) = evidence.get(id.as_str()) {
                    msgs.push(ev(
                        t,
                        EventKind::Log {
                            step: id.clone(),
                            line: line.to_string(),
                        },
                    ));
                }
                t += 1;
                msgs.push(ev(
                    t,
                    EventKind::StepFinished {
                        step: id,
                        title: step.title().into(),
                        outcome: Finish::Ok,
                        elapsed_ms: 400,
                    },
                ));
            }
            StepKind::SignOff if id != "window-agreed" => msgs.push(ev(
                t,
                EventKind::SignedOff {
                    step: id,
                    title: step.title().into(),
                    by: "Ann Example".into(),
                },
            )),
            _ => {}
        }
    }
    msgs.push(ev(
        t,
        EventKind::AwaitingStart {
            unsigned: vec!["window-agreed".into()],
        },
    ));
    msgs.push(Msg::Tick(at(t + 1)));
    feed(&mut s, msgs);
    s.operator = Some("Ann Example".into());
    s
}

pub fn discovery() -> BTreeMap<String, serde_json::Value> {
    let found = |svc: &str, image: &str| {
        serde_json::json!({"service": svc, "container": format!("privexbot-{svc}"),
            "id": "4f1c2d3e4f5a6b7c", "image": image, "image_id": "sha256:0a1b", "running": true})
    };
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "discover".to_string(),
        serde_json::json!({"postgres": found("postgres", "postgres:16-alpine"),
            "writers": [found("backend", "privexbot/backend:1.8"), found("celery-worker", "privexbot/backend:1.8")],
            "absent": [], "network": "privexbot_privexbot-network", "restart": "unless-stopped",
            "compose_version": "2.29.1", "qdrant": null}),
    );
    outputs
}

/// Signed and started; pull and stop done, the backup streaming.
pub fn running() -> State {
    let mut s = checklist();
    let plan_steps: Vec<(String, String)> = s
        .steps
        .iter()
        .map(|v| (v.info.id.clone(), v.info.title.clone()))
        .collect();
    let started = |secs, id: &str| {
        let i = plan_steps.iter().position(|(s, _)| s == id).unwrap();
        ev(
            secs,
            EventKind::StepStarted {
                step: id.into(),
                title: plan_steps[i].1.clone(),
                kind: StepKind::Action,
                index: i,
                total: plan_steps.len(),
            },
        )
    };
    let ok = |secs, id: &str, ms| {
        ev(
            secs,
            EventKind::StepFinished {
                step: id.into(),
                title: String::new(),
                outcome: Finish::Ok,
                elapsed_ms: ms,
            },
        )
    };
    feed(
        &mut s,
        [
            ev(
                20,
                EventKind::SignedOff {
                    step: "window-agreed".into(),
                    title: String::new(),
                    by: "Ann Example".into(),
                },
            ),
            started(21, "pull-images"),
            ok(21, "pull-images", 40),
            started(21, "stop-writers"),
            ok(23, "stop-writers", 2100),
            started(23, "backup"),
            ev(
                24,
                EventKind::Progress {
                    step: "backup".into(),
                    current: 200 << 20,
                    total: Some(1200 << 20),
                    unit: "bytes".into(),
                },
            ),
            ev(
                29,
                EventKind::Progress {
                    step: "backup".into(),
                    current: 700 << 20,
                    total: Some(1200 << 20),
                    unit: "bytes".into(),
                },
            ),
            Msg::Tick(at(30)),
        ],
    );
    s.outputs = discovery();
    s.containers = from_outputs(&s.outputs).unwrap();
    s.logs.selected = Some(0);
    for (i, line) in [
        "LOG:  checkpoint starting: time",
        "LOG:  checkpoint complete: wrote 212 buffers (1.3%); 0 WAL file(s) added, 0 removed, 1 recycled; write=21.2 s",
        "LOG:  statement: COPY public.users (id, email, created_at) TO stdout;",
    ]
    .iter()
    .enumerate()
    {
        s.logs.push(
            "privexbot-postgres",
            LogEntry {
                at: Some(at(24 + i as i64)),
                stderr: true,
                text: line.to_string(),
                note: false,
            },
        );
    }
    s
}

pub fn done() -> State {
    let mut s = running();
    let ids: Vec<String> = s
        .steps
        .iter()
        .filter(|v| v.info.kind == StepKind::Action)
        .map(|v| v.info.id.clone())
        .collect();
    let mut msgs: Vec<Msg> = ids
        .iter()
        .map(|id| {
            ev(
                60,
                EventKind::StepFinished {
                    step: id.clone(),
                    title: String::new(),
                    outcome: Finish::Ok,
                    elapsed_ms: 1500,
                },
            )
        })
        .collect();
    msgs.push(ev(
        61,
        EventKind::RunFinished {
            outcome: RunOutcome::Done,
        },
    ));
    feed(&mut s, msgs);
    let fp = |rows: &[(&str, i64, &str)]| Fingerprint {
        method: Default::default(),
        tables: rows
            .iter()
            .map(|(t, n, c)| {
                (
                    t.to_string(),
                    TableFingerprint {
                        rows: *n,
                        checksum: c.to_string(),
                    },
                )
            })
            .collect(),
    };
    let facts = UpgradeFacts {
        server_before: Some("16.4".into()),
        server_after: Some("16.6".into()),
        db_downtime_ms: Some(4_800),
        app_downtime_ms: Some(9_300),
        backup: Some(BackupRecord {
            path: "/srv/privexbot/.cutover/runs/20261125T020000Z/privexbot.dump".into(),
            bytes: 1_258_291_200,
            sha256: "9f2c4e1ab0d3c5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5".into(),
            toc_entries: 41,
            database: "privexbot".into(),
            compression: "zstd:1".into(),
        }),
        fingerprint_before: Some(fp(&[
            ("users", 2000, "-81723"),
            ("workspaces", 400, "5521"),
        ])),
        fingerprint_after: Some(fp(&[
            ("users", 2000, "-81723"),
            ("workspaces", 400, "5521"),
        ])),
        new_tables: vec![
            "knowledge_bases".into(),
            "documents".into(),
            "chunks".into(),
        ],
        old_container_kept: Some("privexbot-postgres-cutover-old-4f1c2d3e4f5a".into()),
        ..Default::default()
    };
    s.figures = Some(Figures {
        facts,
        collation: None,
        qdrant: None,
        backend: None,
        old_container: Some((
            "privexbot-postgres-cutover-old-4f1c2d3e4f5a".into(),
            "4f1c2d3e4f5a6b7c".into(),
        )),
        unreadable: Vec::new(),
    });
    s
}

/// The journal of the rollback the operator started from the Result screen (fast path), as the
/// engine records it: every action undone, newest first, and the undo of stop-writers' check
/// (the resume proof, rows written while the upgrade stood, the backend healthy again).
fn rollback_journal(undone: &[String], reason: &str) -> RunState {
    let mut run = RunState {
        plan: "pgvector".into(),
        stack: "privexbot".into(),
        phase: cutover::engine::recovery::Phase::Finished {
            outcome: RunOutcome::RolledBack {
                reason: reason.into(),
            },
        },
        rollback_reason: Some(reason.into()),
        rollback_started_at: Some(at(90)),
        ..RunState::default()
    };
    for (i, id) in undone.iter().enumerate() {
        let t = 90 + i as i64;
        let output = (id == "stop-writers").then(|| {
            serde_json::json!({
                "stopped": ["privexbot-backend", "privexbot-celery-worker"],
                "backend": "privexbot-backend",
                "stop_issued_at": at(21),
                "rollback_check": {
                    "path": "fast",
                    "compared": 2,
                    "window_rows": ["users: +12 rows written while the upgrade stood, kept"],
                    "extra_tables": [],
                    "backend_healthy_url": "http://127.0.0.1:8000/health",
                    "data_checked_at": at(t),
                    "healthy_at": at(t + 2),
                    "resumed": "the old postgres resumed at checkpoint 0/3A000148 of cluster \
                        7441195133337133093, at or after 0/3A000110 where the new one stopped \
                        writing: every committed row is there",
                    "contents_compared": false
                }
            })
        });
        let record = serde_json::json!({
            "state": "undone", "output": output, "outcome": {"status": "ok"}, "error": null,
            "uncertain_failure": false, "signed_by": null,
            "started_at": at(21), "finished_at": at(60),
            "undo_started_at": at(t), "undo_finished_at": at(t + 1),
            "undo_error": null, "attempts": 1
        });
        run.steps
            .insert(id.clone(), serde_json::from_value(record).unwrap());
    }
    run.last_at = Some(at(90 + undone.len() as i64 + 2));
    run
}

/// `done()`, then R on the Result screen, confirmed, and the rollback's events through to its
/// end; the figures are then re-read from the journal as the app does after the last event.
pub fn rolled_back_from_result() -> State {
    let mut s = done();
    let reason = "the operator rolled back the finished upgrade";
    let undone: Vec<String> = s
        .steps
        .iter()
        .rev()
        .filter(|v| v.info.kind == StepKind::Action)
        .map(|v| v.info.id.clone())
        .collect();
    let mut msgs = vec![
        Msg::Cmd(Cmd::Rollback),
        Msg::Cmd(Cmd::Accept),
        ev(
            90,
            EventKind::RollbackStarted {
                reason: reason.into(),
            },
        ),
    ];
    for (i, id) in undone.iter().enumerate() {
        let t = 90 + i as i64;
        msgs.push(ev(
            t,
            EventKind::UndoStarted {
                step: id.clone(),
                title: String::new(),
            },
        ));
        msgs.push(ev(
            t + 1,
            EventKind::UndoFinished {
                step: id.clone(),
                title: String::new(),
                elapsed_ms: 1000,
            },
        ));
    }
    msgs.push(ev(
        90 + undone.len() as i64 + 2,
        EventKind::RunFinished {
            outcome: RunOutcome::RolledBack {
                reason: reason.into(),
            },
        },
    ));
    msgs.push(Msg::Tick(at(90 + undone.len() as i64 + 3)));
    feed(&mut s, msgs);
    let run = rollback_journal(&undone, reason);
    if let Some(fig) = s.figures.as_mut() {
        // What the report's rollback section is built from: the journal alone.
        fig.facts.rollback = UpgradeFacts::from_state(&run).rollback;
        // The recreate is undone: no old container is kept any more.
        fig.facts.old_container_kept = None;
        fig.old_container = None;
    }
    s
}
