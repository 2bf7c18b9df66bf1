//! The Helm chart's ClusterRole grants exactly what Berth asks of a cluster. The simulator
//! records every (API group, resource, verb) a client uses; this test drives every flow that
//! touches a cluster — inventory sync, provisioning, usage and drift checks, re-apply, quota
//! changes, decommissioning, restore drills with a fresh backup, readiness checks — and
//! compares what was used with `deploy/helm/berth/templates/clusterrole.yaml`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use berth::jobs;
use berth::{
    drills,
    tenancy::{namespaces, requests},
    App,
};
use berth_frontend::api::{ClassQuota, Decision, Decommission, NewDrill, QuotaChange, SpecChoice};
use common::*;
use serde_json::json;
use sqlx::PgPool;

async fn advance(app: &App) {
    for _ in 0..40 {
        let ran = jobs::drain(app).await.unwrap();
        let due = sqlx::query!(
            "UPDATE jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()"
        )
        .execute(&app.db)
        .await
        .unwrap()
        .rows_affected();
        if ran == 0 && due == 0 {
            return;
        }
    }
}

type Rule = (String, String, String); // (group, resource, verb)

/// The rules of the chart's ClusterRole, one (group, resource, verb) each.
fn chart_rules() -> BTreeSet<Rule> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/helm/berth/templates/clusterrole.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let role = text
        .split("\n---")
        .find(|doc| doc.contains("kind: ClusterRole\n"))
        .unwrap();
    // Template lines ({{ … }}) are metadata only; the rules are plain YAML.
    let plain: String = role
        .lines()
        .filter(|l| !l.contains("{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc: serde_json::Value = serde_yaml_ng::from_str(&plain).unwrap();
    let mut out = BTreeSet::new();
    for rule in doc["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    out.insert((
                        g.as_str().unwrap().into(),
                        r.as_str().unwrap().into(),
                        v.as_str().unwrap().into(),
                    ));
                }
            }
        }
    }
    out
}

