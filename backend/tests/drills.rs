//! Disaster-recovery drills against the simulated demo fleet, with the test playing Velero
//! and the workload controllers: pass, PartiallyFailed, Failed, readiness timeout, a backup
//! too old for the RPO, no backup, cancelled mid-way, Berth restarted mid-drill, the
//! failover-readiness check, and bad input.

mod common;

use std::sync::Arc;

use berth::jobs;
use berth::{auth::Ctx, drills, tenancy::requests, App, Error};
use berth_fleet_sim::{Fleet, SimCluster};
use berth_frontend::api::{
    Decision, Drill, DrillObjectives, NewDrill, NewNamespaceRequest, SpecChoice, Verdict,
};
use common::*;
use serde_json::json;
use sqlx::PgPool;
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};
use uuid::Uuid;

struct World {
    app: App,
    fleet: Arc<Fleet>,
    admin: Ctx,
    dev: Ctx,
    outsider: Ctx,
}

/// The demo fleet with `payments-api` ready on prod-shanghai-1 (Velero, DR pair
/// prod-singapore-1) and `payments-batch` on prod-beijing-1 (no Velero).
async fn world(db: PgPool) -> World {
    let (app, fleet) = demo_world(db).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    for (cluster, name, pool) in [
        ("prod-shanghai-1", "payments-api", "general"),
        ("prod-beijing-1", "payments-batch", "batch"),
    ] {
        request_approved(&app, &dev, &admin, request(cluster, name, pool, "S")).await;
    }
    advance(&app).await;
    World {
        outsider: session_ctx(&app, "outsider@example.com").await,
        app,
        fleet,
        admin,
        dev,
    }
}

/// Runs due jobs, treating waits as over, until nothing moves.
async fn advance(app: &App) {
    for _ in 0..30 {
        let ran = jobs::drain(app).await.unwrap();
        let due = sqlx::query!("UPDATE jobs SET run_at = now() WHERE state = 'queued' AND kind IN ('apply', 'drill') AND run_at > now()")
            .execute(&app.db)
            .await
            .unwrap()
            .rows_affected();
        if ran == 0 && due == 0 {
            return;
        }
    }
}

fn at(offset: Duration) -> String {
    (OffsetDateTime::now_utc() + offset)
        .format(&Rfc3339)
        .unwrap()
}

fn backup(sim: &SimCluster, name: &str, namespace: &str, age: Duration) {
    sim.create("backups", json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero"}, "spec": {"includedNamespaces": [namespace]}})).unwrap();
    assert!(sim.set_status("backups", Some("velero"), name,
        json!({"phase": "Completed", "startTimestamp": at(-age), "completionTimestamp": at(-age + Duration::minutes(5))})));
}

/// Plays Velero: the restore reaches `phase`, and the restored workload appears.
fn restore_ends(sim: &SimCluster, drill: &Drill, phase: &str, ready: bool) {
    let name = drill.restore_name.clone().expect("a restore was created");
    let restore = sim
        .get("restores", Some("velero"), &name)
        .expect("the Restore exists");
    let scratch = drill.scratch_namespace.clone().unwrap();
    assert_eq!(restore["spec"]["namespaceMapping"]["payments-api"], scratch);
    assert!(sim.set_status("restores", Some("velero"), &name,
        json!({"phase": phase, "progress": {"itemsRestored": 12, "totalItems": 14}, "warnings": 1, "errors": if phase == "Completed" { 0 } else { 2 }})));
    sim.create(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scratch}}),
    )
    .unwrap();
    sim.create("deployments", json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": scratch},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})).unwrap();
    assert!(sim.set_status(
        "deployments",
        Some(&scratch),
        "web",
        json!({"replicas": 2, "readyReplicas": if ready { 2 } else { 1 }})
    ));
}

async fn drill(w: &World, id: Uuid) -> Drill {
    drills::get(&w.app, &w.dev, id).await.unwrap()
}

