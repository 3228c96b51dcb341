//! A scaled writer: celery-worker with `deploy.replicas: 2` (no `container_name`, as scaling
//! requires). Every replica must be stopped before the database goes down and started after it
//! is back; a replica left running would keep writing through the backup and into the old
//! server while it is replaced.
//!
//! What is asserted comes from the engine's own event log for the project (`docker events`):
//! each replica's `die` before the old postgres container's, and its `start` only after the new
//! postgres container's. Runs under the Compose tool of `COMPOSE` (v1 or v2).

mod support;

use std::process::{Command, Stdio};

use serde_json::Value;
use support::cutover::{Run, text};
use support::{LABEL_PROJECT, Stack, docker};

/// The template with the worker scaled to two replicas.
fn scaled_worker_compose() -> String {
    let t = Stack::template();
    let named = "    container_name: ${COMPOSE_PROJECT_NAME}-celery-worker\n";
    assert!(
        t.contains(named),
        "the template names the worker's container"
    );
    t.replace(
        named,
        "    # Scaled: Compose names the replicas <project>-celery-worker-1 and -2.\n    deploy:\n      replicas: 2\n",
    )
}

/// The project's container `die` and `start` events, streamed live (`docker events` without
/// `--until`, read by a thread so the pipe never fills): the engine keeps only a short backlog
/// for past events, which other tests' events can push out.
struct EventLog {
    child: std::process::Child,
    reader: Option<std::thread::JoinHandle<Vec<(i64, String, String)>>>,
}

impl EventLog {
    fn start(project: &str) -> EventLog {
        let mut child = Command::new("docker")
            .args(["events", "--filter", "type=container"])
            .args(["--filter", "event=die", "--filter", "event=start"])
            .args(["--filter", &format!("label={LABEL_PROJECT}={project}")])
            .args(["--format", "{{json .}}"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker events");
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                .map(|v| {
                    (
                        v["timeNano"].as_i64().unwrap_or_default(),
                        v["Action"].as_str().unwrap_or_default().to_string(),
                        v["id"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        });
        // Let the subscription start before anything happens.
        std::thread::sleep(std::time::Duration::from_millis(500));
        EventLog {
            child,
            reader: Some(reader),
        }
    }

    /// (time in ns, action, container id) of every event so far; ends the stream.
    fn finish(mut self) -> Vec<(i64, String, String)> {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.take().unwrap().join().expect("event reader")
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker_ids(project: &str) -> Vec<String> {
    let ids = docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label={LABEL_PROJECT}={project}"),
        "--filter",
        "label=com.docker.compose.service=celery-worker",
    ]);
    let mut v: Vec<String> = ids.lines().map(String::from).collect();
    v.sort();
    v
}

fn running(id: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Running}}", id]) == "true"
}

#[tokio::test(flavor = "multi_thread")]
async fn every_replica_of_a_scaled_worker_is_stopped_for_the_window_and_started_after() {
    let Some(_engine) = support::require_docker() else {
        return;
    };
    let stack = Stack::up_with_files(20, &[("compose.yaml", &scaled_worker_compose())]);
    let project = stack.project().to_string();
    let workers = worker_ids(&project);
    assert_eq!(workers.len(), 2, "two worker replicas: {workers:?}");
    assert!(workers.iter().all(|w| running(w)), "both replicas run");
    let old_pg = stack.container_id("postgres");

    let log = EventLog::start(&project);
    let run = Run::upgrade(stack.dir()).output();
    assert!(run.status.success(), "{}", text(&run));
    let ev = log.finish();
    let new_pg = stack.container_id("postgres");
    assert_ne!(old_pg, new_pg, "postgres was recreated on the target image");

    let first = |action: &str, id: &str| {
        ev.iter()
            .filter(|(_, a, i)| a == action && i == id)
            .map(|(t, _, _)| *t)
            .min()
    };
    let seen = || {
        ev.iter()
            .map(|(t, a, i)| format!("{t} {a} {}", &i[..12.min(i.len())]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let old_pg_down = first("die", &old_pg)
        .unwrap_or_else(|| panic!("the old postgres {old_pg} stopped: events\n{}", seen()));
    let new_pg_up = first("start", &new_pg)
        .unwrap_or_else(|| panic!("the new postgres {new_pg} started: events\n{}", seen()));
    for w in &workers {
        let died = first("die", w).unwrap_or_else(|| panic!("replica {w} was never stopped"));
        assert!(
            died < old_pg_down,
            "replica {w} stopped only after the old postgres went down"
        );
        let starts: Vec<i64> = ev
            .iter()
            .filter(|(_, a, i)| a == "start" && i == w)
            .map(|(t, _, _)| *t)
            .collect();
        assert!(
            starts.iter().all(|t| *t > new_pg_up),
            "replica {w} started during the window: {starts:?} vs new postgres {new_pg_up}"
        );
        assert!(!starts.is_empty(), "replica {w} was not started again");
        assert!(running(w), "replica {w} runs after the upgrade");
    }
    // Both replicas are the same containers as before (started again, not recreated).
    assert_eq!(worker_ids(&project), workers);
    // And they write to the new server: ticks after the run.
    let db = stack.connect().await;
    let before: i64 = db
        .query_one("SELECT count(*) FROM worker_ticks", &[])
        .await
        .unwrap()
        .get(0);
    support::wait_for(
        "the workers write to the new server",
        std::time::Duration::from_secs(30),
        || {
            let db = &db;
            async move {
                let n: i64 = db
                    .query_one("SELECT count(*) FROM worker_ticks", &[])
                    .await
                    .ok()?
                    .get(0);
                (n > before).then_some(())
            }
        },
    )
    .await;
}