fn rule(g: &str, r: &str, v: &str) -> Rule {
    (g.into(), r.into(), v.into())
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_cluster_role_grants_exactly_what_the_code_uses(db: PgPool) {
    let (app, fleet) = demo_world(db).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    let (cluster, name) = ("prod-shanghai-1", "payments-api");
    // The cluster's layer (online) writes a default PriorityClass.
    let layer = |class: &str, value: &str| berth_frontend::api::LayerGuardrailsInput {
        pod_security_enforce: "privileged".into(),
        pod_security_warn: "privileged".into(),
        pod_security_audit: "privileged".into(),
        require_resources: "off".into(),
        require_probes: "off".into(),
        forbid_latest: "off".into(),
        forbid_privileged: "off".into(),
        priority_class: class.into(),
        priority_value: value.into(),
    };
    berth::tenancy::guardrails::update_layer(&app, &admin, "online", layer("online-high", "1000"))
        .await
        .unwrap();

    let mut input = request(cluster, name, "general", "S");
    input.spec.storage_classes = Some(vec![ClassQuota {
        name: "gp3".into(),
        storage: "10Gi".into(),
        persistentvolumeclaims: 2,
    }]);
    request_approved(&app, &dev, &admin, input).await;
    advance(&app).await;
    namespaces::check_now(&app, &admin, cluster).await.unwrap();
    namespaces::get(&app, &dev, cluster, name).await.unwrap();
    namespaces::reapply(&app, &admin, cluster, name)
        .await
        .unwrap();
    advance(&app).await;
    let change = requests::quota_change(
        &app,
        &dev,
        cluster,
        name,
        QuotaChange {
            purpose: "more".into(),
            spec: SpecChoice {
                preset: Some("M".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    requests::approve(&app, &admin, change.request.id, Decision::default())
        .await
        .unwrap();
    advance(&app).await;

    // A restore drill that takes a fresh backup (the test plays Velero), and a readiness check.
    let sim = fleet.cluster(cluster).unwrap();
    let drill = drills::start(
        &app,
        &dev,
        cluster,
        name,
        NewDrill {
            kind: "restore".into(),
            create_backup: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    advance(&app).await;
    let taking = drills::get(&app, &dev, drill.id).await.unwrap();
    let backup = taking
        .backup_name
        .clone()
        .expect("a fresh backup was asked for");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(sim.set_status(
        "backups",
        Some("velero"),
        &backup,
        json!({"phase": "Completed", "startTimestamp": now, "completionTimestamp": now})
    ));
    advance(&app).await;
    let running = drills::get(&app, &dev, drill.id).await.unwrap();
    let restore = running.restore_name.clone().expect("a restore was created");
    assert!(sim.set_status(
        "restores",
        Some("velero"),
        &restore,
        json!({"phase": "Completed"})
    ));
    advance(&app).await;
    let readiness = drills::start(
        &app,
        &dev,
        cluster,
        name,
        NewDrill {
            kind: "readiness".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    advance(&app).await;
    assert!(drills::get(&app, &dev, readiness.id)
        .await
        .unwrap()
        .finished_at
        .is_some());

    // Renaming the layer's class removes the old one and its policy (a prune job); so does
    // the sync for the policies of a pool that has left the cluster.
    assert!(sim.get("priorityclasses", None, "online-high").is_some());
    assert!(sim
        .get(
            "mutatingadmissionpolicies",
            None,
            "berth-priority-online-high"
        )
        .is_some());
    berth::tenancy::guardrails::update_layer(
        &app,
        &admin,
        "online",
        layer("online-higher", "2000"),
    )
    .await
    .unwrap();
    advance(&app).await;
    assert!(sim.get("priorityclasses", None, "online-high").is_none());
    assert!(sim
        .get(
            "mutatingadmissionpolicybindings",
            None,
            "berth-priority-online-high"
        )
        .is_none());
    assert!(sim.get("priorityclasses", None, "online-higher").is_some());
    let cluster_id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster)
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (plural, kind) in [
        ("validatingadmissionpolicies", "ValidatingAdmissionPolicy"),
        (
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
        ),
    ] {
        let spec = if kind.ends_with("Binding") {
            json!({"policyName": "berth-pool-retired", "validationActions": ["Deny"]})
        } else {
            json!({"validations": [{"expression": "true"}]})
        };
        sim.create(
            plural,
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
                   "metadata": {"name": "berth-pool-retired", "labels": {"app.kubernetes.io/managed-by": "berth"}},
                   "spec": spec}),
        )
        .unwrap();
        sqlx::query!(
            "INSERT INTO cluster_objects (cluster_id, kind, name, digest) VALUES ($1, $2, 'berth-pool-retired', 'applied')",
            cluster_id,
            kind
        )
        .execute(&app.db)
        .await
        .unwrap();
    }
    berth::fleet::sync_now(&app, &admin, cluster).await.unwrap();
    advance(&app).await;
    assert!(sim
        .get("validatingadmissionpolicies", None, "berth-pool-retired")
        .is_none());
    assert!(sim
        .get(
            "validatingadmissionpolicybindings",
            None,
            "berth-pool-retired"
        )
        .is_none());

    // Kyverno chosen for the cluster (the demo's prod-shanghai-1 serves its policies): the
    // namespace is applied again with Kyverno's pool policies, which the drift check reads and
    // the sync lists; chosen away again, they are removed.
    let engine = |word: &str| berth_frontend::api::ClusterUpdate {
        policy_engine: Some(word.into()),
        ..Default::default()
    };
    berth::fleet::update(&app, &admin, cluster, engine("kyverno"))
        .await
        .unwrap();
    advance(&app).await;
    assert!(sim
        .get("validatingpolicies", None, "berth-pool-general")
        .is_some());
    namespaces::check_now(&app, &admin, cluster).await.unwrap();
    berth::fleet::sync_now(&app, &admin, cluster).await.unwrap();
    berth::fleet::update(&app, &admin, cluster, engine("kubernetes"))
        .await
        .unwrap();
    advance(&app).await;
    assert!(sim
        .get("validatingpolicies", None, "berth-pool-general")
        .is_none());
    assert!(sim
        .get("mutatingpolicies", None, "berth-pool-general")
        .is_none());

    let gone = requests::decommission(
        &app,
        &dev,
        cluster,
        name,
        Decommission {
            confirm: name.into(),
            purpose: "done".into(),
        },
    )
    .await
    .unwrap();
    requests::approve(&app, &admin, gone.request.id, Decision::default())
        .await
        .unwrap();
    advance(&app).await;

    let mut used: BTreeSet<Rule> = BTreeSet::new();
    for c in fleet.clusters() {
        used.extend(c.requests_seen());
    }
    // Server-side apply of an object that does not exist yet is authorized as create too.
    let applied: Vec<Rule> = used
        .iter()
        .filter(|(_, _, v)| v == "patch")
        .cloned()
        .collect();
    for (g, r, _) in applied {
        used.insert(rule(&g, &r, "create"));
    }
    // Kubernetes' escalation checks: binding the `edit` ClusterRole and the deployer Role,
    // and writing the deployer Role, need these, though no request uses them as verbs (the
    // real authorizer in tests/kubernetes.rs proves they are needed and enough).
    used.insert(rule("rbac.authorization.k8s.io", "clusterroles", "bind"));
    used.insert(rule("rbac.authorization.k8s.io", "roles", "bind"));
    used.insert(rule("rbac.authorization.k8s.io", "roles", "escalate"));

    let granted = chart_rules();
    let missing: Vec<&Rule> = used.difference(&granted).collect();
    let unused: Vec<&Rule> = granted.difference(&used).collect();
    let by_resource = |rules: &BTreeSet<Rule>| {
        let mut m: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (g, r, v) in rules {
            m.entry((g.clone(), r.clone())).or_default().push(v.clone());
        }
        m
    };
    assert!(
        missing.is_empty() && unused.is_empty(),
        "the chart's ClusterRole must equal what the code uses.\nmissing: {missing:?}\nunused: {unused:?}\nused: {:#?}",
        by_resource(&used)
    );
}
