//! The wizard's screens on the REAL pgvector plan (built from the test bed's compose file,
//! without Docker), at 80×24 and 120×40: the checklist with one item left to sign, the run
//! screen during the backup (gauge, container logs from the real discovery type), the help
//! overlay at 80×24 (scrolls, nothing cut off), and the Result screen with the plan's figures.
//! States come from synthetic engine events built from the plan's own step metadata.

mod tui_support;

use std::collections::BTreeMap;
use std::path::Path;

use cutover::adapters::backup::BackupRecord;
use cutover::adapters::fingerprint::{Fingerprint, TableFingerprint};
use cutover::config::{Config, Inputs};
use cutover::engine::{EventKind, Finish, RunOutcome, StepKind};
use cutover::tui::State;
use cutover::tui::containers::{LogEntry, from_outputs};
use cutover::tui::figures::Figures;
use cutover::tui::keymap::Cmd;
use cutover::tui::msg::Msg;
use cutover::tui::state::Screen;
use cutover::upgrade::report::UpgradeFacts;
use tui_support::{at, ev, feed, render, t0};

fn snap(name: &str, s: &State) {
    for (w, h) in [(80, 24), (120, 40)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(s, w, h));
    }
}

/// The real plan on the test bed's compose file, project "privexbot".
fn plan() -> cutover::engine::Plan {
    let tmp = tempfile::tempdir().unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/stack/compose.yaml");
    std::fs::copy(file, tmp.path().join("compose.yaml")).unwrap();
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
    cutover::plans::build(&config).unwrap()
}

/// Pre-flight passed (with the real steps' kind of evidence); two of three items signed.
fn checklist() -> State {
    let plan = plan();
    let mut s = State::new(&plan, "privexbot", t0());
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

fn discovery() -> BTreeMap<String, serde_json::Value> {
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
fn running() -> State {
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

#[test]
fn real_plan_checklist_and_run() {
    let s = checklist();
    snap("pgvector_checklist", &s);
    let mut r = running();
    assert_eq!(r.screen, Screen::Run);
    snap("pgvector_run_backup", &r);
    feed(&mut r, [Msg::Cmd(Cmd::Rollback)]);
    snap("pgvector_run_rollback_confirm", &r);
}

#[test]
fn help_scrolls_at_80x24() {
    let mut s = running();
    feed(&mut s, [Msg::Cmd(Cmd::Help)]);
    insta::assert_snapshot!("pgvector_help_top_80x24", render(&s, 80, 24));
    feed(&mut s, (0..10).map(|_| Msg::Cmd(Cmd::ScrollDown)));
    insta::assert_snapshot!("pgvector_help_bottom_80x24", render(&s, 80, 24));
}

fn done() -> State {
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

#[test]
fn result_with_the_plans_figures_and_its_questions() {
    let mut s = done();
    assert_eq!(s.screen, Screen::Result);
    snap("pgvector_result_done", &s);
    feed(&mut s, [Msg::Cmd(Cmd::Finalize)]);
    snap("pgvector_result_finalize_confirm", &s);
    feed(&mut s, [Msg::Cmd(Cmd::Dismiss), Msg::Cmd(Cmd::Rollback)]);
    snap("pgvector_result_rollback_confirm", &s);
    // Rolled back from there: the figures are labelled as the undone run's, not the stack's.
    feed(
        &mut s,
        [
            Msg::Cmd(Cmd::Accept),
            ev(
                90,
                EventKind::RunFinished {
                    outcome: RunOutcome::RolledBack {
                        reason: "the operator rolled back the finished upgrade".into(),
                    },
                },
            ),
        ],
    );
    snap("pgvector_result_rolled_back", &s);
}
