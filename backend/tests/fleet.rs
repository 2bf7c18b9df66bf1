//! The fleet: registration rules, credentials, inventory sync against simulated clusters,
//! and committed capacity, through the service layer and over HTTP.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use berth::{fleet, Error};
use berth_fleet_sim::{FaultSettings, Fleet, FleetSpec};
use berth_frontend::api::{Connection, NewCluster};
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

/// Every log line of this test binary, so tests can search them for secrets.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_writer(move || Capture(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Three small clusters; `secured` requires a token.
fn small_fleet() -> FleetSpec {
    let mut spec = FleetSpec::generated(3, 6);
    spec.clusters[0].name = "alpha".into();
    spec.clusters[1].name = "beta".into();
    spec.clusters[2].name = "secured".into();
    spec.clusters[2].token = Some("s3cr3t-token-do-not-leak".into());
    spec
}

fn token_cluster(name: &str, url: &str, token: &str) -> NewCluster {
    NewCluster {
        name: name.into(),
        display_name: name.to_uppercase(),
        region: "eu-west-1".into(),
        environment: "prod".into(),
        layer: "online".into(),
        dr_pair: None,
        labels: Default::default(),
        connection: Connection::Token {
            api_url: url.into(),
            ca_pem: None,
            token: token.into(),
        },
    }
}

