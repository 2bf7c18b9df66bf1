//! Tenancy through the service layer against the simulated demo fleet: every request rule,
//! the workflow, policies and budgets, provisioning with the exact objects, retries,
//! restarts, concurrency, quota changes, bursts, decommissions, drift and webhooks.

mod common;

use std::sync::{Arc, Mutex};

use berth::jobs;
use berth::{
    auth::Ctx,
    tenancy::{namespaces, requests, settings},
    App, Error,
};
use berth_fleet_sim::{FaultSettings, Fleet};
use berth_frontend::api::{
    Amendment, BudgetInput, ClassQuota, Decision, Decommission, Environment, NamespaceQuery,
    NewNamespaceRequest, NewWebhook, QuotaChange, RequestDetail, RequestQuery, RequestState, Scope,
    SpecChoice,
};
use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

/// (event header, signature header, body) of each webhook delivery received.
type Deliveries = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

struct World {
    app: App,
    fleet: Arc<Fleet>,
    admin: Ctx,
    second_admin: Ctx,
    dev: Ctx,
    outsider: Ctx,
}

/// The demo fleet, synced; admins; `dev` in payments, `outsider` in search.
async fn world(db: PgPool) -> World {
    let (app, fleet) = demo_world(db).await;
    user(&app, "admin2@example.com", true).await;
    World {
        admin: session_ctx(&app, "admin@example.com").await,
        second_admin: session_ctx(&app, "admin2@example.com").await,
        dev: session_ctx(&app, "dev@example.com").await,
        outsider: session_ctx(&app, "outsider@example.com").await,
        app,
        fleet,
    }
}

