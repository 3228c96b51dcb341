//! The Docker adapter against the real engine, with busybox-static test images. Each test
//! creates uniquely named resources and a `Cleanup` guard removes them even on failure.

mod adapter_docker_support;

use std::collections::HashMap;
use std::time::Duration;

use adapter_docker_support as sup;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use cutover::adapters::docker::*;

async fn create(c: &DockerClient, name: &str, body: ContainerCreateBody) -> String {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    c.raw().create_container(Some(opts), body).await.unwrap().id
}

fn compose_labels(project: &str, service: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (
            "com.docker.compose.project".to_string(),
            project.to_string(),
        ),
        (
            "com.docker.compose.service".to_string(),
            service.to_string(),
        ),
        (
            "com.docker.compose.container-number".to_string(),
            "1".to_string(),
        ),
        ("com.docker.compose.oneoff".to_string(), "False".to_string()),
    ]);
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

async fn network(c: &DockerClient, g: &mut sup::Cleanup) -> String {
    let name = sup::unique("net");
    c.raw()
        .create_network(NetworkCreateRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    g.network(&name);
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn discovers_stack_by_compose_labels_v1_and_v2() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let mut g = sup::Cleanup::default();
    let project = sup::unique("proj").replace('-', "");
    for (svc, oneoff) in [
        ("postgres", "False"),
        ("backend", "False"),
        ("backend", "True"),
    ] {
        let name = sup::unique(svc);
        g.container(&name);
        let mut labels = compose_labels(&project, svc, &[]);
        labels.insert("com.docker.compose.oneoff".into(), oneoff.into());
        create(
            &c,
            &name,
            ContainerCreateBody {
                image: Some(img.clone()),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await;
    }
    let stack = c.find_stack(&project).await.unwrap();
    let services: Vec<&str> = stack.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        ["backend", "postgres"],
        "one-off excluded, sorted"
    );
    assert_eq!(stack[0].number, Some(1));
    assert_eq!(stack[0].state, "created");
    // compose v1 normalised the project name: "My-Proj" was labelled "myproj".
    let dashed = format!("{}-X", project.to_uppercase());
    let v1 = cutover::adapters::docker::labels::v1_project_name(&dashed);
    let name = sup::unique("v1");
    g.container(&name);
    create(
        &c,
        &name,
        ContainerCreateBody {
            image: Some(img.clone()),
            labels: Some(compose_labels(&v1, "redis", &[])),
            ..Default::default()
        },
    )
    .await;
    let found = c.find_stack(&dashed).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].service, "redis");
    assert!(
        c.find_stack("cutover-no-such-project")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recreate_preserves_settings_and_every_step_is_idempotent() {
    let Some(c) = sup::client().await else { return };
    let (Some(img1), Some(img2)) = (sup::base_image(), sup::second_image()) else {
        return;
    };
    let mut g = sup::Cleanup::default();
    let net = network(&c, &mut g).await;
    let net2 = network(&c, &mut g).await;
    let vol = sup::unique("vol");
    g.volume(&vol);
    let name = sup::unique("pg");
    g.container(&name);
    let port = sup::free_port();
    let body = ContainerCreateBody {
        image: Some(img1.clone()),
        env: Some(vec![
            "POSTGRES_USER=app".into(),
            "POSTGRES_PASSWORD=s3cret".into(),
        ]),
        cmd: sh("echo started; exec httpd -f -p 8080 -h /www"),
        labels: Some(compose_labels(
            "p",
            "postgres",
            &[("com.docker.compose.image", "sha256:old"), ("custom", "x")],
        )),
        hostname: Some("pg-host".into()),
        working_dir: Some("/tmp".into()),
        user: Some("0:0".into()),
        stop_signal: Some("SIGINT".into()),
        stop_timeout: Some(7),
        exposed_ports: Some(vec!["8080/tcp".into()]),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            interval: Some(1_000_000_000),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{vol}:/data")]),
            port_bindings: Some(HashMap::from([(
                "8080/tcp".into(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port.to_string()),
                }]),
            )])),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([("max-size".into(), "1m".into())])),
            }),
            network_mode: Some(net.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                net.clone(),
                EndpointSettings {
                    aliases: Some(vec!["db-alias".into()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    };
    let old_id = create(&c, &name, body).await;
    c.raw()
        .connect_network(
            &net2,
            bollard::models::NetworkConnectRequest {
                container: old_id.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(vec!["second-alias".into()]),
                    ..Default::default()
                }),
            },
        )
        .await
        .unwrap();
    c.start(&name).await.unwrap();
    // Data in the named and in the anonymous volume must survive.
    let w = c
        .exec_output(
            &name,
            &ExecSpec::new(["sh", "-c", "echo keep > /data/f; echo anon > /anon/f"]),
        )
        .await
        .unwrap();
    assert_eq!(w.exit_code, 0);
    let old = c.inspect(&name).await.unwrap();

    let plan = c.plan_recreate(&name, &img2).await.unwrap();
    let journaled = serde_json::to_string(&plan).unwrap();
    assert!(
        !journaled.contains("s3cret"),
        "the plan must not hold secrets"
    );
    let plan: RecreatePlan = serde_json::from_str(&journaled).unwrap();
    g.container(&plan.old_kept_name);

    for _ in 0..2 {
        c.stop_old(&plan, Duration::from_secs(5)).await.unwrap();
    }
    for _ in 0..2 {
        c.rename_old(&plan).await.unwrap();
    }
    let id1 = c.create_new(&plan).await.unwrap();
    let id2 = c.create_new(&plan).await.unwrap();
    assert_eq!(id1, id2);
    for _ in 0..2 {
        c.start_new(&plan).await.unwrap();
    }
    let st = c.recreate_state(&plan).await.unwrap();
    assert_eq!(st.old_name.as_deref(), Some(plan.old_kept_name.as_str()));
    assert!(!st.old_running && st.new_running);

    let new = c.inspect(&name).await.unwrap();
    let (oc, nc) = (old.config.clone().unwrap(), new.config.clone().unwrap());
    let env = nc.env.clone().unwrap();
    assert!(env.contains(&"POSTGRES_PASSWORD=s3cret".to_string()));
    assert!(env.contains(&"POSTGRES_USER=app".to_string()));
    assert!(
        env.contains(&"IMG=two".to_string()),
        "new image default applies: {env:?}"
    );
    assert!(!env.contains(&"IMG=one".to_string()));
    assert_eq!(nc.image.as_deref(), Some(img2.as_str()));
    for (what, a, b) in [
        ("cmd", format!("{:?}", oc.cmd), format!("{:?}", nc.cmd)),
        (
            "hostname",
            format!("{:?}", oc.hostname),
            format!("{:?}", nc.hostname),
        ),
        (
            "working_dir",
            format!("{:?}", oc.working_dir),
            format!("{:?}", nc.working_dir),
        ),
        ("user", format!("{:?}", oc.user), format!("{:?}", nc.user)),
        (
            "stop_signal",
            format!("{:?}", oc.stop_signal),
            format!("{:?}", nc.stop_signal),
        ),
        (
            "stop_timeout",
            format!("{:?}", oc.stop_timeout),
            format!("{:?}", nc.stop_timeout),
        ),
        (
            "healthcheck",
            format!("{:?}", oc.healthcheck),
            format!("{:?}", nc.healthcheck),
        ),
    ] {
        assert_eq!(a, b, "{what} preserved");
    }
    let (oh, nh) = (
        old.host_config.clone().unwrap(),
        new.host_config.clone().unwrap(),
    );
    assert_eq!(
        oh.port_bindings, nh.port_bindings,
        "port_bindings preserved"
    );
    assert_eq!(
        oh.restart_policy, nh.restart_policy,
        "restart_policy preserved"
    );
    assert_eq!(oh.log_config, nh.log_config, "log_config preserved");
    assert_eq!(oh.network_mode, nh.network_mode);
    let labels = nc.labels.clone().unwrap();
    assert_eq!(labels["custom"], "x");
    assert_eq!(labels["com.docker.compose.service"], "postgres");
    assert_eq!(labels["com.docker.compose.image"], plan.new_image_id);
    assert_eq!(labels["io.cutover.replaces"], old_id);
    let nets = new.network_settings.clone().unwrap().networks.unwrap();
    assert!(
        nets[&net]
            .aliases
            .clone()
            .unwrap()
            .contains(&"db-alias".to_string())
    );
    assert!(
        nets[&net2]
            .aliases
            .clone()
            .unwrap()
            .contains(&"second-alias".to_string())
    );
    let mount_names = |c: &bollard::models::ContainerInspectResponse| {
        let mut v: Vec<(String, String)> = c
            .mounts
            .clone()
            .unwrap()
            .into_iter()
            .map(|m| (m.destination.unwrap(), m.name.unwrap_or_default()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        mount_names(&old),
        mount_names(&new),
        "named and anonymous volumes carried"
    );
    // The anonymous volume is now mounted by name, so `rm -v` no longer takes it: remove it too.
    for (_, vol) in mount_names(&old) {
        if !vol.is_empty() {
            g.volume(&vol);
        }
    }
    let r = c
        .exec_output(&name, &ExecSpec::new(["cat", "/data/f", "/anon/f"]))
        .await
        .unwrap();
    assert_eq!(r.stdout_str(), "keep\nanon\n");
    let ep = c.resolve_endpoint(&name, 8080).await.unwrap();
    assert_eq!(ep.addr.to_string(), format!("127.0.0.1:{port}"));
    assert_eq!(ep.via, EndpointVia::Published);

    // Undo, twice: the old container is back under its name and running, the new one gone.
    for _ in 0..2 {
        c.restore_old(&plan, Duration::from_secs(5)).await.unwrap();
    }
    let back = c.status(&name).await.unwrap();
    assert_eq!(back.id, old_id);
    assert!(back.running);
    let st = c.recreate_state(&plan).await.unwrap();
    assert!(st.new_id.is_none());

    // And forward again to the end.
    c.stop_old(&plan, Duration::from_secs(5)).await.unwrap();
    c.rename_old(&plan).await.unwrap();
    c.create_new(&plan).await.unwrap();
    c.start_new(&plan).await.unwrap();
    for _ in 0..2 {
        c.finalize_recreate(&plan).await.unwrap();
    }
    assert!(c.try_inspect(&plan.old_id).await.unwrap().is_none());
    // The journal alone brings the old container back (what the fast rollback does once the
    // parked copy is gone): on the old image, with its own labels (Compose's config hash),
    // secrets, restart policy and volumes, the anonymous one by name.
    let id = c.restore_old(&plan, Duration::from_secs(1)).await.unwrap();
    assert_ne!(id, old_id);
    let back = c.inspect(&name).await.unwrap();
    let bc = back.config.clone().unwrap();
    assert_eq!(bc.image.as_deref(), Some(img1.as_str()));
    assert_eq!(bc.labels, oc.labels, "labels as before, nothing added");
    assert!(
        bc.env
            .unwrap()
            .contains(&"POSTGRES_PASSWORD=s3cret".to_string())
    );
    assert_eq!(
        back.host_config.clone().unwrap().restart_policy,
        oh.restart_policy
    );
    assert_eq!(mount_names(&old), mount_names(&back));
    let r = c
        .exec_output(&name, &ExecSpec::new(["cat", "/data/f", "/anon/f"]))
        .await
        .unwrap();
    assert_eq!(r.stdout_str(), "keep\nanon\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_streams_stdin_stdout_stderr_and_exit_code() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let mut g = sup::Cleanup::default();
    let name = sup::unique("exec");
    g.container(&name);
    create(
        &c,
        &name,
        ContainerCreateBody {
            image: Some(img),
            ..Default::default()
        },
    )
    .await;
    c.start(&name).await.unwrap();
    let out = c
        .exec_output(
            &name,
            &ExecSpec::new(["sh", "-c", "echo out; echo err >&2; echo $X; exit 3"])
                .env("X", "from-env"),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout_str(), "out\nfrom-env\n");
    assert_eq!(out.stderr_str(), "err\n");
    // 1 MiB of binary-ish stdin goes through cat unchanged (no TTY mangling).
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    let out = c
        .exec_output_with_stdin(
            &name,
            &ExecSpec::new(["cat"]),
            Some(Box::new(std::io::Cursor::new(data.clone()))),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(
        out.stdout == data,
        "stdin echoed byte-exact ({} bytes back)",
        out.stdout.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_split_into_lines_per_stream_and_following_is_cancellable() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let mut g = sup::Cleanup::default();
    let name = sup::unique("logs");
    g.container(&name);
    let script = "printf 'a\\nb'; sleep 1; printf 'c\\nd\\n'; echo e >&2; sleep 300";
    create(
        &c,
        &name,
        ContainerCreateBody {
            image: Some(img),
            cmd: sh(script),
            ..Default::default()
        },
    )
    .await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    c.start(&name).await.unwrap();
    let mut f = c.logs(
        &name,
        &LogQuery {
            follow: true,
            since: Some(since),
            tail: None,
        },
    );
    let mut got = Vec::new();
    while got.len() < 4 {
        let line = tokio::time::timeout(Duration::from_secs(10), f.next())
            .await
            .expect("line in time")
            .unwrap()
            .unwrap();
        assert!(line.timestamp.is_some());
        got.push((line.stream, line.text));
    }
    let stdout: Vec<&str> = got
        .iter()
        .filter(|(s, _)| *s == StreamKind::Stdout)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        stdout,
        ["a", "bc", "d"],
        "a partial line is joined with its continuation"
    );
    assert!(got.contains(&(StreamKind::Stderr, "e".to_string())));
    tokio::time::timeout(Duration::from_secs(5), f.cancel())
        .await
        .expect("cancel returns promptly");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_by_log_tcp_http_health_probe_and_timeout() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let mut g = sup::Cleanup::default();
    let net = network(&c, &mut g).await;
    let name = sup::unique("ready");
    g.container(&name);
    let body = ContainerCreateBody {
        image: Some(img.clone()),
        cmd: sh("sleep 1; echo ready to serve; touch /tmp/healthy; exec httpd -f -p 8080 -h /www"),
        healthcheck: Some(HealthConfig {
            test: Some(vec![
                "CMD".into(),
                "test".into(),
                "-f".into(),
                "/tmp/healthy".into(),
            ]),
            interval: Some(500_000_000),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            network_mode: Some(net.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    create(&c, &name, body).await;
    let since = chrono::Utc::now();
    c.start(&name).await.unwrap();
    let ep = c.resolve_endpoint(&name, 8080).await.unwrap();
    assert_eq!(
        ep.via,
        EndpointVia::ContainerNetwork {
            network: net.clone()
        },
        "no published port: container IP"
    );
    assert!(!ep.addr.ip().is_loopback());
    let probe_addr = ep.addr;
    let cond = Readiness::All(vec![
        Readiness::LogLine {
            pattern: "ready to serve".into(),
            since,
        },
        Readiness::Tcp(ep.addr),
        Readiness::Http {
            url: format!("{}/index.html", ep.http_base()),
            status: Some(200),
        },
        Readiness::Healthy,
        Readiness::probe("custom", move || async move {
            tokio::net::TcpStream::connect(probe_addr)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }),
    ]);
    let report = c
        .wait_ready(&name, &cond, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(report.condition.contains("AND"));
    let err = c
        .wait_ready(
            &name,
            &Readiness::LogLine {
                pattern: "never printed".into(),
                since,
            },
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DockerError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("never printed"), "{err}");

    // A container that exits fails fast with its exit code and last lines.
    let dead = sup::unique("dead");
    g.container(&dead);
    create(
        &c,
        &dead,
        ContainerCreateBody {
            image: Some(img),
            cmd: sh("echo fatal: bad config; exit 2"),
            ..Default::default()
        },
    )
    .await;
    c.start(&dead).await.unwrap();
    let t = std::time::Instant::now();
    let err = c
        .wait_ready(
            &dead,
            &Readiness::LogLine {
                pattern: "ready".into(),
                since,
            },
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(20));
    let msg = err.to_string();
    assert!(
        msg.contains("exit code 2") && msg.contains("fatal: bad config"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_policy_never_and_missing_with_absent_image_fail_clearly() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let before = c.image_sizes().await.unwrap().len();
    // 127.0.0.1:9 (discard) has no registry: the pull fails fast and stays on this machine.
    let absent = "127.0.0.1:9/cutover-absent:1";
    let mut calls = 0;
    let e = c
        .ensure_image(absent, PullPolicy::Never, |_| calls += 1)
        .await
        .unwrap_err();
    assert!(matches!(e, DockerError::ImageUnavailable { .. }));
    assert!(
        e.to_string().contains("never") && e.to_string().contains("docker load"),
        "{e}"
    );
    let e = c
        .ensure_image(absent, PullPolicy::Missing, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, DockerError::ImageUnavailable { .. }), "{e}");
    assert_eq!(calls, 0);
    assert_eq!(
        c.image_sizes().await.unwrap().len(),
        before,
        "nothing touched"
    );
    let present = c
        .ensure_image(&img, PullPolicy::Missing, |_| {
            panic!("no pull for a local image")
        })
        .await
        .unwrap();
    assert!(!present.pulled);
    assert_eq!(present.facts.env, ["IMG=one", "PATH=/bin"]);
    assert_eq!(
        present.facts.cmd.as_deref(),
        Some(&["sleep".to_string(), "3600".to_string()][..])
    );
    assert!(
        c.ensure_image(&img, PullPolicy::Never, |_| {})
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn libc_is_detected_from_the_image_filesystem() {
    let Some(c) = sup::client().await else { return };
    let (Some(plain), Some(musl), Some(glibc)) = (
        sup::base_image(),
        sup::busybox_image(
            "musl-marker",
            &["lib/ld-musl-x86_64.so.1"],
            &["CMD [\"sh\"]"],
        ),
        sup::busybox_image(
            "glibc-marker",
            &["lib64/ld-linux-x86-64.so.2"],
            &["CMD [\"sh\"]"],
        ),
    ) else {
        return;
    };
    assert_eq!(c.detect_libc(&plain).await.unwrap(), Libc::Unknown);
    assert_eq!(c.detect_libc(&musl).await.unwrap(), Libc::Musl);
    assert_eq!(c.detect_libc(&glibc).await.unwrap(), Libc::Glibc);
    for tb in [
        "cutover-testbed/postgres-before:latest",
        "cutover-testbed/postgres-after:latest",
    ] {
        if c.try_inspect_image(tb).await.unwrap().is_some() {
            assert_eq!(c.detect_libc(tb).await.unwrap(), Libc::Glibc, "{tb}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_a_compose_like_service_with_its_volume_idempotently() {
    let Some(c) = sup::client().await else { return };
    let Some(img) = sup::base_image() else { return };
    let mut g = sup::Cleanup::default();
    let net = network(&c, &mut g).await;
    let project = sup::unique("svc").replace('-', "");
    let spec = ServiceSpec {
        project: project.clone(),
        service: "qdrant".into(),
        image: img,
        env: vec!["QDRANT__SERVICE__API_KEY=k".into()],
        command: sh("exec httpd -f -p 6333 -h /www"),
        volumes: vec![ServiceVolume {
            name: "qdrant_data".into(),
            target: "/data".into(),
            read_only: false,
        }],
        ports: vec![ServicePort {
            container: 6333,
            host: Some(sup::free_port()),
            host_ip: None,
        }],
        network: Some(net.clone()),
        healthcheck: None,
        restart: Some("unless-stopped".into()),
        container_name: None,
        compose_version: "2.29.0".into(),
    };
    g.container(&spec.container_name());
    g.volume(&format!("{project}_qdrant_data"));
    let id = c.create_service(&spec).await.unwrap();
    assert_eq!(c.create_service(&spec).await.unwrap(), id);
    c.start(&id).await.unwrap();
    let found = c.find_service(&project, "qdrant").await.unwrap();
    assert_eq!(found.len(), 1);
    let l = &found[0].labels;
    assert_eq!(l["com.docker.compose.oneoff"], "False");
    assert_eq!(l["com.docker.compose.container-number"], "1");
    assert_eq!(l["com.docker.compose.version"], "2.29.0");
    assert_eq!(l["com.docker.compose.config-hash"].len(), 64);
    let v = c
        .raw()
        .inspect_volume(&format!("{project}_qdrant_data"))
        .await
        .unwrap();
    assert_eq!(v.labels["com.docker.compose.project"], project);
    assert_eq!(v.labels["com.docker.compose.volume"], "qdrant_data");
    let ins = c.inspect(&id).await.unwrap();
    let aliases = ins.network_settings.unwrap().networks.unwrap()[&net]
        .aliases
        .clone()
        .unwrap();
    assert!(aliases.contains(&"qdrant".to_string()));
    let ep = c.resolve_endpoint(&id, 6333).await.unwrap();
    assert_eq!(ep.via, EndpointVia::Published);
    let ok = c
        .wait_ready(
            &id,
            &Readiness::Http {
                url: format!("{}/index.html", ep.http_base()),
                status: None,
            },
            Duration::from_secs(20),
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_data_root_free_space() {
    let Some(c) = sup::client().await else { return };
    let s = c.data_root_space().await.unwrap();
    assert!(s.free_bytes > 0 && s.total_bytes >= s.free_bytes);
    assert!(!c.api_version().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn http_probes_against_the_qdrant_stand_in() {
    let Some(c) = sup::client().await else { return };
    let image = "cutover-testbed/qdrant-standin:latest";
    if c.try_inspect_image(image).await.unwrap().is_none() {
        sup::skip::<()>(&format!("{image} not built yet (the test bed builds it)"));
        return;
    }
    let mut g = sup::Cleanup::default();
    let net = network(&c, &mut g).await;
    let name = sup::unique("qdrant");
    g.container(&name);
    let body = ContainerCreateBody {
        image: Some(image.into()),
        host_config: Some(HostConfig {
            network_mode: Some(net),
            ..Default::default()
        }),
        ..Default::default()
    };
    create(&c, &name, body).await;
    c.start(&name).await.unwrap();
    let base = c.resolve_endpoint(&name, 6333).await.unwrap().http_base();
    let ready = Readiness::Http {
        url: format!("{base}/readyz"),
        status: None,
    };
    c.wait_ready(&name, &ready, Duration::from_secs(30))
        .await
        .unwrap();
    let http = cutover::adapters::http::HttpClient::new(Duration::from_secs(3));
    http.qdrant_healthz(&base).await.unwrap();
    http.qdrant_readyz(&base).await.unwrap();
    let cols = http.qdrant_collections(&base).await.unwrap();
    assert!(cols.names.iter().all(|n| !n.is_empty()));
}
