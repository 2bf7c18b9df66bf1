//! Benchmark: auto-approved namespace requests carried to simulated clusters by Berth's own
//! job workers, and paging through 10,000 namespaces. The simulator runs in its own process
//! (bench/tenancy.sh starts it) and is registered by kubeconfig context as `dev` clusters,
//! so the default policy approves size S at once.
//!
//! Figures: request → ready latency (p50 / p99, one at a time), namespaces per second with
//! 1,000 requests spread over every cluster, and the time per page of the namespace list.

use std::time::{Duration, Instant};

use berth::{
    auth::{password::NewPassword, Actor, Credential, Ctx},
    config::Config,
    fleet,
    people::{self, DisplayName, Email},
    tenancy::{jobs, namespaces, requests},
    App,
};
use berth_frontend::api::{
    Connection, NamespaceQuery, NewCluster, NewNamespaceRequest, NewTeam, TeamMembership, TeamRole,
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
        preset: Some("S".into()),
        purpose: "benchmark".into(),
        ..Default::default()
    }
}

async fn wait_ready(app: &App, id: uuid::Uuid) -> anyhow::Result<()> {
    loop {
        let state = sqlx::query_scalar!("SELECT state FROM namespace_requests WHERE id = $1", id)
            .fetch_one(&app.db)
            .await?;
        match state.as_str() {
            "ready" => return Ok(()),
            "failed" => anyhow::bail!("request {id} failed"),
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
        .collect();
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
    for i in 0..200 {
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
        "auto-approved request → ready (10 objects by server-side apply), 200 one at a time: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );

    // Throughput: 1,000 requests over every cluster, created 16 at a time.
    let started = Instant::now();
    let ids: Vec<uuid::Uuid> = futures::stream::iter(0..1000)
        .map(|i| {
            let (app, dev, cluster) = (
                app.clone(),
                dev.clone(),
                clusters[i % clusters.len()].clone(),
            );
            async move {
                requests::create(&app, &dev, request(&cluster, format!("bench-tp-{i}")))
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
    println!(
        "1,000 auto-approved requests over {} clusters: all ready in {secs:.2} s = {:.0} namespaces/s end to end (requests created in {created:.2} s)",
        clusters.len(),
        1000.0 / secs
    );
    let applied = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_events WHERE action = 'namespace.provisioned'"#
    )
    .fetch_one(&app.db)
    .await?;
    println!(
        "namespace.provisioned audit rows: {applied} (1,200 expected: none lost, none doubled)"
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

use futures::StreamExt;