async fn admin(app: &berth::App) -> berth::auth::Ctx {
    user(app, "root@example.com", true).await;
    session_ctx(app, "root@example.com").await
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_registered_token_is_sealed_and_never_appears_in_answers_or_logs(db: PgPool) {
    let logs = captured_logs();
    let sim = Arc::new(Fleet::start(small_fleet()).await.unwrap());
    let server = TestServer::start_with_fleet(db, sim.clone()).await;
    user(&server.app, "root@example.com", true).await;
    let client = server.login("root@example.com").await;
    let secured = sim.cluster("secured").unwrap();
    let token = "s3cr3t-token-do-not-leak";
    let body = json!({"name": "secured", "display_name": "Secured", "region": "eu", "environment": "prod",
                      "layer": "secure", "connection": {"kind": "token", "api_url": secured.url(), "token": token}});
    let (status, created) = client.post("/api/v1/clusters", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, synced) = client
        .post("/api/v1/clusters/secured/sync", json!({}))
        .await;
    assert_eq!(synced["reachable"], true, "{synced}");
    let mut answers = vec![created.to_string(), synced.to_string()];
    for path in [
        "/api/v1/clusters",
        "/api/v1/clusters/secured",
        "/api/v1/audit?limit=500",
    ] {
        answers.push(client.get(path).await.1.to_string());
    }
    let export = client
        .request(reqwest::Method::GET, "/api/v1/audit/export?format=ndjson")
        .send()
        .await
        .unwrap();
    answers.push(export.text().await.unwrap());
    for answer in &answers {
        assert!(
            !answer.contains(token),
            "an answer carries the token: {answer}"
        );
    }
    let sealed: Vec<u8> =
        sqlx::query_scalar!("SELECT token_sealed AS \"t!\" FROM clusters WHERE name = 'secured'")
            .fetch_one(&server.app.db)
            .await
            .unwrap();
    assert!(
        !sealed.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in the clear"
    );
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(!logs.contains(token), "a log line carries the token");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn bad_connections_are_refused_with_field_errors_and_nothing_is_stored(db: PgPool) {
    let sim = Arc::new(Fleet::start(small_fleet()).await.unwrap());
    let app = app(db).await.with_simulator(sim.clone());
    let ctx = admin(&app).await;
    let secured = sim.cluster("secured").unwrap().url();
    let cases = [
        (
            token_cluster("down", "http://127.0.0.1:9", "t"),
            "connection",
        ),
        (
            token_cluster("wrong-token", &secured, "not-the-token"),
            "connection",
        ),
        (
            token_cluster("not-a-url", "ftp://example", "t"),
            "connection.api_url",
        ),
        (
            NewCluster {
                connection: Connection::Token {
                    api_url: secured.clone(),
                    ca_pem: Some(
                        "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----".into(),
                    ),
                    token: "t".into(),
                },
                ..token_cluster("bad-ca", &secured, "t")
            },
            "connection.ca_pem",
        ),
        (
            NewCluster {
                connection: Connection::Kubeconfig {
                    context: "missing".into(),
                },
                ..token_cluster("kc", &secured, "t")
            },
            "connection.context",
        ),
        (
            NewCluster {
                name: "Bad_Name".into(),
                ..token_cluster("x", &secured, "t")
            },
            "name",
        ),
        (
            NewCluster {
                layer: "edge".into(),
                ..token_cluster("layer", &secured, "t")
            },
            "layer",
        ),
        (
            NewCluster {
                dr_pair: Some("nowhere".into()),
                ..token_cluster("pairless", &secured, "t")
            },
            "dr_pair",
        ),
        (
            NewCluster {
                dr_pair: Some("selfish".into()),
                ..token_cluster("selfish", &secured, "t")
            },
            "dr_pair",
        ),
    ];
    for (input, field) in cases {
        let name = input.name.clone();
        match fleet::create(&app, &ctx, input).await {
            Err(Error::Invalid(fields)) => {
                assert!(fields.contains_key(field), "{name}: {fields:?}")
            }
            other => panic!(
                "{name}: expected a field error on {field}, got {:?}",
                other.map(|c| c.name)
            ),
        }
    }
    let count = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM clusters")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let audit = audit_actions(&app).await;
    assert!(!audit.iter().any(|a| a.starts_with("cluster.")));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_kubeconfig_that_does_not_parse_is_refused(db: PgPool) {
    let sim = Arc::new(Fleet::start(small_fleet()).await.unwrap());
    let dir = std::env::temp_dir().join(format!("berth-kc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "clusters: [this is: not: a kubeconfig").unwrap();
    let good = dir.join("good.yaml");
    std::fs::write(&good, sim.kubeconfig()).unwrap();

    let mut config = berth::config::Config::for_tests("postgres://unused");
    config.kubeconfig = Some(broken);
    let app = berth::App::new(db.clone(), config).await.unwrap();
    let ctx = admin(&app).await;
    let input = NewCluster {
        connection: Connection::Kubeconfig {
            context: "alpha".into(),
        },
        ..token_cluster("alpha", "", "")
    };
    match fleet::create(&app, &ctx, input.clone()).await {
        Err(Error::Invalid(fields)) => assert!(
            fields["connection.context"].contains("does not parse"),
            "{fields:?}"
        ),
        other => panic!("expected a parse error, got {:?}", other.map(|c| c.name)),
    }

    let mut config = berth::config::Config::for_tests("postgres://unused");
    config.kubeconfig = Some(good);
    let app = berth::App::new(db, config).await.unwrap();
    let created = fleet::create(&app, &ctx, input).await.unwrap();
    assert_eq!(created.connection, "kubeconfig");
    let outcome = fleet::sync_now(&app, &ctx, "alpha").await.unwrap();
    assert!(outcome.reachable, "{:?}", outcome.error);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_hanging_or_failing_cluster_does_not_hold_back_the_others(db: PgPool) {
    let mut spec = FleetSpec::generated(5, 9);
    for (i, c) in spec.clusters.iter_mut().enumerate() {
        c.name = format!("c{i}");
    }
    let sim = Arc::new(Fleet::start(spec).await.unwrap());
    let app = app(db).await.with_simulator(sim.clone());
    let ctx = admin(&app).await;
    for c in sim.clusters() {
        fleet::register_simulated(&app, &ctx, c.spec())
            .await
            .unwrap();
    }
    sim.cluster("c1")
        .unwrap()
        .set_faults(&FaultSettings {
            hang: true,
            ..Default::default()
        })
        .await
        .unwrap();
    sim.cluster("c3")
        .unwrap()
        .set_faults(&FaultSettings {
            error_rate: 1.0,
            ..Default::default()
        })
        .await
        .unwrap();

    let outcomes = fleet::sync_all(&app, &ctx).await.unwrap();
    assert_eq!(outcomes.len(), 5);
    // Outcomes come back in the order syncs finish: the hanging cluster, held to its
    // timeout, finishes last, after every healthy one.
    assert_eq!(outcomes.last().unwrap().cluster, "c1");
    for o in &outcomes {
        let healthy = !["c1", "c3"].contains(&o.cluster.as_str());
        assert_eq!(o.reachable, healthy, "{o:?}");
        if healthy {
            assert_eq!(o.node_count, 9);
            assert_eq!(o.pool_count, 3);
        } else {
            assert!(o.error.is_some());
        }
    }
    let clusters = fleet::list(&app, &ctx).await.unwrap();
    let c3 = clusters.iter().find(|c| c.name == "c3").unwrap();
    let inv = c3.inventory.as_ref().unwrap();
    assert!(!inv.reachable);
    assert!(
        inv.last_error.as_deref().unwrap().contains("500"),
        "{:?}",
        inv.last_error
    );
    let c0 = clusters.iter().find(|c| c.name == "c0").unwrap();
    assert_eq!(c0.pools.iter().map(|p| p.node_count).sum::<i32>(), 9);

    // A cluster that fails after a good sync keeps its data and says how old it is.
    sim.cluster("c0")
        .unwrap()
        .set_faults(&FaultSettings {
            down: true,
            ..Default::default()
        })
        .await
        .unwrap();
    fleet::sync_now(&app, &ctx, "c0").await.unwrap();
    let c0 = fleet::get(&app, &ctx, "c0").await.unwrap().cluster;
    let inv = c0.inventory.unwrap();
    assert!(!inv.reachable);
    assert!(inv.last_success_at.is_some() && inv.data_age_seconds.is_some());
    assert_eq!(c0.pools.len(), 3, "the last good pools are kept");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn committed_capacity_comes_from_the_namespaces_pinned_to_a_pool(db: PgPool) {
    let sim = Arc::new(Fleet::start(small_fleet()).await.unwrap());
    let app = app(db).await.with_simulator(sim.clone());
    let ctx = admin(&app).await;
    fleet::register_simulated(&app, &ctx, sim.cluster("alpha").unwrap().spec())
        .await
        .unwrap();
    fleet::sync_now(&app, &ctx, "alpha").await.unwrap();
    let team = berth::teams::create(
        &app,
        &ctx,
        berth_frontend::api::NewTeam {
            name: "payments".into(),
            display_name: "P".into(),
            owner_email: None,
        },
    )
    .await
    .unwrap();
    let cluster = fleet::get(&app, &ctx, "alpha").await.unwrap().cluster;
    let general = cluster.pools.iter().find(|p| p.name == "general").unwrap();
    assert_eq!(general.committed.cpu_millis, 0);
    for (name, state) in [
        ("payments-a", "ready"),
        ("payments-b", "ready"),
        ("payments-old", "decommissioned"),
    ] {
        sqlx::query!(
            "INSERT INTO namespaces (id, team_id, cluster_id, name, node_pool, state, quota_cpu_millis, quota_memory_bytes)
             VALUES ($1, $2, $3, $4, 'general', $5, 4000, 8589934592)",
            uuid::Uuid::new_v4(),
            team.id,
            cluster.id,
            name,
            state
        )
        .execute(&app.db)
        .await
        .unwrap();
    }
    let cluster = fleet::get(&app, &ctx, "alpha").await.unwrap().cluster;
    let general = cluster.pools.iter().find(|p| p.name == "general").unwrap();
    assert_eq!(general.committed.cpu_millis, 8000);
    assert_eq!(general.committed.memory_bytes, 2 * 8589934592);
    let expected = (8000.0 / general.allocatable.cpu_millis as f64)
        .max(2.0 * 8589934592.0 / general.allocatable.memory_bytes as f64);
    assert!((general.overcommit_ratio - expected).abs() < 1e-9);
    // A cluster with live namespaces cannot be removed.
    assert!(matches!(
        fleet::remove(&app, &ctx, "alpha").await,
        Err(Error::Conflict { .. })
    ));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn cluster_endpoints_enforce_admin_rights_and_audit_every_change(db: PgPool) {
    let sim = Arc::new(Fleet::start(small_fleet()).await.unwrap());
    let server = TestServer::start_with_fleet(db, sim.clone()).await;
    user(&server.app, "root@example.com", true).await;
    user(&server.app, "ada@example.com", false).await;
    let admin = server.login("root@example.com").await;
    let ada = server.login("ada@example.com").await;
    let url = sim.cluster("alpha").unwrap().url();
    let body = json!({"name": "alpha", "display_name": "Alpha", "region": "eu", "environment": "dev", "layer": "online",
                      "connection": {"kind": "token", "api_url": url, "token": "any"}});
    assert_eq!(
        ada.post("/api/v1/clusters", body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.post("/api/v1/clusters", body.clone()).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        admin.post("/api/v1/clusters", body).await.0,
        StatusCode::CONFLICT
    );
    // Developers read the fleet; only admins change it.
    assert_eq!(ada.get("/api/v1/clusters").await.0, StatusCode::OK);
    assert_eq!(ada.get("/api/v1/clusters/alpha").await.0, StatusCode::OK);
    assert_eq!(
        ada.get("/api/v1/clusters/nope").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ada.post("/api/v1/clusters/alpha/sync", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ada.post("/api/v1/fleet/sync", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let patch = |client: &Client, body: serde_json::Value| {
        send(
            client
                .request(reqwest::Method::PATCH, "/api/v1/clusters/alpha")
                .json(&body),
        )
    };
    assert_eq!(
        patch(&ada, json!({"disabled": true})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, updated) = patch(
        &admin,
        json!({"disabled": true, "labels": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["disabled"], true);
    let (status, body) = patch(&admin, json!({"environment": "qa"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["environment"].is_string());
    let (status, outcomes) = admin.post("/api/v1/fleet/sync", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        outcomes.as_array().unwrap().len(),
        0,
        "disabled clusters are not synced"
    );
    // Faults are for simulated clusters only.
    let (status, _) = admin
        .put(
            "/api/v1/clusters/alpha/simulator/faults",
            json!({"down": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        ada.delete("/api/v1/clusters/alpha").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.delete("/api/v1/clusters/alpha").await.0,
        StatusCode::NO_CONTENT
    );
    let actions = audit_actions(&server.app).await;
    for action in [
        "cluster.registered",
        "cluster.updated",
        "fleet.synced",
        "cluster.removed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_demo_fleet_is_registered_once_and_its_faults_are_controllable(db: PgPool) {
    let sim = Arc::new(Fleet::start(FleetSpec::demo()).await.unwrap());
    let server = TestServer::start_with_fleet(db, sim.clone()).await;
    berth::demo::seed(&server.app, None).await.unwrap();
    berth::demo::seed(&server.app, None).await.unwrap();
    let count = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM clusters WHERE connection = 'simulated'"
    )
    .fetch_one(&server.app.db)
    .await
    .unwrap();
    assert_eq!(count as usize, FleetSpec::demo().clusters.len());
    let outcomes = berth::fleet::inventory::sync_fleet(&server.app)
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.reachable), "{outcomes:?}");

    echo_password(&server.app, "admin@berth.local").await;
    let admin = server.login("admin@berth.local").await;
    let (_, clusters) = admin.get("/api/v1/clusters").await;
    let shanghai = clusters
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "prod-shanghai-1")
        .unwrap();
    assert_eq!(shanghai["simulated"], true);
    assert_eq!(shanghai["dr_pair"], "prod-singapore-1");
    let (status, faults) = admin
        .put(
            "/api/v1/clusters/prod-shanghai-1/simulator/faults",
            json!({"error_rate": 1.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{faults}");
    let (_, outcome) = admin
        .post("/api/v1/clusters/prod-shanghai-1/sync", json!({}))
        .await;
    assert_eq!(outcome["reachable"], false);
    let (status, body) = admin
        .put(
            "/api/v1/clusters/prod-shanghai-1/simulator/faults",
            json!({"error_rate": 2.0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["error_rate"].is_string());
    admin
        .put(
            "/api/v1/clusters/prod-shanghai-1/simulator/faults",
            json!({}),
        )
        .await;
    let (_, outcome) = admin
        .post("/api/v1/clusters/prod-shanghai-1/sync", json!({}))
        .await;
    assert_eq!(outcome["reachable"], true);
}

/// Gives a seeded user the shared test password.
async fn echo_password(app: &berth::App, email: &str) {
    berth::people::reset_password(
        app,
        &berth::auth::Ctx::system("test"),
        &berth::people::Email::parse("email", email).unwrap(),
        &berth::auth::password::NewPassword::parse("password", PASSWORD).unwrap(),
    )
    .await
    .unwrap();
}