async fn start_restore(w: &World) -> Drill {
    drills::start(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        NewDrill {
            kind: "restore".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_restore_drill_passes_with_rto_rpo_and_cleans_up(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily-old", "payments-api", Duration::hours(30));
    backup(sim, "daily", "payments-api", Duration::hours(2));
    backup(sim, "other-team", "search-web", Duration::minutes(5));
    let d = start_restore(&w).await;
    assert_eq!(d.state, "queued");
    advance(&w.app).await;
    let running = drill(&w, d.id).await;
    let errors: Vec<Option<String>> =
        sqlx::query_scalar!("SELECT last_error FROM jobs WHERE drill_id = $1", d.id)
            .fetch_all(&w.app.db)
            .await
            .unwrap();
    assert_eq!(running.state, "running", "{errors:?}");
    assert_eq!(running.step, "wait_restore", "{errors:?}");
    assert_eq!(running.step, "wait_restore");
    assert_eq!(
        running.backup_name.as_deref(),
        Some("daily"),
        "the newest completed backup covering the namespace"
    );
    restore_ends(sim, &running, "Completed", true);
    advance(&w.app).await;
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "passed", "{:?}", done.verdict_reason);
    assert_eq!(done.verdict, Some(Verdict::Pass));
    assert_eq!(
        (
            done.items_restored,
            done.items_total,
            done.warnings,
            done.errors
        ),
        (Some(12), Some(14), Some(1), Some(0))
    );
    let rpo = done.rpo_seconds.unwrap();
    assert!(
        (7190.0..7300.0).contains(&rpo),
        "RPO is drill start − backup start: {rpo}"
    );
    assert!(done.rto_seconds.unwrap() >= 0.0);
    let steps: Vec<&str> = done.steps.iter().map(|s| s.step.as_str()).collect();
    for s in [
        "queued",
        "find_backup",
        "restore",
        "wait_restore",
        "wait_ready",
        "cleanup",
        "done",
    ] {
        assert!(steps.contains(&s), "{s} missing from {steps:?}");
    }
    let scratch = done.scratch_namespace.unwrap();
    assert!(scratch.starts_with("payments-api-drill-"));
    assert!(
        sim.get("restores", Some("velero"), &done.restore_name.unwrap())
            .is_none(),
        "the Restore is deleted"
    );
    let ns = sim.get("namespaces", None, &scratch);
    assert!(
        ns.is_none() || ns.unwrap()["metadata"]["deletionTimestamp"].is_string(),
        "the scratch namespace is deleted"
    );
    let actions = audit_actions(&w.app).await;
    assert!(
        actions.iter().any(|a| a == "drill.started")
            && actions.iter().any(|a| a == "drill.finished")
    );
    assert!(
        actions.iter().filter(|a| *a == "drill.step").count() >= 6,
        "every step is audited"
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn partially_failed_and_failed_restores_fail_the_drill(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily", "payments-api", Duration::hours(1));
    for phase in ["PartiallyFailed", "Failed"] {
        let d = start_restore(&w).await;
        advance(&w.app).await;
        restore_ends(sim, &drill(&w, d.id).await, phase, true);
        advance(&w.app).await;
        let done = drill(&w, d.id).await;
        assert_eq!(done.state, "failed");
        assert!(
            done.verdict_reason.as_deref().unwrap().contains(phase),
            "{:?}",
            done.verdict_reason
        );
        assert_eq!(done.errors, Some(2));
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn workloads_not_ready_in_time_fail_the_drill(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily", "payments-api", Duration::hours(1));
    let d = start_restore(&w).await;
    advance(&w.app).await;
    restore_ends(sim, &drill(&w, d.id).await, "Completed", false);
    advance(&w.app).await;
    let waiting = drill(&w, d.id).await;
    assert_eq!(waiting.step, "wait_ready");
    assert!(
        waiting
            .steps
            .last()
            .unwrap()
            .detail
            .contains("Deployment web (1/2)")
            || waiting.state == "running"
    );
    // the readiness timeout passes
    sqlx::query!(
        "UPDATE drills SET restore_completed_at = now() - interval '1 hour' WHERE id = $1",
        d.id
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    advance(&w.app).await;
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "failed");
    assert!(done
        .verdict_reason
        .unwrap()
        .contains("Deployment web (1/2)"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_backup_older_than_the_rpo_or_none_at_all_fails(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    let d = start_restore(&w).await;
    advance(&w.app).await;
    let none = drill(&w, d.id).await;
    assert_eq!(none.state, "failed");
    assert!(none
        .verdict_reason
        .unwrap()
        .contains("no Completed Velero backup"));

    drills::set_objectives(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        DrillObjectives {
            rto_seconds: 900,
            rpo_seconds: 3600,
        },
    )
    .await
    .unwrap();
    backup(sim, "stale", "payments-api", Duration::hours(5));
    let d = start_restore(&w).await;
    assert_eq!(d.rpo_objective_seconds, 3600);
    advance(&w.app).await;
    restore_ends(sim, &drill(&w, d.id).await, "Completed", true);
    advance(&w.app).await;
    let old = drill(&w, d.id).await;
    assert_eq!(old.state, "failed");
    assert!(
        old.verdict_reason.unwrap().contains("RPO"),
        "the restore worked, the backup is too old"
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_drill_cancelled_mid_way_leaves_nothing_behind(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily", "payments-api", Duration::hours(1));
    let d = start_restore(&w).await;
    advance(&w.app).await;
    let running = drill(&w, d.id).await;
    let restore = running.restore_name.clone().unwrap();
    assert!(sim.get("restores", Some("velero"), &restore).is_some());
    assert!(matches!(
        drills::cancel(&w.app, &w.outsider, d.id).await,
        Err(Error::NotFound(_))
    ));
    let read_only = token_ctx(
        &w.app,
        "dev@example.com",
        &[berth_frontend::api::Scope::Read],
    )
    .await;
    assert!(
        matches!(
            drills::cancel(&w.app, &read_only, d.id).await,
            Err(Error::Forbidden(_))
        ),
        "a read-only token cannot cancel"
    );
    drills::cancel(&w.app, &w.dev, d.id).await.unwrap();
    advance(&w.app).await;
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "cancelled");
    assert!(sim.get("restores", Some("velero"), &restore).is_none());
    assert!(matches!(
        drills::cancel(&w.app, &w.dev, d.id).await,
        Err(Error::Conflict { .. })
    ));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn berth_restarted_mid_drill_resumes_where_it_was(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily", "payments-api", Duration::hours(1));
    let d = start_restore(&w).await;
    advance(&w.app).await;
    restore_ends(sim, &drill(&w, d.id).await, "Completed", true);
    sqlx::query!("UPDATE jobs SET run_at = now() WHERE drill_id = $1", d.id)
        .execute(&w.app.db)
        .await
        .unwrap();
    // a worker takes the step and dies before recording it
    let crashed = jobs::claim(&w.app, Uuid::new_v4())
        .await
        .unwrap()
        .expect("the drill's job");
    assert_eq!(crashed.drill_id, Some(d.id));
    sqlx::query!(
        "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
        crashed.id
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    advance(&w.app).await;
    jobs::conclude(
        &w.app,
        &Ctx::system("test"),
        &crashed,
        Ok(jobs::Outcome::Done),
    )
    .await
    .unwrap();
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "passed");
    let finished = done.steps.iter().filter(|s| s.step == "done").count();
    assert_eq!(finished, 1, "the drill ends once");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_readiness_check_reads_the_dr_pair_workloads_and_backups(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    backup(sim, "daily", "payments-api", Duration::hours(1));
    sim.create("deployments", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "payments-api"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:1"}]}}}})).unwrap();
    let d = drills::start(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        NewDrill {
            kind: "readiness".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    advance(&w.app).await;
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "failed");
    let check = |name: &str| {
        done.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", done.checks))
            .clone()
    };
    assert!(check("dr_pair").ok && check("dr_pair").detail.contains("prod-singapore-1"));
    assert!(check("backup_age").ok);
    assert!(
        !check("pod_disruption_budgets").ok
            && check("pod_disruption_budgets").detail.contains("api")
    );
    assert!(!check("zone_spread").ok);
    assert!(check("storage_classes").ok);
    // nothing was created by a readiness check
    assert!(sim
        .get("restores", Some("velero"), "payments-api-drill-0")
        .is_none());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn bad_drill_requests_are_refused_with_clear_errors(db: PgPool) {
    let w = world(db).await;
    assert!(matches!(
        drills::start(
            &w.app,
            &w.outsider,
            "prod-shanghai-1",
            "payments-api",
            NewDrill {
                kind: "restore".into(),
                ..Default::default()
            }
        )
        .await,
        Err(Error::NotFound(_))
    ));
    let Err(Error::Invalid(f)) = drills::start(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        NewDrill {
            kind: "explode".into(),
            target: Some("moon".into()),
            keep_hours: Some(1000),
            ready_timeout_seconds: Some(1),
            create_backup: true,
        },
    )
    .await
    else {
        panic!()
    };
    for field in ["kind", "target", "keep_hours", "ready_timeout_seconds"] {
        assert!(f.contains_key(field), "{field}: {f:?}");
    }
    let Err(Error::Invalid(f)) = drills::start(
        &w.app,
        &w.dev,
        "prod-beijing-1",
        "payments-batch",
        NewDrill {
            kind: "restore".into(),
            ..Default::default()
        },
    )
    .await
    else {
        panic!()
    };
    assert!(f["target"].contains("velero.io"), "{f:?}");
    start_restore(&w).await;
    assert!(
        matches!(start_restore_result(&w).await, Err(Error::Conflict { .. })),
        "one drill per namespace at a time"
    );
    let Err(Error::Invalid(f)) = drills::set_objectives(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        DrillObjectives {
            rto_seconds: 0,
            rpo_seconds: 1,
        },
    )
    .await
    else {
        panic!()
    };
    assert!(f.contains_key("rto_seconds") && f.contains_key("rpo_seconds"));
    assert_eq!(
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM drills"#)
            .fetch_one(&w.app.db)
            .await
            .unwrap(),
        1
    );
}

async fn start_restore_result(w: &World) -> Result<Drill, Error> {
    drills::start(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        NewDrill {
            kind: "restore".into(),
            ..Default::default()
        },
    )
    .await
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn drills_over_rest(db: PgPool) {
    let w = world(db).await;
    let server = TestServer::start_with_fleet(w.app.db.clone(), w.fleet.clone()).await;
    let dev = server.login("dev@example.com").await;
    let outsider = server.login("outsider@example.com").await;
    let (status, started) = dev
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-api/drills",
            json!({"kind": "readiness"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let (status, _) = dev
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-api/drills",
            json!({"kind": "readiness"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = outsider.get(&format!("/api/v1/drills/{id}")).await;
    assert_eq!(status, 404);
    advance(&w.app).await;
    let (status, evidence) = dev.get(&format!("/api/v1/drills/{id}")).await;
    assert_eq!(status, 200);
    assert!(evidence["checks"].as_array().unwrap().len() >= 5);
    let (status, history) = dev
        .get("/api/v1/namespaces/prod-shanghai-1/payments-api/drills")
        .await;
    assert_eq!(status, 200);
    assert_eq!(history.as_array().unwrap().len(), 1);
    let (status, _) = dev
        .put(
            "/api/v1/namespaces/prod-shanghai-1/payments-api/drill-objectives",
            json!({"rto_seconds": 600, "rpo_seconds": 3600}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, spec) = dev.get("/api/v1/openapi.json").await;
    assert!(spec["paths"]["/api/v1/drills/{id}/cancel"].is_object());
    let _ = w.admin;
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn schedules_start_drills_once_in_their_time_zone(db: PgPool) {
    let w = world(db).await;
    // 03:00 in Shanghai is 19:00 UTC the day before
    let from = OffsetDateTime::parse("2026-11-28T12:00:00Z", &Rfc3339).unwrap();
    let next = drills::next_run("cron", "0 3 * * *", "Asia/Shanghai", from).unwrap();
    assert_eq!(
        next,
        OffsetDateTime::parse("2026-11-28T19:00:00Z", &Rfc3339).unwrap()
    );
    let bad = berth_frontend::api::DrillScheduleInput {
        cron: "61 * * *".into(),
        timezone: Some("Mars/Olympus".into()),
        kind: "nap".into(),
        target: None,
    };
    let Err(Error::Invalid(f)) =
        drills::set_schedule(&w.app, &w.dev, "prod-shanghai-1", "payments-api", bad).await
    else {
        panic!()
    };
    assert!(
        f.contains_key("cron") || f.contains_key("timezone"),
        "{f:?}"
    );
    assert!(f.contains_key("kind"));
    let good = berth_frontend::api::DrillScheduleInput {
        cron: "0 3 * * 1".into(),
        timezone: Some("Asia/Shanghai".into()),
        kind: "readiness".into(),
        target: None,
    };
    assert!(matches!(
        drills::set_schedule(
            &w.app,
            &w.outsider,
            "prod-shanghai-1",
            "payments-api",
            good.clone()
        )
        .await,
        Err(Error::NotFound(_))
    ));
    let set = drills::set_schedule(&w.app, &w.dev, "prod-shanghai-1", "payments-api", good)
        .await
        .unwrap();
    assert!(set.next_run_at > OffsetDateTime::now_utc());
    assert_eq!(
        drills::run_due_schedules(&w.app).await.unwrap(),
        0,
        "not due yet"
    );
    sqlx::query!("UPDATE drill_schedules SET next_run_at = now() - interval '1 second'")
        .execute(&w.app.db)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        drills::run_due_schedules(&w.app),
        drills::run_due_schedules(&w.app)
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "two schedulers start the drill once"
    );
    let history = drills::history(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].requested_by, None);
    let after = drills::schedule(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .unwrap();
    assert!(after.next_run_at > OffsetDateTime::now_utc());
    assert!(after.last_outcome.unwrap().starts_with("started drill"));
    drills::remove_schedule(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap();
    assert!(
        drills::schedule(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
            .await
            .unwrap()
            .is_none()
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_drill_can_take_a_fresh_backup_first_and_restores_wait_their_turn(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    let d = drills::start(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        NewDrill {
            kind: "restore".into(),
            create_backup: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    advance(&w.app).await;
    let waiting = drill(&w, d.id).await;
    assert_eq!(
        waiting.step, "wait_backup",
        "{:?} {:?}",
        waiting.verdict_reason, waiting.steps
    );
    let backup_name = waiting.backup_name.clone().unwrap();
    let created = sim
        .get("backups", Some("velero"), &backup_name)
        .expect("Berth created a Backup");
    assert_eq!(
        created["spec"]["includedNamespaces"],
        json!(["payments-api"])
    );
    // Velero completes it a minute after the drill began
    assert!(sim.set_status(
        "backups",
        Some("velero"),
        &backup_name,
        json!({"phase": "Completed", "startTimestamp": at(Duration::seconds(1))})
    ));
    advance(&w.app).await;
    restore_ends(sim, &drill(&w, d.id).await, "Completed", true);
    advance(&w.app).await;
    let done = drill(&w, d.id).await;
    assert_eq!(done.state, "passed", "{:?}", done.verdict_reason);
    assert_eq!(done.backup_name.as_deref(), Some(backup_name.as_str()));

    // BERTH_DRILL_CONCURRENCY (2 in tests) restores per target cluster; a third waits, queued.
    for name in ["payments-two", "payments-three", "payments-four"] {
        let r = requests::create(
            &w.app,
            &w.dev,
            NewNamespaceRequest {
                team: "payments".into(),
                cluster: "prod-shanghai-1".into(),
                name: name.into(),
                node_pool: "general".into(),
                purpose: "drills".into(),
                spec: SpecChoice {
                    preset: Some("S".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
        requests::approve(&w.app, &w.admin, r.request.id, Decision::default())
            .await
            .unwrap();
        backup(sim, &format!("{name}-daily"), name, Duration::hours(1));
    }
    advance(&w.app).await;
    for name in ["payments-two", "payments-three", "payments-four"] {
        drills::start(
            &w.app,
            &w.dev,
            "prod-shanghai-1",
            name,
            NewDrill {
                kind: "restore".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    jobs::drain(&w.app).await.unwrap();
    let states: Vec<String> = sqlx::query_scalar!(
        "SELECT state FROM drills WHERE state IN ('queued', 'running') ORDER BY state"
    )
    .fetch_all(&w.app.db)
    .await
    .unwrap();
    assert_eq!(
        states,
        vec!["queued", "running", "running"],
        "two run, the third waits its turn"
    );
}
