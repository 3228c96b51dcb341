//! The application's writers on the side stack (`rehearse_app`): each writer service as the
//! Compose tool resolves the live project (`config --format json`), cut down to what can run
//! in isolation.
//!
//! Kept: image, command, entrypoint, environment (every value, secrets included: it goes only
//! into the 0600 side compose file, never into a log), healthcheck, working dir, user, stop
//! signal and grace, init, tmpfs mounts; `depends_on` only towards services on the side.
//! Replaced: networks (the side's `internal` network only, the live service name as alias, so
//! `postgres` resolves to the copy), container name (`<project>-rehearsal-<service>`), labels
//! (only `io.cutover.rehearsal`: the live labels may route traffic to it, e.g. a proxy's).
//! Dropped, and said: published ports, host bind mounts (the live stack's data), secrets and
//! configs, extra hosts, a `network_mode`, replicas beyond one. Named volumes become fresh,
//! empty side volumes (`side_<name>`), removed with the stack.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// One writer service, ready for the side compose file.
#[derive(Debug, Clone, PartialEq)]
pub struct AppService {
    pub name: String,
    /// The service's definition (a JSON object; JSON is YAML), `$` not yet escaped.
    pub def: Value,
}

/// The writers to copy and what was left out of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppCopy {
    pub services: Vec<AppService>,
    /// Side volumes to declare (the `side_<name>` of every named volume kept).
    pub volumes: Vec<String>,
    /// What was dropped, in words (`backend: published port 127.0.0.1::8000`).
    pub dropped: Vec<String>,
    /// The live postgres service's healthcheck (a writer may wait for it to be healthy).
    pub postgres_healthcheck: Option<Value>,
}

/// Keys carried over as they are.
const KEEP: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "healthcheck",
    "working_dir",
    "user",
    "stop_signal",
    "stop_grace_period",
    "init",
    "tmpfs",
];
/// Keys dropped with a word (the rest, e.g. `restart`, `labels`, `container_name`, are
/// replaced or irrelevant on the side).
const DROP: &[&str] = &[
    "ports",
    "secrets",
    "configs",
    "extra_hosts",
    "network_mode",
    "devices",
];

/// Picks `writers` (those the live project has; absent ones are skipped) out of the resolved
/// project `text` (v2's `config --format json`, or v1's YAML `config`). `side_net` is the side network's key,
/// `container_prefix` is `<project>-rehearsal-`.
pub fn from_resolved(
    text: &str,
    writers: &[String],
    postgres: &str,
    side_net: &str,
    container_prefix: &str,
) -> Result<AppCopy> {
    let root: Value = crate::adapters::compose::resolved_as_json(text)
        .context("reading the Compose tool's `config` of the live project")?;
    let services = root
        .get("services")
        .and_then(Value::as_object)
        .context("the live project as Compose resolves it has no `services:`")?;
    let copied: Vec<&String> = writers
        .iter()
        .filter(|w| services.contains_key(w.as_str()))
        .collect();
    let mut out = AppCopy {
        postgres_healthcheck: services
            .get(postgres)
            .and_then(|p| p.get("healthcheck"))
            .cloned(),
        ..AppCopy::default()
    };
    for name in copied.clone() {
        let live = services[name.as_str()]
            .as_object()
            .with_context(|| format!("service {name} is not a mapping"))?;
        if live.get("image").and_then(Value::as_str).is_none() {
            bail!(
                "rehearse_app: service {name} has no image (build only); build and tag it, or \
                 turn rehearse_app off"
            );
        }
        let mut def = Map::new();
        for k in KEEP {
            if let Some(v) = live.get(*k) {
                def.insert(k.to_string(), v.clone());
            }
        }
        for k in DROP {
            if let Some(v) = live.get(*k) {
                out.dropped
                    .push(format!("{name}: {} {}", k.replace('_', " "), brief(v)));
            }
        }
        if let Some(deps) = live.get("depends_on").and_then(Value::as_object) {
            let kept: Map<String, Value> = deps
                .iter()
                .filter(|(d, _)| *d == postgres || copied.iter().any(|c| c == d))
                .map(|(d, v)| (d.clone(), v.clone()))
                .collect();
            if !kept.is_empty() {
                def.insert("depends_on".into(), Value::Object(kept));
            }
        }
        let mut volumes = Vec::new();
        for m in live
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
            let source = m.get("source").and_then(Value::as_str).unwrap_or_default();
            let target = m.get("target").and_then(Value::as_str).unwrap_or_default();
            match kind {
                "volume" if !source.is_empty() => {
                    let side = format!("side_{source}");
                    volumes.push(json!({"type": "volume", "source": side, "target": target}));
                    if !out.volumes.contains(&side) {
                        out.volumes.push(side);
                    }
                    out.dropped.push(format!(
                        "{name}: volume {source} at {target} (a fresh, empty side volume instead)"
                    ));
                }
                "volume" | "tmpfs" => volumes.push(m.clone()),
                _ => out
                    .dropped
                    .push(format!("{name}: {kind} mount {source} at {target}")),
            }
        }
        if !volumes.is_empty() {
            def.insert("volumes".into(), Value::Array(volumes));
        }
        if live
            .get("deploy")
            .and_then(|d| d.get("replicas"))
            .and_then(Value::as_u64)
            .is_some_and(|r| r > 1)
        {
            out.dropped
                .push(format!("{name}: replicas beyond one (one copy runs)"));
        }
        def.insert(
            "container_name".into(),
            Value::String(format!("{container_prefix}{name}")),
        );
        def.insert(
            "networks".into(),
            json!({ side_net: { "aliases": [name] } }),
        );
        out.services.push(AppService {
            name: name.clone(),
            def: Value::Object(def),
        });
    }
    Ok(out)
}