fn fields(e: Error) -> std::collections::BTreeMap<String, String> {
    match e {
        Error::Invalid(f) => f,
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn count(app: &App, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Runs jobs until none is due, treating anything scheduled for later as due now.
async fn settle(app: &App) {
    for _ in 0..20 {
        jobs::drain(app).await.unwrap();
        let later = sqlx::query!("UPDATE jobs SET run_at = now() WHERE state = 'queued' AND kind IN ('apply', 'decommission', 'webhook')")
            .execute(&app.db)
            .await
            .unwrap();
        if later.rows_affected() == 0 {
            return;
        }
    }
}

async fn ready(w: &World, input: NewNamespaceRequest) -> RequestDetail {
    let created = requests::create(&w.app, &w.dev, input).await.unwrap();
    if created.request.state == "pending" {
        requests::approve(&w.app, &w.admin, created.request.id, Decision::default())
            .await
            .unwrap();
    }
    settle(&w.app).await;
    let done = requests::get(&w.app, &w.dev, created.request.id)
        .await
        .unwrap();
    assert_eq!(done.request.state, "ready", "{:?}", done.request.last_error);
    done
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn bad_requests_name_each_field_and_store_nothing(db: PgPool) {
    let w = world(db).await;
    let mut bad = request("prod-shanghai-1", "checkout", "nowhere", "M");
    bad.spec.storage_classes = Some(vec![ClassQuota {
        name: "floppy".into(),
        storage: "10Gi".into(),
        persistentvolumeclaims: 1,
    }]);
    bad.purpose = "".into();
    let f = fields(requests::create(&w.app, &w.dev, bad).await.unwrap_err());
    assert!(f["name"].contains("payments-"), "{f:?}");
    assert!(f["node_pool"].contains("general"), "{f:?}");
    assert!(f["storage_classes[0].name"].contains("floppy"), "{f:?}");
    assert!(f.contains_key("purpose"), "{f:?}");

    for name in [
        "default",
        "kube-system",
        "payments-",
        "Payments-api",
        &format!("payments-{}", "a".repeat(60)),
    ] {
        let f = fields(
            requests::create(
                &w.app,
                &w.dev,
                request("prod-shanghai-1", name, "general", "S"),
            )
            .await
            .unwrap_err(),
        );
        assert!(f.contains_key("name"), "{name}: {f:?}");
    }
    let mut custom = request("prod-shanghai-1", "payments-api", "general", "S");
    custom.spec.preset = None;
    let f = fields(
        requests::create(&w.app, &w.dev, custom.clone())
            .await
            .unwrap_err(),
    );
    assert!(f.contains_key("preset"));
    let mut quota = settings::load_presets(&mut w.app.db.acquire().await.unwrap())
        .await
        .unwrap()[0]
        .clone();
    quota.quota.limits_cpu = "1".into(); // below requests.cpu 2
    quota.limits.default_request_memory = "8Mi".into(); // below min 16Mi
    custom.spec.quota = Some(quota.quota);
    custom.spec.limits = Some(quota.limits);
    let f = fields(requests::create(&w.app, &w.dev, custom).await.unwrap_err());
    assert!(
        f.contains_key("quota.limits_cpu") && f.contains_key("limits.default_request_memory"),
        "{f:?}"
    );
    let mut unknown = request("nowhere-1", "payments-api", "general", "XXL");
    unknown.team = "ghosts".into();
    let f = fields(requests::create(&w.app, &w.dev, unknown).await.unwrap_err());
    assert!(f.contains_key("cluster") && f.contains_key("team"), "{f:?}");

    assert_eq!(
        count(&w.app, "SELECT count(*) FROM namespace_requests").await,
        0
    );
    assert_eq!(count(&w.app, "SELECT count(*) FROM jobs").await, 0);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn members_request_only_for_their_teams_and_see_only_their_requests(db: PgPool) {
    let w = world(db).await;
    let err = requests::create(
        &w.app,
        &w.outsider,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    let mine = requests::create(
        &w.app,
        &w.dev,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await
    .unwrap();
    assert!(matches!(
        requests::get(&w.app, &w.outsider, mine.request.id).await,
        Err(Error::NotFound(_))
    ));
    let listed = requests::list(&w.app, &w.outsider, RequestQuery::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    let token = token_ctx(&w.app, "dev@example.com", &[Scope::Read]).await;
    assert!(matches!(
        requests::create(
            &w.app,
            &token,
            request("prod-shanghai-1", "payments-b", "general", "S")
        )
        .await,
        Err(Error::Forbidden(_))
    ));
    // a taken name is refused while a request for it is open
    let f = fields(
        requests::create(
            &w.app,
            &w.dev,
            request("prod-shanghai-1", "payments-api", "general", "S"),
        )
        .await
        .unwrap_err(),
    );
    assert!(f["name"].contains("taken"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_prod_request_is_amended_approved_and_provisioned_with_exact_objects(db: PgPool) {
    let w = world(db).await;
    let mut input = request("prod-shanghai-1", "payments-api", "general", "M");
    input.spec.storage_classes = Some(vec![ClassQuota {
        name: "gp3".into(),
        storage: "100Gi".into(),
        persistentvolumeclaims: 5,
    }]);
    let created = requests::create(&w.app, &w.dev, input).await.unwrap();
    assert_eq!(created.request.state, "pending");
    assert_eq!(
        created.request.matched_policy, None,
        "prod is decided by an admin"
    );
    let impact = created
        .impact
        .clone()
        .expect("pending requests show their impact");
    assert_eq!(impact.pool, "general");
    assert_eq!(
        impact.committed_after.cpu_millis - impact.committed_before.cpu_millis,
        8000
    );
    assert!(impact.allocatable.cpu_millis > 0);

    // the requester cannot decide; an admin cannot approve their own request
    assert!(matches!(
        requests::approve(&w.app, &w.dev, created.request.id, Decision::default()).await,
        Err(Error::Forbidden(_))
    ));
    let own = requests::create(
        &w.app,
        &w.admin,
        request("prod-shanghai-1", "payments-admin", "general", "S"),
    )
    .await
    .unwrap();
    let err = requests::approve(&w.app, &w.admin, own.request.id, Decision::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("own request"), "{err}");
    let no_scope = token_ctx(&w.app, "admin2@example.com", &[Scope::Read, Scope::Request]).await;
    assert!(matches!(
        requests::approve(&w.app, &no_scope, created.request.id, Decision::default()).await,
        Err(Error::Forbidden(_))
    ));

    // S allows 50Gi of storage in all, so keeping 100Gi of gp3 is refused, naming the field
    let too_much = Amendment {
        note: "start small".into(),
        spec: SpecChoice {
            preset: Some("S".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let f = fields(
        requests::amend(&w.app, &w.admin, created.request.id, too_much)
            .await
            .unwrap_err(),
    );
    assert!(f.contains_key("storage_classes"), "{f:?}");
    let amended = requests::amend(
        &w.app,
        &w.admin,
        created.request.id,
        Amendment {
            note: "start small; ask again with usage data".into(),
            spec: SpecChoice {
                preset: Some("S".into()),
                storage_classes: Some(vec![ClassQuota {
                    name: "gp3".into(),
                    storage: "40Gi".into(),
                    persistentvolumeclaims: 5,
                }]),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(amended.request.spec.quota.requests_cpu, "2");
    assert_eq!(
        amended.request.requested_spec.quota.requests_cpu, "8",
        "the requester still sees what they asked for"
    );
    assert_eq!(
        amended.request.amended_by.as_deref(),
        Some("admin@example.com")
    );
    assert_eq!(
        amended.request.requested_spec.storage_classes[0].storage,
        "100Gi"
    );

    let approved = requests::approve(
        &w.app,
        &w.admin,
        created.request.id,
        Decision {
            reason: Some("ok".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(approved.request.state, "provisioning");
    assert!(matches!(
        requests::approve(
            &w.app,
            &w.second_admin,
            created.request.id,
            Decision::default()
        )
        .await,
        Err(Error::Conflict { .. })
    ));
    settle(&w.app).await;
    let done = requests::get(&w.app, &w.dev, created.request.id)
        .await
        .unwrap();
    assert_eq!(done.request.state, "ready");
    // Ten namespace objects, the pool's admission policies with their bindings (the cluster
    // is 1.36: Mutating and Validating), and the four workload standards with a binding per
    // mode.
    assert_eq!(done.objects.len(), 30);
    assert!(done.objects.iter().all(|o| o.outcome == "applied"));
    let policies: Vec<(&str, &str)> = done
        .objects
        .iter()
        .filter(|o| o.kind.contains("AdmissionPolicy"))
        .map(|o| (o.kind.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(policies.len(), 20, "{policies:?}");
    assert_eq!(
        policies
            .iter()
            .filter(|(_, name)| *name == "berth-pool-general")
            .count(),
        4
    );

    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    let ns = sim
        .get("namespaces", None, "payments-api")
        .expect("namespace applied");
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["berth.dev/team"], "payments");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "berth");
    assert_eq!(labels["berth.dev/layer"], "online");
    assert_eq!(labels["berth.dev/environment"], "prod");
    assert_eq!(
        ns["metadata"]["annotations"]["scheduler.alpha.kubernetes.io/node-selector"],
        "eks.amazonaws.com/nodegroup=general"
    );
    assert!(ns["metadata"]["annotations"]
        .get("scheduler.alpha.kubernetes.io/defaultTolerations")
        .is_none());
    let managers: Vec<&str> = ns["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, vec!["berth"]);

    let hard = &sim
        .get("resourcequotas", Some("payments-api"), "berth-quota")
        .unwrap()["spec"]["hard"];
    assert_eq!(hard["requests.cpu"], "2");
    assert_eq!(hard["limits.memory"], "8Gi");
    assert_eq!(hard["pods"], "20");
    assert_eq!(
        hard["gp3.storageclass.storage.k8s.io/requests.storage"],
        "40Gi"
    );
    assert_eq!(
        hard["gp3.storageclass.storage.k8s.io/persistentvolumeclaims"],
        "5"
    );
    assert_eq!(
        hard["high-iops-ssd.storageclass.storage.k8s.io/requests.storage"],
        "0"
    );
    assert_eq!(
        hard["high-iops-ssd.storageclass.storage.k8s.io/persistentvolumeclaims"],
        "0"
    );
    let lr = sim
        .get("limitranges", Some("payments-api"), "berth-limits")
        .unwrap();
    assert_eq!(lr["spec"]["limits"][0]["defaultRequest"]["cpu"], "100m");
    assert_eq!(lr["spec"]["limits"][0]["maxLimitRequestRatio"]["cpu"], "10");
    let deny = sim
        .get("networkpolicies", Some("payments-api"), "default-deny")
        .unwrap();
    assert_eq!(deny["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(deny["spec"]["podSelector"], json!({}));
    let dns = sim
        .get("networkpolicies", Some("payments-api"), "allow-dns")
        .unwrap();
    assert_eq!(
        dns["spec"]["egress"][0]["ports"][0],
        json!({"protocol": "UDP", "port": 53})
    );
    assert!(sim
        .get(
            "networkpolicies",
            Some("payments-api"),
            "allow-same-namespace"
        )
        .is_some());
    let team = sim
        .get("rolebindings", Some("payments-api"), "team-edit")
        .unwrap();
    assert_eq!(team["roleRef"]["name"], "edit");
    assert_eq!(
        team["subjects"][0],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "berth:payments"})
    );
    let role = sim.get("roles", Some("payments-api"), "deployer").unwrap();
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "patch", "update"]}])
    );
    assert!(sim
        .get("serviceaccounts", Some("payments-api"), "deployer")
        .is_some());
    assert_eq!(
        sim.get("rolebindings", Some("payments-api"), "deployer")
            .unwrap()["subjects"][0]["name"],
        "deployer"
    );

    let actions = audit_actions(&w.app).await;
    for a in [
        "namespace_request.created",
        "namespace_request.amended",
        "namespace_request.approved",
        "namespace.provisioned",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    // the pool now counts the namespace's quota as committed
    let cluster = berth::fleet::get(&w.app, &w.dev, "prod-shanghai-1")
        .await
        .unwrap()
        .cluster;
    let general = cluster.pools.iter().find(|p| p.name == "general").unwrap();
    assert_eq!(general.committed.cpu_millis, 2000);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn policies_auto_approve_within_budget_and_record_the_rule(db: PgPool) {
    let w = world(db).await;
    let small = requests::create(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-sandbox", "default-pool", "S"),
    )
    .await
    .unwrap();
    assert_eq!(small.request.state, "provisioning");
    assert_eq!(
        small.request.matched_policy.as_deref(),
        Some("dev and staging up to L within budget")
    );
    assert!(small.request.decided_by.is_none());
    let xl = requests::create(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-big", "default-pool", "XL"),
    )
    .await
    .unwrap();
    assert_eq!(xl.request.state, "pending", "above L needs an admin");

    settings::set_budget(
        &w.app,
        &w.admin,
        "payments",
        BudgetInput {
            cluster: None,
            cpu: "3".into(),
            memory: "64Gi".into(),
            storage: "1Ti".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let over = requests::create(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-third", "default-pool", "S"),
    )
    .await
    .unwrap();
    assert_eq!(
        over.request.state, "pending",
        "over budget is never auto-approved"
    );
    assert!(over.request.over_budget);
    let budget = over.impact.unwrap().budget.unwrap();
    assert!(budget.over_budget);
    assert_eq!(
        budget.overrun.cpu_millis, 1000,
        "S asks 2 cores; 2 are committed of 3"
    );
    assert!(matches!(
        settings::set_budget(
            &w.app,
            &w.dev,
            "payments",
            BudgetInput {
                cluster: None,
                cpu: "99".into(),
                memory: "1Gi".into(),
                storage: "1Gi".into(),
                ..Default::default()
            }
        )
        .await,
        Err(Error::Forbidden(_))
    ));
    let f = fields(
        settings::set_budget(
            &w.app,
            &w.admin,
            "payments",
            BudgetInput {
                cluster: Some("nope".into()),
                cpu: "x".into(),
                memory: "1Gi".into(),
                storage: "1Gi".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("cpu") && f.contains_key("cluster"), "{f:?}");
    // The settings page's table: every team's budgets, for admins only.
    let all = settings::all_budgets(&w.app, &w.admin).await.unwrap();
    assert!(all
        .iter()
        .any(|b| b.team == "payments" && b.limit.cpu_millis == 3000));
    assert!(matches!(
        settings::all_budgets(&w.app, &w.dev).await,
        Err(Error::Forbidden(_))
    ));
    // the admin may still approve, with the overrun in view
    requests::approve(&w.app, &w.admin, over.request.id, Decision::default())
        .await
        .unwrap();
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_tainted_pool_gets_default_tolerations(db: PgPool) {
    let w = world(db).await;
    ready(&w, request("prod-beijing-1", "payments-batch", "spot", "S")).await;
    let ns = w
        .fleet
        .cluster("prod-beijing-1")
        .unwrap()
        .get("namespaces", None, "payments-batch")
        .unwrap();
    let annotations = &ns["metadata"]["annotations"];
    assert_eq!(
        annotations["scheduler.alpha.kubernetes.io/node-selector"],
        "karpenter.sh/nodepool=spot"
    );
    let tolerations: Value = serde_json::from_str(
        annotations["scheduler.alpha.kubernetes.io/defaultTolerations"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(tolerations[0]["effect"], "NoSchedule");
    assert!(tolerations[0]["key"].as_str().is_some());
    // Where PodTolerationRestriction runs, only the pool's tolerations (and the server's own
    // for node conditions) are allowed.
    let whitelist: Vec<Value> = serde_json::from_str(
        annotations["scheduler.alpha.kubernetes.io/tolerationsWhitelist"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(whitelist[0], tolerations[0]);
    assert!(whitelist[1..].iter().all(|t| t["key"]
        .as_str()
        .unwrap()
        .starts_with("node.kubernetes.io/")));
    assert_eq!(ns["metadata"]["labels"]["berth.dev/pool"], "spot");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_pinning_proof_reports_what_each_cluster_did_with_its_probes(db: PgPool) {
    use berth_frontend::api::{PinVerdict, ProbeKind, ProbeOutcome};
    let w = world(db).await;
    // prod-shanghai-1 runs the PodNodeSelector and PodTolerationRestriction plugins.
    ready(
        &w,
        request("prod-shanghai-1", "payments-pinned", "general", "S"),
    )
    .await;
    let pinned = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-pinned")
        .await
        .unwrap()
        .namespace
        .pinning
        .expect("proven after provisioning");
    assert_eq!(pinned.verdict, PinVerdict::Enforced, "{pinned:?}");
    let outcomes: Vec<(ProbeKind, ProbeOutcome)> =
        pinned.probes.iter().map(|p| (p.probe, p.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (ProbeKind::Unpinned, ProbeOutcome::Mutated),
            (ProbeKind::ForeignToleration, ProbeOutcome::Refused)
        ]
    );
    // prod-beijing-1 has no plugins, and the simulator evaluates no admission policy: the
    // probes go in as they are, and the proof says so — on the namespace and the cluster.
    ready(&w, request("prod-beijing-1", "payments-loose", "spot", "S")).await;
    let loose = namespaces::get(&w.app, &w.dev, "prod-beijing-1", "payments-loose")
        .await
        .unwrap()
        .namespace
        .pinning
        .unwrap();
    assert_eq!(loose.verdict, PinVerdict::NotEnforced);
    assert!(loose
        .probes
        .iter()
        .all(|p| p.outcome == ProbeOutcome::NotEnforced));
    let cluster = berth::fleet::get(&w.app, &w.admin, "prod-beijing-1")
        .await
        .unwrap()
        .cluster;
    assert_eq!(cluster.inventory.unwrap().pinning_not_enforced, 1);
    // Nothing was created by the probes: they were dry-runs.
    let sim = w.fleet.cluster("prod-beijing-1").unwrap();
    assert!(sim
        .get("pods", Some("payments-loose"), "berth-proof-unpinned")
        .is_none());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn an_unreachable_cluster_is_retried_and_others_go_on(db: PgPool) {
    let w = world(db).await;
    let sim = w.fleet.cluster("dev-shanghai-1").unwrap();
    sim.set_faults(&FaultSettings {
        down: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let stuck = requests::create(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-wait", "default-pool", "S"),
    )
    .await
    .unwrap();
    let other = requests::create(
        &w.app,
        &w.dev,
        request("prod-beijing-1", "payments-other", "batch", "S"),
    )
    .await
    .unwrap();
    requests::approve(&w.app, &w.admin, other.request.id, Decision::default())
        .await
        .unwrap();
    jobs::drain(&w.app).await.unwrap();
    let failed = requests::get(&w.app, &w.dev, stuck.request.id)
        .await
        .unwrap()
        .request;
    assert_eq!(failed.state, "failed");
    assert!(
        failed.last_error.as_deref().unwrap().contains("retrying"),
        "{:?}",
        failed.last_error
    );
    assert_eq!(
        requests::get(&w.app, &w.dev, other.request.id)
            .await
            .unwrap()
            .request
            .state,
        "ready"
    );
    let audited = count(
        &w.app,
        "SELECT count(*) FROM audit_events WHERE action = 'namespace.apply_failed'",
    )
    .await;
    assert_eq!(audited, 1);

    sim.recover().await.unwrap();
    settle(&w.app).await;
    let done = requests::get(&w.app, &w.dev, stuck.request.id)
        .await
        .unwrap()
        .request;
    assert_eq!(done.state, "ready");
    assert!(done.attempts >= 2);
    assert!(sim.get("namespaces", None, "payments-wait").is_some());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_job_interrupted_mid_way_completes_exactly_once(db: PgPool) {
    let w = world(db).await;
    let created = requests::create(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-crash", "default-pool", "S"),
    )
    .await
    .unwrap();
    // a worker claims the job, applies, and dies before recording anything
    let crashed = jobs::claim(&w.app, Uuid::new_v4())
        .await
        .unwrap()
        .expect("a due job");
    jobs::execute(&w.app, &crashed).await.unwrap();
    // while its lease holds, nobody else takes the job
    assert!(jobs::claim(&w.app, Uuid::new_v4()).await.unwrap().is_none());
    sqlx::query!(
        "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1",
        crashed.id
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    assert_eq!(jobs::drain(&w.app).await.unwrap(), 1);
    // the dead worker's late report is refused: its lease is gone
    jobs::conclude(
        &w.app,
        &Ctx::system("test"),
        &crashed,
        Ok(jobs::Outcome::Done),
    )
    .await
    .unwrap();
    assert_eq!(
        requests::get(&w.app, &w.dev, created.request.id)
            .await
            .unwrap()
            .request
            .state,
        "ready"
    );
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM audit_events WHERE action = 'namespace.provisioned'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&w.app, "SELECT count(*) FROM jobs WHERE state = 'done'").await,
        1
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn two_workers_never_claim_the_same_job(db: PgPool) {
    let w = world(db).await;
    for i in 0..6 {
        requests::create(
            &w.app,
            &w.dev,
            request(
                "dev-shanghai-1",
                &format!("payments-n{i}"),
                "default-pool",
                "S",
            ),
        )
        .await
        .unwrap();
    }
    // both "processes" claim until nothing is due; a cluster runs one job at a time, so
    // release each claim after recording it
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut seen = std::collections::HashSet::new();
    loop {
        let (x, y) = tokio::join!(jobs::claim(&w.app, a), jobs::claim(&w.app, b));
        let claimed: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        if claimed.is_empty() {
            break;
        }
        for job in claimed {
            assert!(seen.insert(job.id), "job {} claimed twice", job.id);
            jobs::run(&w.app, job).await.unwrap();
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM namespaces WHERE state = 'ready'"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM audit_events WHERE action = 'namespace.provisioned'"
        )
        .await,
        6
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn concurrent_approve_and_cancel_exactly_one_wins(db: PgPool) {
    let w = world(db).await;
    for i in 0..5 {
        let r = requests::create(
            &w.app,
            &w.dev,
            request(
                "prod-shanghai-1",
                &format!("payments-race{i}"),
                "general",
                "S",
            ),
        )
        .await
        .unwrap();
        let (approved, cancelled) = tokio::join!(
            requests::approve(&w.app, &w.admin, r.request.id, Decision::default()),
            requests::cancel(&w.app, &w.dev, r.request.id)
        );
        assert!(
            approved.is_ok() ^ cancelled.is_ok(),
            "exactly one wins: {approved:?} / {cancelled:?}"
        );
        let loser = approved.err().or(cancelled.err()).unwrap();
        assert!(matches!(loser, Error::Conflict { .. }), "{loser:?}");
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn quota_changes_decreases_auto_approve_and_bursts_revert_by_themselves(db: PgPool) {
    let w = world(db).await;
    ready(
        &w,
        request("prod-shanghai-1", "payments-api", "general", "M"),
    )
    .await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();

    let down = requests::quota_change(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        QuotaChange {
            purpose: "less traffic".into(),
            spec: SpecChoice {
                preset: Some("S".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        down.request.matched_policy.as_deref(),
        Some("quota decreases")
    );
    assert_eq!(down.request.state, "provisioning");
    settle(&w.app).await;
    assert_eq!(
        sim.get("resourcequotas", Some("payments-api"), "berth-quota")
            .unwrap()["spec"]["hard"]["requests.cpu"],
        "2"
    );

    let f = fields(
        requests::quota_change(
            &w.app,
            &w.dev,
            "prod-shanghai-1",
            "payments-api",
            QuotaChange {
                purpose: "same".into(),
                spec: SpecChoice {
                    preset: Some("S".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("quota"));
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let f = fields(
        requests::quota_change(
            &w.app,
            &w.dev,
            "prod-shanghai-1",
            "payments-api",
            QuotaChange {
                burst_until: Some(past),
                purpose: "sale".into(),
                spec: SpecChoice {
                    preset: Some("L".into()),
                    ..Default::default()
                },
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("burst_until"));

    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let burst = requests::quota_change(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-api",
        QuotaChange {
            burst_until: Some(until),
            purpose: "flash sale".into(),
            spec: SpecChoice {
                preset: Some("L".into()),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(
        burst.request.state, "pending",
        "an increase on prod needs an admin"
    );
    requests::approve(&w.app, &w.admin, burst.request.id, Decision::default())
        .await
        .unwrap();
    settle(&w.app).await;
    assert_eq!(
        sim.get("resourcequotas", Some("payments-api"), "berth-quota")
            .unwrap()["spec"]["hard"]["requests.cpu"],
        "32"
    );
    let during = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .namespace;
    assert!(during.burst_until.is_some());

    // the end time comes
    sqlx::query!("UPDATE jobs SET run_at = now() WHERE kind = 'revert_burst'")
        .execute(&w.app.db)
        .await
        .unwrap();
    settle(&w.app).await;
    assert_eq!(
        sim.get("resourcequotas", Some("payments-api"), "berth-quota")
            .unwrap()["spec"]["hard"]["requests.cpu"],
        "2"
    );
    let after = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .namespace;
    assert_eq!(after.state, "ready");
    assert!(after.burst_until.is_none());
    assert_eq!(after.quota.cpu_millis, 2000);
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM audit_events WHERE action = 'namespace.burst_reverted'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn decommissioning_asks_for_the_name_and_deletes_the_namespace(db: PgPool) {
    let w = world(db).await;
    ready(
        &w,
        request("prod-shanghai-1", "payments-old", "general", "S"),
    )
    .await;
    let f = fields(
        requests::decommission(
            &w.app,
            &w.dev,
            "prod-shanghai-1",
            "payments-old",
            Decommission {
                confirm: "payments".into(),
                purpose: "retired".into(),
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("confirm"));
    assert!(matches!(
        requests::decommission(
            &w.app,
            &w.outsider,
            "prod-shanghai-1",
            "payments-old",
            Decommission {
                confirm: "payments-old".into(),
                purpose: "x".into()
            }
        )
        .await,
        Err(Error::NotFound(_))
    ));
    let r = requests::decommission(
        &w.app,
        &w.dev,
        "prod-shanghai-1",
        "payments-old",
        Decommission {
            confirm: "payments-old".into(),
            purpose: "retired".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r.request.state, "pending");
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    sim.hold_namespace_deletion();
    requests::approve(&w.app, &w.admin, r.request.id, Decision::default())
        .await
        .unwrap();
    jobs::drain(&w.app).await.unwrap();
    let terminating = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-old")
        .await
        .unwrap()
        .namespace;
    assert_eq!(
        terminating.state, "decommissioning",
        "Berth waits while the namespace terminates"
    );
    sim.release_namespace_deletion();
    settle(&w.app).await;
    assert!(sim.get("namespaces", None, "payments-old").is_none());
    assert_eq!(
        requests::get(&w.app, &w.dev, r.request.id)
            .await
            .unwrap()
            .request
            .state,
        "ready"
    );
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM namespaces WHERE state = 'decommissioned'"
        )
        .await,
        1
    );
    // the name is free again, and the pool no longer counts the quota
    ready(
        &w,
        request("prod-shanghai-1", "payments-old", "general", "S"),
    )
    .await;
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn usage_drift_reapply_and_out_of_band_namespaces(db: PgPool) {
    let w = world(db).await;
    ready(
        &w,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    assert!(sim.set_status("resourcequotas", Some("payments-api"), "berth-quota",
        json!({"hard": {"requests.cpu": "2", "requests.memory": "4Gi"}, "used": {"requests.cpu": "500m", "requests.memory": "1Gi"}})));
    let live = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .namespace;
    let usage = live.usage.expect("usage read live");
    assert_eq!(usage.used_amounts.cpu_millis, 500);
    assert_eq!(usage.used_amounts.memory_bytes, 1 << 30);

    // someone edits the quota by hand and deletes a policy; another tool creates a namespace
    let mut quota = sim
        .get("resourcequotas", Some("payments-api"), "berth-quota")
        .unwrap();
    quota["spec"]["hard"]["pods"] = json!("500");
    quota["metadata"]["managedFields"] = json!(null);
    sim.state()
        .store
        .replace(
            &sim.state().resource("resourcequotas"),
            &berth_fleet_sim::store::Key::new(
                &sim.state().resource("resourcequotas"),
                Some("payments-api"),
                "berth-quota",
            ),
            quota,
            "kubectl",
            false,
        )
        .unwrap();
    sim.create("namespaces", json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "payments-manual", "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/team": "payments"}}})).unwrap();
    namespaces::check_now(&w.app, &w.admin, "prod-shanghai-1")
        .await
        .unwrap();
    let drifted = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .namespace;
    let drift = drifted.drift.unwrap();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].kind, "ResourceQuota");
    // Where, and what Berth wants beside what the cluster has.
    assert_eq!(drift[0].differences.len(), 1, "{drift:?}");
    assert!(
        drift[0].differences[0].starts_with("/spec/hard/pods: ")
            && drift[0].differences[0].ends_with(" → 500"),
        "{drift:?}"
    );
    let oob = namespaces::out_of_band(&w.app, &w.admin).await.unwrap();
    assert_eq!(oob.len(), 1);
    assert_eq!(oob[0].namespace, "payments-manual");

    namespaces::reapply(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap();
    settle(&w.app).await;
    namespaces::check_now(&w.app, &w.admin, "prod-shanghai-1")
        .await
        .unwrap();
    let fixed = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap()
        .namespace;
    assert_eq!(fixed.drift.unwrap(), vec![]);
    assert!(matches!(
        namespaces::reapply(&w.app, &w.outsider, "prod-shanghai-1", "payments-api").await,
        Err(Error::NotFound(_))
    ));

    let ledger = namespaces::ledger(&w.app, &w.dev).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].allocated.cpu_millis, 2000);
    assert_eq!(ledger[0].used.cpu_millis, 500);
    assert!(ledger[0].capacity.cpu_millis > 0);
    assert!(namespaces::ledger(&w.app, &w.outsider)
        .await
        .unwrap()
        .is_empty());
}

/// The pool and workload policies are cluster-wide and the same for every namespace of a
/// cluster: applied with the first namespace, not again with the next, and applied again
/// once the drift check or the sync finds them missing.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn shared_policies_are_applied_once_per_cluster_and_again_when_lost(db: PgPool) {
    let w = world(db).await;
    ready(
        &w,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await;
    let sim = w.fleet.cluster("prod-shanghai-1").unwrap();
    let policy = "berth-workload-forbid-latest";
    assert!(sim
        .get("validatingadmissionpolicies", None, policy)
        .is_some());
    let shared = count(
        &w.app,
        "SELECT count(*) FROM cluster_objects o JOIN clusters c ON c.id = o.cluster_id WHERE c.name = 'prod-shanghai-1'",
    )
    .await;
    assert!(shared >= 16 + 4, "{shared} shared objects recorded");

    // With the policies out of Berth's reach, a second namespace of the pool still becomes
    // ready: it sends none of them.
    for plural in [
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    ] {
        sim.forbid("patch", plural);
    }
    ready(
        &w,
        request("prod-shanghai-1", "payments-web", "general", "S"),
    )
    .await;

    // Someone deletes a policy: the drift check names it on every namespace that relies on
    // it, and the next apply sends it again.
    let resource = sim.state().resource("validatingadmissionpolicies");
    sim.state()
        .store
        .delete(
            &resource,
            &berth_fleet_sim::store::Key::new(&resource, None, policy),
        )
        .unwrap();
    namespaces::check_now(&w.app, &w.admin, "prod-shanghai-1")
        .await
        .unwrap();
    for name in ["payments-api", "payments-web"] {
        let drift = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", name)
            .await
            .unwrap()
            .namespace
            .drift
            .unwrap();
        assert_eq!(drift.len(), 1, "{name}: {drift:?}");
        assert_eq!(drift[0].name, policy);
        assert_eq!(drift[0].differences, vec!["missing".to_owned()]);
    }
    for plural in [
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    ] {
        sim.allow("patch", plural);
    }
    namespaces::reapply(&w.app, &w.dev, "prod-shanghai-1", "payments-api")
        .await
        .unwrap();
    settle(&w.app).await;
    assert!(sim
        .get("validatingadmissionpolicies", None, policy)
        .is_some());
    namespaces::check_now(&w.app, &w.admin, "prod-shanghai-1")
        .await
        .unwrap();
    for name in ["payments-api", "payments-web"] {
        let ns = namespaces::get(&w.app, &w.dev, "prod-shanghai-1", name)
            .await
            .unwrap()
            .namespace;
        assert_eq!(ns.drift.unwrap(), vec![], "{name}");
    }

    // The sync lists what is left; a policy deleted between checks is forgotten there too.
    sim.state()
        .store
        .delete(
            &resource,
            &berth_fleet_sim::store::Key::new(&resource, None, policy),
        )
        .unwrap();
    berth::fleet::sync_all(&w.app, &w.admin).await.unwrap();
    assert_eq!(
        count(
            &w.app,
            &format!("SELECT count(*) FROM cluster_objects WHERE name = '{policy}' AND kind = 'ValidatingAdmissionPolicy'"),
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn webhooks_are_signed_retried_and_never_block_the_request(db: PgPool) {
    let w = world(db).await;
    let received: Deliveries = Arc::default();
    let fail_first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sink = received.clone();
    let flag = fail_first.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                let flag = flag.clone();
                async move {
                    if flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
                    sink.lock().unwrap().push((
                        h("x-berth-event"),
                        h("x-berth-signature"),
                        body.to_vec(),
                    ));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let f = fields(
        settings::create_webhook(
            &w.app,
            &w.admin,
            NewWebhook {
                url: "ftp://x".into(),
                secret: "short".into(),
                events: vec!["nope".into()],
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("url") && f.contains_key("secret") && f.contains_key("events"));
    let secret = "a-webhook-secret-of-some-length";
    settings::create_webhook(
        &w.app,
        &w.admin,
        NewWebhook {
            url,
            secret: secret.into(),
            events: vec!["request.created".into(), "request.provisioned".into()],
        },
    )
    .await
    .unwrap();
    assert!(
        !serde_json::to_string(&settings::webhooks(&w.app, &w.admin).await.unwrap())
            .unwrap()
            .contains(secret)
    );

    ready(
        &w,
        request("dev-shanghai-1", "payments-hooked", "default-pool", "S"),
    )
    .await;
    let got = received.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert!(
        events.contains(&"request.created") && events.contains(&"request.provisioned"),
        "{events:?}"
    );
    for (_, signature, body) in &got {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(signature, &format!("sha256={expected}"));
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["request"]["namespace"], "payments-hooked");
    }
    assert!(
        count(
            &w.app,
            "SELECT count(*) FROM jobs WHERE kind = 'webhook' AND attempts >= 2"
        )
        .await
            >= 1,
        "the 503 was retried"
    );
}

/// The REST surface: status codes, field errors and who may do what.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn rest_requests_decisions_and_namespaces_with_authorization(db: PgPool) {
    let w = world(db).await;
    let server = TestServer::start_with_fleet(w.app.db.clone(), w.fleet.clone()).await;
    let dev = server.login("dev@example.com").await;
    let outsider = server.login("outsider@example.com").await;
    let admin = server.login("admin@example.com").await;
    let anonymous = server.anonymous();
    let approver_token = server
        .token(
            "admin2@example.com",
            &[Scope::Read, Scope::Request, Scope::Approve],
        )
        .await;
    let no_approve = server
        .token("admin2@example.com", &[Scope::Read, Scope::Request])
        .await;
    let body = json!({"team": "payments", "cluster": "prod-shanghai-1", "name": "payments-web", "node_pool": "general",
                      "preset": "M", "purpose": "web front end",
                      "storage_classes": [{"name": "gp3", "storage": "50Gi", "persistentvolumeclaims": 3}]});

    let (status, _) = anonymous
        .post("/api/v1/namespace-requests", body.clone())
        .await;
    assert_eq!(status, 401);
    let (status, preview) = dev
        .post("/api/v1/namespace-requests/preview", body.clone())
        .await;
    assert_eq!(status, 200, "{preview}");
    // Ten namespace objects, the pool's four admission policy objects (a 1.36 cluster) and
    // the workload standards' sixteen.
    assert_eq!(preview["objects"].as_array().unwrap().len(), 30);
    assert_eq!(preview["auto_approve"], false);
    assert!(
        preview["impact"]["allocatable"]["cpu_millis"]
            .as_i64()
            .unwrap()
            > 0
    );
    let (_, bad_preview) = dev
        .post(
            "/api/v1/namespace-requests/preview",
            json!({"team": "payments", "cluster": "prod-shanghai-1",
        "name": "web", "node_pool": "general", "preset": "M", "purpose": "x"}),
        )
        .await;
    assert!(bad_preview["fields"]["name"]
        .as_str()
        .unwrap()
        .contains("payments-"));
    let (status, wrong_type) = dev
        .post(
            "/api/v1/namespace-requests",
            json!({"team": "payments", "cluster": 7}),
        )
        .await;
    assert_eq!(status, 422, "{wrong_type}");
    let (status, wrong) = dev.post("/api/v1/namespace-requests", json!({"team": "payments", "cluster": "prod-shanghai-1",
        "name": "payments-web", "node_pool": "general", "purpose": "x",
        "quota": {"requests_cpu": "two", "requests_memory": "1Gi", "limits_cpu": "1", "limits_memory": "1Gi", "pods": 1,
                  "services": 1, "persistentvolumeclaims": 0, "requests_storage": "0"},
        "limits": {"default_request_cpu": "100m", "default_request_memory": "64Mi", "default_limit_cpu": "200m",
                   "default_limit_memory": "128Mi", "min_cpu": "10m", "min_memory": "16Mi", "max_cpu": "1", "max_memory": "1Gi"}})).await;
    assert_eq!(status, 422);
    assert!(
        wrong["error"]["fields"]["quota.requests_cpu"].is_string(),
        "{wrong}"
    );

    let (status, created) = dev.post("/api/v1/namespace-requests", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["request"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["request"]["state"], "pending");
    assert_eq!(created["can_cancel"], true);
    assert_eq!(created["can_decide"], false);

    let (status, _) = outsider
        .get(&format!("/api/v1/namespace-requests/{id}"))
        .await;
    assert_eq!(status, 404, "another team's member does not see it");
    let (status, _) = outsider
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = dev
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "the requester does not approve");
    let (status, _) = no_approve
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "a token without approve");
    let (status, reject) = admin
        .post(
            &format!("/api/v1/namespace-requests/{id}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(reject["error"]["fields"]["reason"].is_string());
    let (status, amended) = admin
        .post(
            &format!("/api/v1/namespace-requests/{id}/amend"),
            json!({"node_pool": "high-memory", "note": "memory-heavy service"}),
        )
        .await;
    assert_eq!(status, 200, "{amended}");
    assert_eq!(amended["request"]["node_pool"], "high-memory");
    assert_eq!(amended["impact"]["pool"], "high-memory");
    let (status, approved) = approver_token
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({"reason": "fine"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let (status, _) = admin
        .post(
            &format!("/api/v1/namespace-requests/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "a decided request cannot be cancelled");
    settle(&w.app).await;

    let (status, list) = dev
        .get("/api/v1/namespace-requests?state=ready&team=payments")
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Search by part of the name, in the list of requests and of namespaces alike.
    for (path, hits) in [
        ("/api/v1/namespace-requests?q=ments-w", 1),
        ("/api/v1/namespace-requests?q=%20WEB%20", 1),
        ("/api/v1/namespace-requests?q=nothing-like-it", 0),
        ("/api/v1/namespaces?q=payments-w", 1),
        ("/api/v1/namespaces?q=%25", 0),
    ] {
        let (status, list) = dev.get(path).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert_eq!(list["items"].as_array().unwrap().len(), hits, "{path}");
    }
    let (status, bad) = dev
        .get(&format!(
            "/api/v1/namespace-requests?state=done&limit=0&q={}",
            "x".repeat(64)
        ))
        .await;
    assert_eq!(status, 422);
    assert!(
        bad["error"]["fields"]["state"].is_string()
            && bad["error"]["fields"]["limit"].is_string()
            && bad["error"]["fields"]["q"].is_string()
    );
    let (status, ns) = dev
        .get("/api/v1/namespaces/prod-shanghai-1/payments-web")
        .await;
    assert_eq!(status, 200, "{ns}");
    assert_eq!(ns["namespace"]["state"], "ready");
    assert_eq!(ns["namespace"]["node_pool"], "high-memory");
    assert_eq!(ns["requests"].as_array().unwrap().len(), 1);
    let (status, _) = outsider
        .get("/api/v1/namespaces/prod-shanghai-1/payments-web")
        .await;
    assert_eq!(status, 404);
    let (status, page) = outsider.get("/api/v1/namespaces").await;
    assert_eq!(status, 200);
    assert!(page["items"].as_array().unwrap().is_empty());
    let (status, change) = dev
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-web/quota-change",
            json!({"preset": "L", "purpose": "launch"}),
        )
        .await;
    assert_eq!(status, 201, "{change}");
    assert_eq!(change["request"]["kind"], "quota_change");
    let (status, _) = dev
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-web/quota-change",
            json!({"preset": "XL", "purpose": "again"}),
        )
        .await;
    assert_eq!(status, 409, "one open change at a time");
    let (status, gone) = dev
        .post(
            "/api/v1/namespaces/prod-shanghai-1/payments-web/decommission",
            json!({"confirm": "nope", "purpose": "x"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(gone["error"]["fields"]["confirm"].is_string());

    let (status, presets) = dev.get("/api/v1/presets").await;
    assert_eq!(status, 200);
    assert_eq!(presets.as_array().unwrap().len(), 4);
    let mut s = presets[0].clone();
    let (status, _) = dev.put("/api/v1/presets/S", s.clone()).await;
    assert_eq!(status, 403);
    s["quota"]["pods"] = json!(25);
    let (status, updated) = admin.put("/api/v1/presets/S", s.clone()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["quota"]["pods"], 25);
    s["limits"]["max_cpu"] = json!("1m");
    let (status, _) = admin.put("/api/v1/presets/S", s).await;
    assert_eq!(status, 422);
    let (status, budgets) = admin
        .put(
            "/api/v1/teams/payments/budgets",
            json!({"cpu": "64", "memory": "256Gi", "storage": "2Ti"}),
        )
        .await;
    assert_eq!(status, 200, "{budgets}");
    assert_eq!(budgets[0]["limit"]["cpu_millis"], 64000);
    let (status, _) = outsider.get("/api/v1/teams/payments/budgets").await;
    assert_eq!(status, 403);
    let (status, _) = dev
        .post(
            "/api/v1/approval-policies",
            json!({"name": "x", "position": 1, "conditions": {}, "action": "approve"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, policy) = admin.post("/api/v1/approval-policies",
        json!({"name": "staging anything", "position": 5, "conditions": {"environments": ["staging"]}, "action": "approve"})).await;
    assert_eq!(status, 201, "{policy}");
    let (status, bad_policy) = admin.post("/api/v1/approval-policies",
        json!({"name": "", "position": 5, "conditions": {"kinds": ["explode"], "max_preset": "XXL"}, "action": "maybe"})).await;
    assert_eq!(status, 422);
    for field in [
        "name",
        "conditions.kinds",
        "conditions.max_preset",
        "action",
    ] {
        assert!(
            bad_policy["error"]["fields"][field].is_string(),
            "{field}: {bad_policy}"
        );
    }
    let (status, _) = dev.get("/api/v1/webhooks").await;
    assert_eq!(status, 403);
    let (status, ledger) = dev.get("/api/v1/quota-ledger").await;
    assert_eq!(status, 200);
    assert_eq!(ledger[0]["team"], "payments");
    let (status, _) = dev.get("/api/v1/out-of-band-namespaces").await;
    assert_eq!(status, 403);

    let (_, spec) = anonymous.get("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/namespace-requests",
        "/api/v1/namespace-requests/{id}/approve",
        "/api/v1/namespace-requests/{id}/amend",
        "/api/v1/namespaces/{cluster}/{name}/quota-change",
        "/api/v1/teams/{team}/budgets",
        "/api/v1/approval-policies",
        "/api/v1/webhooks",
        "/api/v1/quota-ledger",
        "/api/v1/presets/{name}",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

/// Graceful shutdown: workers started by `berth serve` stop claiming when asked, finish the
/// job in hand, and return; what they never claimed stays queued for another process.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn workers_stop_claiming_and_finish_their_jobs_on_shutdown(db: PgPool) {
    let w = world(db).await;
    let mut config = (*w.app.config).clone();
    config.job_workers = 2;
    let mut app = w.app.clone();
    app.config = Arc::new(config);
    let workers = jobs::spawn_workers(app.clone());
    let created = requests::create(
        &app,
        &w.dev,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await
    .unwrap();
    requests::approve(&app, &w.admin, created.request.id, Decision::default())
        .await
        .unwrap();
    // The running workers provision it on their own.
    let mut state = RequestState::Pending;
    for _ in 0..200 {
        state = requests::get(&app, &w.dev, created.request.id)
            .await
            .unwrap()
            .request
            .state;
        if state == RequestState::Ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, RequestState::Ready);
    workers.stop(std::time::Duration::from_secs(30)).await;
    // Stopped workers claim nothing more: a new job stays queued for the next process.
    let later = requests::create(
        &app,
        &w.dev,
        request("prod-shanghai-1", "payments-web", "general", "S"),
    )
    .await
    .unwrap();
    requests::approve(&app, &w.admin, later.request.id, Decision::default())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM jobs WHERE state = 'queued' AND kind = 'apply'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM jobs WHERE state = 'running'").await,
        0
    );
}

/// The environment of a namespace is its cluster's (or an admin's amendment), never the
/// requester's word: before, `"environment": "dev"` on a prod cluster was auto-approved by
/// "dev and staging up to L within budget".
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_environment_is_the_clusters_never_the_requesters(db: PgPool) {
    let w = world(db).await;
    let mut claimed_dev = request("prod-shanghai-1", "payments-api", "general", "S");
    claimed_dev.environment = Some("dev".into());
    let f = fields(
        requests::create(&w.app, &w.dev, claimed_dev.clone())
            .await
            .unwrap_err(),
    );
    assert!(f["environment"].contains("prod"), "{f:?}");
    let preview = requests::preview(&w.app, &w.dev, claimed_dev)
        .await
        .unwrap();
    assert!(!preview.auto_approve);
    assert!(preview.fields.contains_key("environment"));

    // Saying nothing, the cluster's environment decides: prod waits for an admin.
    let created = requests::create(
        &w.app,
        &w.dev,
        request("prod-shanghai-1", "payments-api", "general", "S"),
    )
    .await
    .unwrap();
    assert_eq!(created.request.state, "pending");
    assert_eq!(created.request.environment, "prod");

    // An admin may amend it.
    let amended = requests::amend(
        &w.app,
        &w.admin,
        created.request.id,
        Amendment {
            environment: Some("staging".into()),
            note: "a staging namespace on the shared prod cluster".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(amended.request.environment, "staging");
}

/// A change is a decrease only if no dimension grows: before, the same quota totals with a
/// larger LimitRange maximum, or storage moved to a roomier class, were approved as decreases.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_decrease_takes_nothing_more_in_any_dimension(db: PgPool) {
    let w = world(db).await;
    let mut input = request("prod-singapore-1", "payments-db", "db", "M");
    input.spec.storage_classes = Some(vec![ClassQuota {
        name: "high-iops-ssd".into(),
        storage: "50Gi".into(),
        persistentvolumeclaims: 2,
    }]);
    ready(&w, input).await;
    let current = namespaces::get(&w.app, &w.dev, "prod-singapore-1", "payments-db")
        .await
        .unwrap()
        .namespace
        .spec;
    let change = |spec: berth_frontend::api::NamespaceSpec| QuotaChange {
        purpose: "resize".into(),
        spec: SpecChoice {
            quota: Some(spec.quota),
            limits: Some(spec.limits),
            storage_classes: Some(spec.storage_classes),
            ..Default::default()
        },
        ..Default::default()
    };
    let decided = |detail: RequestDetail| (detail.request.state, detail.request.matched_policy);
    let try_change = |spec| {
        let w = &w;
        async move {
            let d = requests::quota_change(
                &w.app,
                &w.dev,
                "prod-singapore-1",
                "payments-db",
                change(spec),
            )
            .await
            .unwrap();
            let out = decided(d.clone());
            if d.request.state == "pending" {
                requests::cancel(&w.app, &w.dev, d.request.id)
                    .await
                    .unwrap();
            }
            out
        }
    };

    let mut wider = current.clone();
    wider.limits.max_cpu = "8".into();
    wider.limits.max_memory = "16Gi".into();
    assert_eq!(
        try_change(wider).await.0,
        "pending",
        "a larger LimitRange maximum is an increase"
    );

    let mut roomier = current.clone();
    roomier.storage_classes = vec![ClassQuota {
        name: "throughput".into(),
        storage: "100Gi".into(),
        persistentvolumeclaims: 4,
    }];
    assert_eq!(
        try_change(roomier).await.0,
        "pending",
        "a class not allowed before is an increase"
    );

    let mut looser = current.clone();
    looser.limits.max_limit_request_ratio_cpu = None;
    assert_eq!(
        try_change(looser).await.0,
        "pending",
        "dropping a ratio loosens it"
    );

    let mut smaller = current.clone();
    smaller.quota.requests_cpu = "4".into();
    smaller.storage_classes[0].storage = "20Gi".into();
    let (state, policy) = try_change(smaller).await;
    assert_eq!(policy.as_deref(), Some("quota decreases"));
    assert_eq!(state, "provisioning");
}

/// The placement advisor ranks only the request's environment: before, with the
/// environment left to the cluster's, a sandbox on the dev cluster was offered prod, shared
/// and secure pools first, and "Use" moved it to prod.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_placement_advisor_ranks_only_the_requests_environment(db: PgPool) {
    let w = world(db).await;
    let preview = requests::preview(
        &w.app,
        &w.dev,
        request("dev-shanghai-1", "payments-sandbox", "default-pool", "S"),
    )
    .await
    .unwrap();
    assert_eq!(preview.placement_environment, Some(Environment::Dev));
    assert!(!preview.placement.is_empty());
    assert!(
        preview.placement.iter().all(|o| o.environment == "dev"),
        "{:?}",
        preview.placement
    );
    // Before a cluster is chosen, every cluster is ranked, and the preview says so.
    let mut open = request("", "payments-sandbox", "", "S");
    open.cluster = String::new();
    let preview = requests::preview(&w.app, &w.dev, open).await.unwrap();
    assert_eq!(preview.placement_environment, None);
    assert!(preview.placement.iter().any(|o| o.environment == "prod"));
}

/// GPUs and counts in a quota (simulator): the placement advisor offers only pools whose
/// nodes advertise the GPUs asked for, the namespace's ResourceQuota carries the keys, every
/// other namespace of the cluster gets 0 GPUs, and the pool shows what is committed.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_gpu_quota_is_placed_on_gpu_pools_and_others_get_none(db: PgPool) {
    let w = world(db).await;
    let with_gpus = |name: &str, pool: &str| {
        let mut input = request("prod-beijing-1", name, pool, "S");
        let mut quota = quota_of_s();
        quota
            .other
            .insert("requests.nvidia.com/gpu".into(), "4".into());
        quota.other.insert("count/jobs.batch".into(), "50".into());
        input.spec.quota = Some(quota);
        input
    };
    let mut open = with_gpus("payments-train", "");
    open.cluster = String::new();
    let preview = requests::preview(&w.app, &w.dev, open).await.unwrap();
    assert!(!preview.placement.is_empty());
    assert!(
        preview
            .placement
            .iter()
            .all(|o| o.cluster == "prod-beijing-1" && o.pool == "gpu"),
        "{:?}",
        preview.placement
    );
    let preview = requests::preview(&w.app, &w.dev, with_gpus("payments-train", "batch"))
        .await
        .unwrap();
    assert!(
        preview.fields["quota.other[requests.nvidia.com/gpu]"].contains("gpu"),
        "{:?}",
        preview.fields
    );

    ready(&w, with_gpus("payments-train", "gpu")).await;
    ready(&w, request("prod-beijing-1", "payments-etl", "batch", "S")).await;
    let sim = w.fleet.cluster("prod-beijing-1").unwrap();
    let hard = |ns: &str| {
        sim.get("resourcequotas", Some(ns), "berth-quota").unwrap()["spec"]["hard"].clone()
    };
    assert_eq!(hard("payments-train")["requests.nvidia.com/gpu"], "4");
    assert_eq!(hard("payments-train")["count/jobs.batch"], "50");
    assert_eq!(hard("payments-etl")["requests.nvidia.com/gpu"], "0");
    let cluster = berth::fleet::get(&w.app, &w.admin, "prod-beijing-1")
        .await
        .unwrap()
        .cluster;
    let gpu = cluster.pools.iter().find(|p| p.name == "gpu").unwrap();
    assert_eq!(gpu.extended.len(), 1);
    assert_eq!(
        (gpu.extended[0].allocatable, gpu.extended[0].committed),
        (16, 4)
    );

    // A budget of 6 GPUs: 4 are committed, so 4 more are over budget, and the impact says so.
    settings::set_budget(
        &w.app,
        &w.admin,
        "payments",
        BudgetInput {
            cpu: "1000".into(),
            memory: "10Ti".into(),
            storage: "100Ti".into(),
            extended: [("nvidia.com/gpu".to_owned(), "6".to_owned())].into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let budgets = settings::budgets(&w.app, &w.dev, "payments").await.unwrap();
    assert_eq!(
        (budgets[0].extended[0].limit, budgets[0].extended[0].after),
        (6, 4)
    );
    let more = requests::create(&w.app, &w.dev, with_gpus("payments-train2", "gpu"))
        .await
        .unwrap();
    assert!(more.request.over_budget);
    let impact = more.impact.unwrap();
    let budget = impact.budget.unwrap();
    assert_eq!(
        (budget.extended[0].before, budget.extended[0].after),
        (4, 8)
    );
    assert_eq!(
        (impact.extended[0].before, impact.extended[0].after),
        (4, 8),
        "the pool's GPUs"
    );
    let f = fields(
        settings::set_budget(
            &w.app,
            &w.admin,
            "payments",
            BudgetInput {
                cpu: "1".into(),
                memory: "1Gi".into(),
                storage: "1Gi".into(),
                extended: [
                    ("gpu".to_owned(), "1".to_owned()),
                    ("nvidia.com/gpu".to_owned(), "0.5".to_owned()),
                ]
                .into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("extended[gpu]") && f.contains_key("extended[nvidia.com/gpu]"));
}

/// A quota like preset S's, to add keys to.
fn quota_of_s() -> berth_frontend::api::QuotaSpec {
    berth_frontend::api::QuotaSpec {
        requests_cpu: "2".into(),
        requests_memory: "4Gi".into(),
        limits_cpu: "4".into(),
        limits_memory: "8Gi".into(),
        pods: 20,
        services: 5,
        persistentvolumeclaims: 5,
        requests_storage: "50Gi".into(),
        other: Default::default(),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn lists_sort_on_the_server_so_the_order_holds_across_pages(db: PgPool) {
    let w = world(db).await;
    for name in [
        "payments-sc",
        "payments-sa",
        "payments-se",
        "payments-sb",
        "payments-sd",
    ] {
        ready(&w, request("prod-shanghai-1", name, "general", "S")).await;
    }
    // Two to a page, followed to the end: one order over every page.
    let mut query = NamespaceQuery {
        q: Some("payments-s".into()),
        sort: Some("-name".into()),
        limit: Some(2),
        ..Default::default()
    };
    let mut names = Vec::new();
    loop {
        let page = namespaces::list(&w.app, &w.dev, query.clone())
            .await
            .unwrap();
        names.extend(page.items.into_iter().map(|n| n.name));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "payments-se",
            "payments-sd",
            "payments-sc",
            "payments-sb",
            "payments-sa"
        ]
    );

    let requested = |sort: &str| {
        let mut query = RequestQuery {
            q: Some("payments-s".into()),
            sort: Some(sort.into()),
            limit: Some(2),
            ..Default::default()
        };
        let app = w.app.clone();
        let dev = w.dev.clone();
        async move {
            let mut names = Vec::new();
            loop {
                let page = requests::list(&app, &dev, query.clone()).await.unwrap();
                names.extend(page.items.into_iter().map(|r| r.namespace));
                match page.next_cursor {
                    Some(cursor) => query.cursor = Some(cursor),
                    None => break names,
                }
            }
        }
    };
    assert_eq!(
        requested("namespace").await,
        [
            "payments-sa",
            "payments-sb",
            "payments-sc",
            "payments-sd",
            "payments-se"
        ]
    );
    assert_eq!(
        requested("created").await,
        [
            "payments-sc",
            "payments-sa",
            "payments-se",
            "payments-sb",
            "payments-sd"
        ]
    );
    assert_eq!(
        requested("-created").await,
        [
            "payments-sd",
            "payments-sb",
            "payments-se",
            "payments-sa",
            "payments-sc"
        ]
    );

    // Every column sorts both ways.
    for column in namespaces::SORT_COLUMNS {
        for sort in [column.to_owned(), format!("-{column}")] {
            let page = namespaces::list(
                &w.app,
                &w.dev,
                NamespaceQuery {
                    q: Some("payments-s".into()),
                    sort: Some(sort.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{sort}: {e:?}"));
            assert_eq!(page.items.len(), 5, "{sort}");
        }
    }
    for column in requests::SORT_COLUMNS {
        for sort in [column.to_owned(), format!("-{column}")] {
            assert_eq!(requested(&sort).await.len(), 5, "{sort}");
        }
    }

    // An unknown column, or a cursor of another order, is refused by field.
    let f = fields(
        namespaces::list(
            &w.app,
            &w.dev,
            NamespaceQuery {
                sort: Some("colour".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f["sort"].contains("name, cluster, team"), "{f:?}");
    let f = fields(
        requests::list(
            &w.app,
            &w.dev,
            RequestQuery {
                sort: Some("-team".into()),
                cursor: Some("1700000000000000000_7b0c3a4e-0000-4000-8000-000000000000".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert!(f.contains_key("cursor"), "{f:?}");
}
