//! Benchmark: 50 restore drills at once across 10 simulated clusters, with a task playing
//! Velero (completing each Restore and readying its workload as soon as it appears). Reports
//! wall time to every verdict, Berth's time per drill step (one job run: the cluster calls
//! and the recording transaction), and checks that no step was lost or done twice.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use berth::jobs;
use berth::{
    auth::{password::NewPassword, Ctx},
    config::Config,
    drills,
    people::{self, DisplayName, Email},
    tenancy::requests,
    App,
};
use berth_fleet_sim::{Fleet, FleetSpec};
use berth_frontend::api::{NewDrill, NewNamespaceRequest, NewTeam, SpecChoice};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
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
    config.job_workers = 0;
    config.drill_concurrency = 5;
    config.drift_interval_seconds = 0;
    App::create_database_if_missing(&config).await?;
    let mut spec = FleetSpec::generated(10, 3);
    for c in &mut spec.clusters {
        c.velero = true;
        c.environment = "dev".into();
    }
    let fleet = Arc::new(Fleet::start(spec.clone()).await?);
    let app = App::connect(config).await?.with_simulator(fleet.clone());
    app.migrate().await?;
    let system = Ctx::system("bench");
    let password = NewPassword::parse("password", "a bench password of some length")?;
    people::insert(
        &app,
        &system,
        &Email::parse("e", "dev@bench.local")?,
        &DisplayName::parse("n", "dev")?,
        false,
        &password,
    )
    .await?;
    let admin = people::insert(
        &app,
        &system,
        &Email::parse("e", "admin@bench.local")?,
        &DisplayName::parse("n", "admin")?,
        true,
        &password,
    )
    .await?;
    let admin_ctx = berth::auth::Ctx {
        actor: Some(berth::auth::Actor {
            user_id: admin.id,
            email: admin.email.clone(),
            display_name: admin.display_name.clone(),
            is_admin: true,
            created_at: admin.created_at,
            teams: vec![],
            credential: berth::auth::Credential::Session {
                id_hash: vec![],
                csrf_token: String::new(),
            },
        }),
        meta: Default::default(),
        system: None,
    };
    berth::teams::create(
        &app,
        &admin_ctx,
        NewTeam {
            name: "bench".into(),
            display_name: "Bench".into(),
            owner_email: Some("dev@bench.local".into()),
        },
    )
    .await?;
    let mut dev = admin_ctx.clone();
    if let Some(a) = dev.actor.as_mut() {
        let user = sqlx::query!("SELECT id FROM users WHERE email = 'dev@bench.local'")
            .fetch_one(&app.db)
            .await?;
        a.user_id = user.id;
        a.email = "dev@bench.local".into();
        a.is_admin = false;
        a.teams = vec![berth_frontend::api::TeamMembership {
            team: "bench".into(),
            display_name: "Bench".into(),
            role: berth_frontend::api::TeamRole::Owner,
        }];
    }
    for c in &spec.clusters {
        berth::fleet::register_simulated(&app, &system, c).await?;
    }
    berth::fleet::inventory::sync_fleet(&app).await?;
    let clusters: Vec<String> = spec.clusters.iter().map(|c| c.name.clone()).collect();

    // 50 namespaces, 5 per cluster, each with a completed backup an hour old.
    let mut targets = Vec::new();
    for i in 0..50 {
        let cluster = clusters[i % clusters.len()].clone();
        let name = format!("bench-drill-{i}");
        requests::create(
            &app,
            &dev,
            NewNamespaceRequest {
                team: "bench".into(),
                cluster: cluster.clone(),
                name: name.clone(),
                node_pool: "general".into(),
                purpose: "drill bench".into(),
                spec: SpecChoice {
                    preset: Some("S".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
        let sim = fleet.cluster(&cluster).expect("simulated");
        sim.create("backups", json!({"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": format!("{name}-daily"), "namespace": "velero"}, "spec": {"includedNamespaces": [name]}}))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let started = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)?;
        sim.set_status(
            "backups",
            Some("velero"),
            &format!("{name}-daily"),
            json!({"phase": "Completed", "startTimestamp": started}),
        );
        targets.push((cluster, name));
    }
    while jobs::drain(&app).await? > 0 {}

    // The Velero player: completes each new Restore and readies its restored workload.
    let player = {
        let (app, fleet, clusters) = (app.clone(), fleet.clone(), spec.clusters.clone());
        tokio::spawn(async move {
            let ids = sqlx::query!("SELECT id, name FROM clusters")
                .fetch_all(&app.db)
                .await
                .unwrap();
            loop {
                for c in &clusters {
                    let sim = fleet.cluster(&c.name).unwrap();
                    let id = ids.iter().find(|r| r.name == c.name).unwrap().id;
                    let Ok(client) = berth::fleet::connect::client(&app, id).await else {
                        continue;
                    };
                    let ar = kube::discovery::ApiResource {
                        group: "velero.io".into(),
                        version: "v1".into(),
                        api_version: "velero.io/v1".into(),
                        kind: "Restore".into(),
                        plural: "restores".into(),
                    };
                    let restores: Api<DynamicObject> = Api::namespaced_with(client, "velero", &ar);
                    let Ok(list) = restores.list(&ListParams::default()).await else {
                        continue;
                    };
                    for r in list.items {
                        if r.data.pointer("/status/phase").is_some() {
                            continue;
                        }
                        let name = r.metadata.name.clone().unwrap_or_default();
                        let scratch = r
                            .data
                            .pointer("/spec/namespaceMapping")
                            .and_then(|m| m.as_object())
                            .and_then(|m| m.values().next())
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        let _ = sim.create("namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scratch}}));
                        let _ = sim.create("deployments", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": scratch},
                            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web"}]}}}}));
                        sim.set_status(
                            "deployments",
                            Some(&scratch),
                            "web",
                            json!({"replicas": 2, "readyReplicas": 2}),
                        );
                        sim.set_status("restores", Some("velero"), &name, json!({"phase": "Completed", "progress": {"itemsRestored": 10, "totalItems": 10}, "warnings": 0, "errors": 0}));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let started = Instant::now();
    for (cluster, name) in &targets {
        drills::start(
            &app,
            &dev,
            cluster,
            name,
            NewDrill {
                kind: "restore".into(),
                ..Default::default()
            },
        )
        .await?;
    }
    // 16 workers, each timing the job runs it does for drills.
    let step_times = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (app, times) = (app.clone(), step_times.clone());
        workers.push(tokio::spawn(async move {
            let owner = uuid::Uuid::new_v4();
            loop {
                let open = sqlx::query_scalar!(
                    r#"SELECT count(*) AS "n!" FROM drills WHERE state IN ('queued', 'running')"#
                )
                .fetch_one(&app.db)
                .await
                .unwrap();
                if open == 0 {
                    return;
                }
                match jobs::claim(&app, owner).await.unwrap() {
                    Some(job) => {
                        let drill = job.kind == jobs::Kind::Drill;
                        let t = Instant::now();
                        jobs::run(&app, job).await.unwrap();
                        if drill {
                            times
                                .lock()
                                .unwrap()
                                .push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    None => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let wall = started.elapsed().as_secs_f64();
    player.abort();
    let outcome = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'passed') AS "passed!", count(*) AS "all!" FROM drills"#
    )
    .fetch_one(&app.db)
    .await?;
    let transitions = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_events WHERE action = 'drill.step'"#
    )
    .fetch_one(&app.db)
    .await?;
    let mut times = step_times.lock().unwrap().clone();
    times.sort_by(f64::total_cmp);
    println!(
        "drills: {} across {} clusters, {} passed; wall time to every verdict {wall:.1} s",
        outcome.all,
        clusters.len(),
        outcome.passed
    );
    println!("step transitions audited: {transitions} ({} expected: 6 per drill — none lost, none doubled)", outcome.all * 6);
    println!(
        "Berth's time per drill job run ({} runs, incl. its calls to the in-process cluster): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or_default()
    );
    Ok(())
}
