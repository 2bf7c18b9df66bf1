//! Benchmark: auto-approved namespace requests carried to clusters by Berth's own job
//! workers, a bare kube client applying the same objects to the same clusters in the same run,
//! and paging through 10,000 namespaces. The clusters run in their own processes — simulated
//! (bench/tenancy.sh) or real kube-apiservers (bench/kubernetes.sh) — and are registered by
//! kubeconfig context (`<name>-admin` contexts are skipped) as `dev` clusters, so the
//! default policy approves size S at once.
//!
//! Figures: request → ready latency (p50 / p99, one at a time), namespaces per second with
//! many requests spread over every cluster, the bare client's namespaces per second, and the
//! time per page of the namespace list. `BENCH_LATENCY_N` and `BENCH_THROUGHPUT_N` set the
//! counts (200 and 1,000).

use std::time::{Duration, Instant};

use berth::jobs;
use berth::{
    auth::{password::NewPassword, Actor, Credential, Ctx},
    config::Config,
    fleet,
    people::{self, DisplayName, Email},
    tenancy::{namespaces, requests},
    App,
};
use berth_frontend::api::{
    Connection, NamespaceQuery, NewCluster, NewNamespaceRequest, NewTeam, SpecChoice,
    TeamMembership, TeamRole,
};
use kube::config::Kubeconfig;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ctx(user: &berth_frontend::api::User, admin: bool) -> Ctx {
    Ctx {
        actor: Some(Actor {
            user_id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            is_admin: admin,
            created_at: user.created_at,
            teams: vec![TeamMembership {
                team: "bench".into(),
                display_name: "Bench".into(),
                role: TeamRole::Member,
            }],
            credential: Credential::Session {
                id_hash: vec![],
                csrf_token: String::new(),
            },
        }),
        meta: Default::default(),
        system: None,
    }
}