/// A dropped value in a few words; never an environment value (those are not dropped).
fn brief(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    let f = |k: &str| o.get(k).map(|v| v.to_string().replace('"', ""));
                    match (f("host_ip"), f("published"), f("target"), f("source")) {
                        (Some(ip), p, Some(t), _) => format!("{ip}:{}:{t}", p.unwrap_or_default()),
                        (None, Some(p), Some(t), _) => format!("{p}:{t}"),
                        (None, None, Some(t), _) => t,
                        (_, _, None, Some(s)) => s,
                        _ => "(one)".into(),
                    }
                }
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(o) => o.keys().cloned().collect::<Vec<_>>().join(", "),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `v` with every string's `$` doubled, so Compose interpolates nothing (the values are
/// already resolved).
pub fn escaped(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.iter().map(escaped).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.replace('$', "$$"), escaped(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_keep_their_shape_and_lose_what_reaches_outside() {
        let text = r#"{"services":{
          "postgres":{"image":"pg","healthcheck":{"test":["CMD","pg_isready"]}},
          "backend":{"image":"app","command":["backend"],"environment":{"P":"s$cret"},
            "ports":[{"host_ip":"127.0.0.1","target":8000,"published":""}],
            "depends_on":{"postgres":{"condition":"service_healthy"},"redis":{"condition":"service_started"}},
            "volumes":[{"type":"bind","source":"/srv/up","target":"/up"},
                       {"type":"volume","source":"cache","target":"/cache"}],
            "labels":{"traefik.enable":"true"},"restart":"always","networks":{"net":null}},
          "redis":{"image":"redis"}}}"#;
        let writers = ["backend".to_string(), "celery-worker".to_string()];
        let c = from_resolved(text, &writers, "postgres", "rehearsal", "p-rehearsal-").unwrap();
        assert_eq!(c.services.len(), 1, "an absent writer is skipped");
        let d = &c.services[0].def;
        assert_eq!(d["image"], "app");
        assert_eq!(d["environment"]["P"], "s$cret");
        assert_eq!(d["container_name"], "p-rehearsal-backend");
        assert_eq!(
            d["networks"],
            json!({"rehearsal": {"aliases": ["backend"]}})
        );
        assert_eq!(
            d["depends_on"],
            json!({"postgres": {"condition": "service_healthy"}})
        );
        assert_eq!(
            d["volumes"],
            json!([{"type":"volume","source":"side_cache","target":"/cache"}])
        );
        for gone in ["ports", "labels", "restart"] {
            assert!(d.get(gone).is_none(), "{gone}");
        }
        assert_eq!(c.volumes, ["side_cache"]);
        assert!(c.dropped.iter().any(|d| d.contains("bind mount /srv/up")));
        assert!(
            c.dropped
                .iter()
                .any(|d| d.contains("ports 127.0.0.1::8000") || d.contains("ports 127.0.0.1:")),
            "{:?}",
            c.dropped
        );
        assert!(c.dropped.iter().all(|d| !d.contains("s$cret")));
        assert!(c.postgres_healthcheck.is_some());
        assert_eq!(escaped(&d["environment"])["P"], "s$$cret");
    }
}