fn request(cluster: &str, name: String) -> NewNamespaceRequest {
    NewNamespaceRequest {
        team: "bench".into(),
        cluster: cluster.into(),
        name,
        node_pool: "general".into(),
        purpose: "benchmark".into(),
        spec: SpecChoice {
            preset: Some("S".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn wait_ready(app: &App, id: uuid::Uuid) -> anyhow::Result<()> {
    loop {
        let state = sqlx::query_scalar!("SELECT state FROM namespace_requests WHERE id = $1", id)
            .fetch_one(&app.db)
            .await?;
        // `failed` is retried by Berth itself (with backoff); only ready ends the wait.
        match state.as_str() {
            "ready" => return Ok(()),
            "rejected" | "cancelled" => anyhow::bail!("request {id} was {state}"),
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser;
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        config: Config,
    }
    let mut config = Args::parse_from(["bench"]).config;
    config.drift_interval_seconds = 0;
    let path = config
        .kubeconfig
        .clone()
        .expect("BERTH_KUBECONFIG names the simulator's kubeconfig");
    App::create_database_if_missing(&config).await?;
    let app = App::connect(config).await?;
    app.migrate().await?;
    let system = Ctx::system("bench");
    let password = NewPassword::parse("password", "a bench password of some length")?;
    let admin_user = people::insert(
        &app,
        &system,
        &Email::parse("e", "admin@bench.local")?,
        &DisplayName::parse("n", "admin")?,
        true,
        &password,
    )
    .await?;
    let dev_user = people::insert(
        &app,
        &system,
        &Email::parse("e", "dev@bench.local")?,
        &DisplayName::parse("n", "dev")?,
        false,
        &password,
    )
    .await?;
    let admin = ctx(&admin_user, true);
    let dev = ctx(&dev_user, false);
    berth::teams::create(
        &app,
        &admin,
        NewTeam {
            name: "bench".into(),
            display_name: "Bench".into(),
            owner_email: Some("dev@bench.local".into()),
        },
    )
    .await?;

    let clusters: Vec<String> = Kubeconfig::read_from(&path)?
        .contexts
        .into_iter()
        .map(|c| c.name)
        .filter(|name| !name.ends_with("-admin"))
        .collect();
    let count = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (latency_n, throughput_n) = (
        count("BENCH_LATENCY_N", 200),
        count("BENCH_THROUGHPUT_N", 1000),
    );
    for name in &clusters {
        let input = NewCluster {
            name: name.clone(),
            display_name: name.clone(),
            region: "bench".into(),
            environment: "dev".into(),
            layer: "online".into(),
            dr_pair: None,
            labels: Default::default(),
            connection: Connection::Kubeconfig {
                context: name.clone(),
            },
        };
        fleet::create(&app, &admin, input).await?;
    }
    fleet::inventory::sync_fleet(&app).await?;
    let _workers = jobs::spawn_workers(app.clone());
    println!(
        "clusters: {}, job workers: {}",
        clusters.len(),
        app.config.job_workers
    );

    // Latency: one request at a time, created → every object applied → ready.
    let mut latencies = Vec::new();
    for i in 0..latency_n {
        let started = Instant::now();
        let r = requests::create(
            &app,
            &dev,
            request(&clusters[i % clusters.len()], format!("bench-lat-{i}")),
        )
        .await?;
        assert_eq!(
            r.request.state, "provisioning",
            "the default policy approves S on dev clusters"
        );
        wait_ready(&app, r.request.id).await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "auto-approved request → ready (10 objects of its own by server-side apply, the shared policies once per cluster), {latency_n} one at a time: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // Throughput: many requests over every cluster, created 16 at a time, alternating with a
    // bare kube client doing the same applies (rounds, so a noisy machine shows in the spread).
    let rounds = count("BENCH_ROUNDS", 1);
    let spec = sqlx::query_scalar!(
        r#"SELECT spec AS "spec: sqlx::types::Json<berth_frontend::api::NamespaceSpec>" FROM namespaces LIMIT 1"#
    )
    .fetch_one(&app.db)
    .await?
    .0;
    let per_cluster = app.config.jobs_per_cluster;
    let (mut berth_rates, mut bare_rates, mut wide_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let started = Instant::now();
        let ids: Vec<uuid::Uuid> = futures::stream::iter(0..throughput_n)
            .map(|i| {
                let (app, dev, cluster) = (
                    app.clone(),
                    dev.clone(),
                    clusters[i % clusters.len()].clone(),
                );
                async move {
                    let name = format!("bench-tp-{round}-{i}");
                    requests::create(&app, &dev, request(&cluster, name))
                        .await
                        .map(|r| r.request.id)
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let created = started.elapsed().as_secs_f64();
        for id in &ids {
            wait_ready(&app, *id).await?;
        }
        let secs = started.elapsed().as_secs_f64();
        berth_rates.push(throughput_n as f64 / secs);
        println!(
            "round {}: {throughput_n} auto-approved requests over {} clusters all ready in {secs:.2} s = {:.1} namespaces/s end to end (requests created in {created:.2} s)",
            round + 1,
            clusters.len(),
            throughput_n as f64 / secs
        );
        bare_rates
            .push(bare_client(&path, &clusters, &spec, throughput_n, per_cluster, round).await?);
        wide_rates.push(bare_client(&path, &clusters, &spec, throughput_n, 16, round).await?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (berth_rate, bare_rate, wide_rate) = (
        median(&mut berth_rates),
        median(&mut bare_rates),
        median(&mut wide_rates),
    );
    println!(
        "Berth end to end (median of {rounds}): {berth_rate:.1} namespaces/s, {per_cluster} jobs at a time per cluster (BERTH_JOBS_PER_CLUSTER)"
    );
    println!(
        "bare kube client, the same 10 objects and 2 dry-run probes per namespace, {per_cluster} namespaces at a time per cluster (median): {bare_rate:.1} namespaces/s; Berth ÷ bare = {:.2}",
        berth_rate / bare_rate
    );
    println!(
        "bare kube client, 16 namespaces at a time per cluster (median): {wide_rate:.1} namespaces/s; Berth ÷ bare = {:.2}",
        berth_rate / wide_rate
    );
    let applied = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_events WHERE action = 'namespace.provisioned'"#
    )
    .fetch_one(&app.db)
    .await?;
    println!(
        "namespace.provisioned audit rows: {applied} ({} expected: none lost, none doubled)",
        latency_n + throughput_n * rounds
    );

    // Listing: 10,000 namespaces, 100 per page, as an admin.
    sqlx::query!(
        "INSERT INTO namespaces (id, team_id, cluster_id, name, node_pool, state, quota_cpu_millis, quota_memory_bytes, environment, purpose, spec)
         SELECT gen_random_uuid(), n.team_id, n.cluster_id, 'bench-list-' || g, n.node_pool, 'ready', 2000, 4294967296, 'dev', 'list', n.spec
         FROM generate_series(1, 10000 - (SELECT count(*) FROM namespaces)) g, (SELECT * FROM namespaces LIMIT 1) n"
    )
    .execute(&app.db)
    .await?;
    let mut pages = Vec::new();
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let started = Instant::now();
        let page = namespaces::list(
            &app,
            &admin,
            NamespaceQuery {
                limit: Some(100),
                cursor: cursor.clone(),
                ..Default::default()
            },
        )
        .await?;
        pages.push(started.elapsed().as_secs_f64() * 1000.0);
        seen += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    pages.sort_by(f64::total_cmp);
    println!(
        "listing {seen} namespaces, 100 per page ({} pages): p50 {:.1} ms, p99 {:.1} ms per page",
        pages.len(),
        percentile(&pages, 0.5),
        percentile(&pages, 0.99)
    );
    Ok(())
}

/// The inputs of a bench namespace on the bench clusters' `general` pool.
fn bench_inputs<'a>(
    namespace: &'a str,
    served: &'a berth::tenancy::pinning::Served,
    guardrails: &'a berth_frontend::api::Guardrails,
    spec: &'a berth::tenancy::spec::Sized,
    classes: &'a [String],
) -> berth::tenancy::objects::Inputs<'a> {
    berth::tenancy::objects::Inputs {
        namespace,
        team: "bench",
        layer: "online",
        environment: "dev",
        pool_label: "eks.amazonaws.com/nodegroup",
        pool: "general",
        taints: &[],
        served,
        guardrails,
        priority: None,
        cluster_classes: classes,
        cluster_extended: &[],
        spec,
        group: "berth:bench".into(),
    }
}

/// Applies Berth's ten objects for `n` namespaces straight to the clusters with kube clients
/// of the same contexts — the Namespace, then the other nine together — `per_cluster` at a
/// time on each cluster (Berth's workers run one job per cluster at a time), then the pinning
/// proof's two dry-run probes; the shared pool and workload policies once per cluster, as
/// Berth does. Namespaces/s.
async fn bare_client(
    kubeconfig: &std::path::Path,
    clusters: &[String],
    spec: &berth_frontend::api::NamespaceSpec,
    n: usize,
    per_cluster: usize,
    round: usize,
) -> anyhow::Result<f64> {
    use berth::tenancy::{objects, provision};
    use kube::{
        api::{Api, DynamicObject, Patch, PatchParams},
        discovery::ApiResource,
    };
    let sized = berth::tenancy::stored_sized(spec)?;
    // The bench clusters are Kubernetes 1.36: the same pool policies Berth writes there.
    let served = berth::tenancy::pinning::Served {
        validating: true,
        mutating: Some("v1".into()),
        kyverno: None,
    };
    let served = &served;
    let guardrails = &berth_frontend::api::Guardrails {
        environment: berth_frontend::api::Environment::Dev,
        pod_security_enforce: berth_frontend::api::PodSecurityLevel::Baseline,
        pod_security_warn: berth_frontend::api::PodSecurityLevel::Restricted,
        pod_security_audit: berth_frontend::api::PodSecurityLevel::Baseline,
        require_resources: berth_frontend::api::RuleMode::Off,
        require_probes: berth_frontend::api::RuleMode::Off,
        forbid_latest: berth_frontend::api::RuleMode::Warn,
        forbid_privileged: berth_frontend::api::RuleMode::Deny,
    };
    let mut clients = Vec::new();
    for name in clusters {
        let options = kube::config::KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let config =
            kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(kubeconfig)?, &options)
                .await?;
        clients.push(kube::Client::try_from(config)?);
    }
    let params = PatchParams::apply("bench").force();
    let apply = |client: kube::Client, namespace: String, manifest: serde_json::Value| {
        let params = params.clone();
        async move {
            let (group, version) = match manifest["apiVersion"]
                .as_str()
                .unwrap_or("v1")
                .split_once('/')
            {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (
                    String::new(),
                    manifest["apiVersion"].as_str().unwrap_or("v1").to_owned(),
                ),
            };
            let kind = manifest["kind"].as_str().unwrap_or_default().to_owned();
            let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
            let plural = match kind.as_str() {
                "NetworkPolicy" => "networkpolicies".to_owned(),
                "ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy" => {
                    format!("{}ies", kind.to_lowercase().trim_end_matches('y'))
                }
                other => format!("{}s", other.to_lowercase()),
            };
            let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
            let name = manifest["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let api: Api<DynamicObject> = if kind == "Namespace" || kind.contains("AdmissionPolicy")
            {
                Api::all_with(client, &resource)
            } else {
                Api::namespaced_with(client, &namespace, &resource)
            };
            api.patch(&name, &params, &Patch::Apply(&manifest))
                .await
                .map(|_| ())
        }
    };
    let classes = ["gp3".to_owned()];
    // The pool and workload policies are the same for every namespace of a cluster.
    let shared: Vec<serde_json::Value> =
        objects::desired(&bench_inputs("bench", served, guardrails, &sized, &classes))
            .into_iter()
            .filter(|(kind, _, _)| provision::shared(kind))
            .map(|(_, _, m)| m)
            .collect();
    let started = Instant::now();
    let count = clients.len();
    let jobs = clients.iter().enumerate().map(|(c, client)| {
        let apply = &apply;
        let (sized, classes) = (&sized, &classes);
        let shared = &shared;
        async move {
            futures::future::try_join_all(
                shared
                    .iter()
                    .map(|m| apply(client.clone(), String::new(), m.clone())),
            )
            .await?;
            futures::stream::iter((c..n).step_by(count))
                .map(|i| async move {
                    let namespace = format!("bench-bare-{round}-{per_cluster}-{i}");
                    let mut manifests = objects::desired(&bench_inputs(
                        &namespace, served, guardrails, sized, classes,
                    ))
                    .into_iter()
                    .filter(|(kind, _, _)| !provision::shared(kind))
                    .map(|(_, _, m)| m);
                    let first = manifests.next().expect("the Namespace");
                    apply(client.clone(), namespace.clone(), first).await?;
                    futures::future::try_join_all(
                        manifests.map(|m| apply(client.clone(), namespace.clone(), m)),
                    )
                    .await?;
                    // The same two dry-run probe pods as Berth's pinning proof.
                    let pool = berth::tenancy::pinning::Pool {
                        name: "general",
                        label_key: "eks.amazonaws.com/nodegroup",
                        taints: &[],
                    };
                    berth::tenancy::pinning::prove(
                        client,
                        &namespace,
                        &pool,
                        berth_frontend::api::PinMechanism::Mutating,
                    )
                    .await;
                    Ok(())
                })
                .buffer_unordered(per_cluster)
                .collect::<Vec<Result<(), kube::Error>>>()
                .await
                .into_iter()
                .collect::<Result<Vec<()>, kube::Error>>()
        }
    });
    futures::future::try_join_all(jobs).await?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

use futures::StreamExt;
