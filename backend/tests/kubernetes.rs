//! Berth against real Kubernetes: the clusters `bash scripts/test` starts from
//! `testplane/` (kube-apiserver with RBAC and the default admission plugins,
//! kube-controller-manager, kube-scheduler, kwok nodes). Berth connects as a ServiceAccount
//! holding exactly the Helm chart's ClusterRole, so every flow here also proves the chart
//! grants enough. What a real controller does (quota accounting, LimitRange defaulting,
//! namespace finalisation, scheduling) is never played by the test.

mod common;

use std::collections::BTreeMap;

use berth::tenancy::{namespaces, requests};
use berth_frontend::api::{
    ClassQuota, ClusterUpdate, Decision, Decommission, NewNamespaceRequest, PinMechanism,
    PinVerdict, PinningProof, ProbeKind, ProbeOutcome, RequestState, Verdict,
};
use common::{real::*, *};
use k8s_openapi::api::{
    core::v1::{LimitRange, Namespace, PersistentVolumeClaim, Pod, ResourceQuota, ServiceAccount},
    networking::v1::NetworkPolicy,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    api::{Api, ListParams, Patch, PatchParams, PostParams},
    Client,
};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn request_state(w: &Real, id: Uuid) -> RequestState {
    requests::get(&w.app, &w.admin, id)
        .await
        .unwrap()
        .request
        .state
}

/// `input`, approved by the admin when no policy approved it, carried out until ready.
async fn provisioned(w: &Real, input: NewNamespaceRequest) -> Uuid {
    let created = requests::create(&w.app, &w.dev, input).await.unwrap();
    let id = created.request.id;
    if created.request.state == "pending" {
        requests::approve(&w.app, &w.admin, id, Decision::default())
            .await
            .unwrap();
    }
    run_jobs_until(&w.app, "the request to be ready", || async {
        let detail = requests::get(&w.app, &w.admin, id).await.unwrap();
        assert!(
            detail.request.state != "failed" || detail.request.last_error.is_none(),
            "provisioning failed on a real cluster: {:?} {:?}",
            detail.request.last_error,
            detail.objects
        );
        detail.request.state == "ready"
    })
    .await;
    id
}

fn resource_versions(items: Vec<(String, Option<String>)>) -> BTreeMap<String, Option<String>> {
    items.into_iter().collect()
}

/// The ten objects of a namespace and its pool's policies as the real API server holds them:
/// kind/name → version.
async fn live_versions(client: &Client, ns: &str) -> BTreeMap<String, Option<String>> {
    let mut out = vec![(
        "Namespace".to_owned(),
        Api::<Namespace>::all(client.clone())
            .get(ns)
            .await
            .unwrap()
            .metadata
            .resource_version,
    )];
    macro_rules! each {
        ($kind:ty, $label:expr, $($name:expr),+) => {
            $(
                let o = Api::<$kind>::namespaced(client.clone(), ns).get($name).await
                    .unwrap_or_else(|e| panic!("{} {}: {e}", $label, $name));
                out.push((format!("{}/{}", $label, $name), o.metadata.resource_version));
            )+
        };
    }
    each!(ResourceQuota, "ResourceQuota", "berth-quota");
    each!(LimitRange, "LimitRange", "berth-limits");
    each!(
        NetworkPolicy,
        "NetworkPolicy",
        "default-deny",
        "allow-dns",
        "allow-same-namespace"
    );
    each!(RoleBinding, "RoleBinding", "team-edit", "deployer");
    each!(ServiceAccount, "ServiceAccount", "deployer");
    each!(Role, "Role", "deployer");
    // The pool's policies, shared by the pool's namespaces: a re-apply leaves them alone too.
    for kind in [
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ] {
        let gvk = kube::api::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
        let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
        let ar = kube::discovery::ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api = Api::<kube::api::DynamicObject>::all_with(client.clone(), &ar);
        let o = api
            .get("berth-pool-general")
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        out.push((kind.to_owned(), o.metadata.resource_version));
    }
    resource_versions(out)
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn every_object_is_applied_a_reapply_changes_nothing_and_drift_is_put_right(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let name = unique("payments", "apply");
    let mut input = request(&cluster, &name, &pool, "S");
    input.spec.storage_classes = Some(vec![ClassQuota {
        name: "gp3".into(),
        storage: "10Gi".into(),
        persistentvolumeclaims: 2,
    }]);
    let id = provisioned(&w, input).await;
    let detail = requests::get(&w.app, &w.dev, id).await.unwrap();
    // Ten in the namespace, the pool's Mutating- and ValidatingAdmissionPolicy with their
    // bindings (real-east-1 is a stock 1.36), and the workload standards' sixteen.
    assert_eq!(detail.objects.len(), 30);
    assert!(
        detail.objects.iter().all(|o| o.outcome == "applied"),
        "{:?}",
        detail.objects
    );

    let admin = w.admin_client(&cluster).await;
    let before = live_versions(&admin, &name).await;
    let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &name)
        .get("berth-quota")
        .await
        .unwrap();
    let hard = quota.spec.unwrap().hard.unwrap();
    assert_eq!(hard["requests.cpu"].0, "2");
    assert_eq!(
        hard["gp3.storageclass.storage.k8s.io/requests.storage"].0,
        "10Gi"
    );
    assert_eq!(
        hard["high-iops-ssd.storageclass.storage.k8s.io/requests.storage"].0,
        "0"
    );

    // The same objects again: the server changes nothing, not even a resourceVersion.
    namespaces::reapply(&w.app, &w.admin, &cluster, &name)
        .await
        .unwrap();
    run_jobs_until(&w.app, "the re-apply", || async {
        request_state(&w, id).await == RequestState::Ready
            && sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM jobs WHERE state <> 'done'")
                .fetch_one(&w.app.db)
                .await
                .unwrap()
                == 0
    })
    .await;
    assert_eq!(live_versions(&admin, &name).await, before);

    // Another field manager changes a limit Berth owns: the drift check says where, and a
    // re-apply takes the field back.
    Api::<ResourceQuota>::namespaced(admin.clone(), &name)
        .patch(
            "berth-quota",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "berth-quota"},
                "spec": {"hard": {"pods": "99"}},
            })),
        )
        .await
        .unwrap();
    namespaces::check_now(&w.app, &w.admin, &cluster)
        .await
        .unwrap();
    let ns = namespaces::get(&w.app, &w.dev, &cluster, &name)
        .await
        .unwrap()
        .namespace;
    let drift = ns.drift.expect("checked");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].kind, "ResourceQuota");
    // Where, and what Berth wants beside what the cluster has.
    assert_eq!(drift[0].differences.len(), 1, "{drift:?}");
    assert!(
        drift[0].differences[0].starts_with("/spec/hard/pods: ")
            && drift[0].differences[0].ends_with(" → 99"),
        "{drift:?}"
    );
    namespaces::reapply(&w.app, &w.admin, &cluster, &name)
        .await
        .unwrap();
    run_jobs_until(&w.app, "the re-apply to restore pods", || async {
        let q = Api::<ResourceQuota>::namespaced(admin.clone(), &name)
            .get("berth-quota")
            .await
            .unwrap();
        q.spec.unwrap().hard.unwrap()["pods"].0 == "20"
    })
    .await;
    namespaces::check_now(&w.app, &w.admin, &cluster)
        .await
        .unwrap();
    let ns = namespaces::get(&w.app, &w.dev, &cluster, &name)
        .await
        .unwrap()
        .namespace;
    assert_eq!(ns.drift, Some(vec![]));
}

/// A pod of one container; `resources` None leaves requests and limits to the LimitRange.
fn pod(name: &str, resources: Option<serde_json::Value>) -> Pod {
    let mut container = json!({"name": "app", "image": "registry.invalid/app:1.0"});
    if let Some(r) = resources {
        container["resources"] = r;
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "checkout"}},
        "spec": {"containers": [container]},
    }))
    .unwrap()
}

/// Creates `p` as cluster-admin (admission still applies to it), retrying while the
/// namespace's default ServiceAccount is still being made by its controller.
async fn create_pod(client: &Client, ns: &str, p: &Pod) -> Result<Pod, kube::Error> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns);
    until("the namespace's default ServiceAccount", || async {
        match pods.create(&PostParams::default(), p).await {
            Err(kube::Error::Api(s)) if s.message.contains("serviceaccount") => None,
            other => Some(other),
        }
    })
    .await
}

fn refused_for_quota(result: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("exceeded quota") => {
            s.message
        }
        other => panic!("expected 403 exceeded quota, got {other:?}"),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_real_server_enforces_the_quota_and_limit_range_berth_writes(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let name = unique("payments", "quota");
    let mut input = request(&cluster, &name, &pool, "S");
    input.spec.preset = None;
    input.spec.quota = Some(berth_frontend::api::QuotaSpec {
        requests_cpu: "1".into(),
        requests_memory: "1Gi".into(),
        limits_cpu: "2".into(),
        limits_memory: "2Gi".into(),
        pods: 3,
        services: 1,
        persistentvolumeclaims: 2,
        requests_storage: "10Gi".into(),
        other: Default::default(),
    });
    input.spec.limits = Some(berth_frontend::api::LimitSpec {
        default_request_cpu: "100m".into(),
        default_request_memory: "128Mi".into(),
        default_limit_cpu: "500m".into(),
        default_limit_memory: "512Mi".into(),
        min_cpu: "10m".into(),
        min_memory: "16Mi".into(),
        max_cpu: "1".into(),
        max_memory: "1Gi".into(),
        max_limit_request_ratio_cpu: Some("10".into()),
        max_limit_request_ratio_memory: Some("4".into()),
    });
    input.spec.storage_classes = Some(vec![ClassQuota {
        name: "gp3".into(),
        storage: "5Gi".into(),
        persistentvolumeclaims: 1,
    }]);
    provisioned(&w, input).await;
    let admin = w.admin_client(&cluster).await;

    // A pod that says nothing about resources gets the LimitRange's defaults.
    let first = create_pod(&admin, &name, &pod("defaulted", None))
        .await
        .unwrap();
    let resources = first.spec.unwrap().containers[0].resources.clone().unwrap();
    let (requests, limits) = (resources.requests.unwrap(), resources.limits.unwrap());
    assert_eq!(requests["cpu"].0, "100m");
    assert_eq!(requests["memory"].0, "128Mi");
    assert_eq!(limits["cpu"].0, "500m");
    assert_eq!(limits["memory"].0, "512Mi");

    // Above the LimitRange's maximum: refused by the LimitRanger.
    let too_big = create_pod(
        &admin,
        &name,
        &pod(
            "too-big",
            Some(json!({"requests": {"cpu": "2"}, "limits": {"cpu": "2"}})),
        ),
    )
    .await;
    assert!(
        matches!(&too_big, Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("maximum cpu usage")),
        "{too_big:?}"
    );

    // The quota holds three pods; the fourth is refused.
    for n in 2..=3 {
        create_pod(&admin, &name, &pod(&format!("app-{n}"), None))
            .await
            .unwrap();
    }
    let message = refused_for_quota(create_pod(&admin, &name, &pod("app-4", None)).await);
    assert!(message.contains("pods"), "{message}");

    // Claims: a class outside the allow-list has a quota of 0; the allowed class admits its one claim.
    let claim = |class: &str, n: u32| -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": format!("data-{class}-{n}")},
            "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}},
        }))
        .unwrap()
    };
    let claims = Api::<PersistentVolumeClaim>::namespaced(admin.clone(), &name);
    let message = refused_for_quota(
        claims
            .create(&PostParams::default(), &claim("high-iops-ssd", 1))
            .await,
    );
    assert!(message.contains("high-iops-ssd.storageclass"), "{message}");
    claims
        .create(&PostParams::default(), &claim("gp3", 1))
        .await
        .unwrap();
    refused_for_quota(
        claims
            .create(&PostParams::default(), &claim("gp3", 2))
            .await,
    );

    // kube-scheduler binds the pods to kwok's nodes of an untainted pool, and kwok runs them.
    let pods = Api::<Pod>::namespaced(admin.clone(), &name);
    let placed = until("the pods to be scheduled and running", || async {
        let list = pods.list(&ListParams::default()).await.unwrap();
        let running: Vec<String> = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
            .collect();
        (running.len() == 3).then_some(running)
    })
    .await;
    assert!(
        placed.iter().all(|n| !n.contains("-spot-")),
        "no toleration, so never on the tainted pool: {placed:?}"
    );

    // What Berth shows as used is the real resourcequota controller's status.
    let usage = until("Berth to show the quota's usage", || async {
        let detail = namespaces::get(&w.app, &w.dev, &cluster, &name)
            .await
            .unwrap();
        detail
            .namespace
            .usage
            .filter(|u| u.used.get("pods").map(String::as_str) == Some("3"))
    })
    .await;
    assert_eq!(usage.used["requests.cpu"], "300m");
    assert_eq!(usage.used["limits.memory"], "1536Mi");
    assert_eq!(usage.used["persistentvolumeclaims"], "1");
    assert_eq!(
        usage.used["gp3.storageclass.storage.k8s.io/requests.storage"],
        "1Gi"
    );
    assert_eq!(usage.used_amounts.cpu_millis, 300);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn decommission_waits_for_the_namespace_controller_and_frees_the_name(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let name = unique("payments", "gone");
    provisioned(&w, request(&cluster, &name, &pool, "S")).await;
    let admin = w.admin_client(&cluster).await;
    // Content the namespace controller has to delete before the namespace can go.
    create_pod(&admin, &name, &pod("leftover", None))
        .await
        .unwrap();

    let gone = requests::decommission(
        &w.app,
        &w.dev,
        &cluster,
        &name,
        Decommission {
            confirm: name.clone(),
            purpose: "retired".into(),
        },
    )
    .await
    .unwrap();
    requests::approve(&w.app, &w.admin, gone.request.id, Decision::default())
        .await
        .unwrap();
    run_jobs_until(&w.app, "the decommission to finish", || async {
        request_state(&w, gone.request.id).await == RequestState::Ready
    })
    .await;
    let namespaces_api = Api::<Namespace>::all(admin.clone());
    assert!(
        namespaces_api.get_opt(&name).await.unwrap().is_none(),
        "Berth said done only once the cluster had finalised the namespace"
    );
    let ns = sqlx::query_scalar!("SELECT state FROM namespaces WHERE name = $1", name)
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(ns, "decommissioned");

    // The name is free again, and a new namespace of that name is provisioned.
    provisioned(&w, request(&cluster, &name, &pool, "S")).await;
    assert!(namespaces_api.get_opt(&name).await.unwrap().is_some());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn inventory_reads_pools_zones_taints_and_free_capacity_from_kwok_nodes(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let east = berth::fleet::get(&w.app, &w.admin, "real-east-1")
        .await
        .unwrap();
    let inventory = east.cluster.inventory.clone().expect("synced");
    assert_eq!(inventory.kubernetes_version.as_deref(), Some("v1.36.3"));
    assert_eq!((inventory.node_count, inventory.ready_node_count), (7, 6));
    let pool = |name: &str| {
        east.cluster
            .pools
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("pool {name}: {:?}", east.cluster.pools))
            .clone()
    };
    let general = pool("general");
    assert_eq!(general.label_key, "eks.amazonaws.com/nodegroup");
    assert_eq!((general.node_count, general.ready_count), (4, 3));
    assert_eq!(
        general.zones,
        vec!["cn-east-2a", "cn-east-2b", "cn-east-2c"]
    );
    assert_eq!(general.instance_types, vec!["m6i.2xlarge"]);
    assert_eq!(general.common_labels["workload"], "online");
    assert!(general.taints.is_empty());
    let spot = pool("spot");
    assert_eq!(spot.node_count, 2);
    assert_eq!(spot.taints.len(), 1);
    assert_eq!(spot.taints[0].key, "workload");
    assert_eq!(spot.taints[0].value.as_deref(), Some("spot"));
    assert_eq!(spot.taints[0].effect, "NoSchedule");
    assert_eq!(spot.allocatable.cpu_millis, 2 * 15890);
    assert_eq!(spot.allocatable.memory_bytes, 2 * (30 << 30));
    assert!(spot.extended.is_empty());
    // The GPU node's extended resource, as the device plugin would advertise it.
    let gpu = pool("gpu");
    assert_eq!(gpu.extended.len(), 1);
    assert_eq!(
        (gpu.extended[0].name.as_str(), gpu.extended[0].allocatable),
        ("nvidia.com/gpu", 4)
    );
    let classes: Vec<(String, bool)> = east
        .storage_classes
        .iter()
        .map(|c| (c.name.clone(), c.is_default))
        .collect();
    assert_eq!(
        classes,
        vec![
            ("gp3".to_owned(), true),
            ("high-iops-ssd".to_owned(), false)
        ]
    );
    assert!(inventory.velero_installed);

    // Headroom from each node's allocatable less the requests of the pods kwok runs there.
    let headroom = berth::capacity::headroom(
        &w.app,
        &w.dev,
        "real-east-1",
        berth_frontend::api::ShapeQuery {
            cpu: Some("1".into()),
            memory: Some("1Gi".into()),
        },
    )
    .await
    .unwrap();
    let spot = headroom.pools.iter().find(|p| p.pool == "spot").unwrap();
    // Nothing runs on the tainted pool: 15 one-core pods on each of its two nodes.
    assert_eq!((spot.nodes, spot.fits), (2, 30));
    let general = headroom.pools.iter().find(|p| p.pool == "general").unwrap();
    // Two load pods of 1 core / 2 Gi run on each ready node (other tests add their own),
    // so each of the three ready nodes takes at most five more; the fourth is not ready.
    assert_eq!(general.nodes, 4);
    assert!(general.fits <= 15, "{general:?}");
}

fn velero_api(client: &Client, kind: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("velero.io", "v1", kind);
    let resource = kube::discovery::ApiResource::from_gvk(&gvk);
    Api::namespaced_with(client.clone(), "velero", &resource)
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn drill(w: &Real, id: Uuid) -> berth_frontend::api::Drill {
    berth::drills::get(&w.app, &w.dev, id).await.unwrap()
}

/// Waits until the real resourcequota controller counts `key` of the namespace's quota: until
/// then quota admission refuses everything it limits as "status unknown".
async fn quota_counted(client: &Client, ns: &str, key: &str) {
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns);
    until(
        "the resourcequota controller to count the quota",
        || async {
            let q = quotas.get("berth-quota").await.ok()?;
            q.status?.used?.contains_key(key).then_some(())
        },
    )
    .await
}

/// Quota keys beyond CPU, memory and storage, on the real server: a GPU pool's namespace gets
/// its `requests.nvidia.com/gpu`, object counts and load balancers, and the quota admission
/// plugin enforces each; a namespace of another pool gets 0 GPUs; asking for GPUs on a pool
/// whose nodes have none is refused before anything is stored; the scheduler puts the GPU
/// pod on the GPU node.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn any_quota_key_is_applied_and_enforced_and_gpus_go_only_to_gpu_pools(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, general) = w.primary();
    let gpu_pool = "gpu";
    let quota = |other: &[(&str, &str)]| berth_frontend::api::QuotaSpec {
        requests_cpu: "4".into(),
        requests_memory: "8Gi".into(),
        limits_cpu: "8".into(),
        limits_memory: "16Gi".into(),
        pods: 10,
        services: 2,
        persistentvolumeclaims: 2,
        requests_storage: "10Gi".into(),
        other: other
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };

    // The pool's inventory: its nodes' GPUs.
    let c = berth::fleet::get(&w.app, &w.admin, &cluster).await.unwrap();
    let pool = c.cluster.pools.iter().find(|p| p.name == gpu_pool).unwrap();
    assert_eq!(pool.extended.len(), 1, "{:?}", pool.extended);
    assert_eq!(
        (pool.extended[0].name.as_str(), pool.extended[0].allocatable),
        ("nvidia.com/gpu", 4)
    );

    // GPUs on a pool without them: refused, naming the key and the pool that has them.
    let mut wrong = request(&cluster, &unique("payments", "nogpu"), &general, "S");
    wrong.spec.quota = Some(quota(&[("requests.nvidia.com/gpu", "1")]));
    match requests::create(&w.app, &w.dev, wrong).await {
        Err(berth::Error::Invalid(fields)) => {
            let m = &fields["quota.other[requests.nvidia.com/gpu]"];
            assert!(m.contains("gpu") && m.contains(&general), "{m}");
        }
        other => panic!("expected a field error, got {other:?}"),
    }

    let name = unique("payments", "train");
    let mut input = request(&cluster, &name, gpu_pool, "S");
    input.spec.quota = Some(quota(&[
        ("requests.nvidia.com/gpu", "2"),
        ("count/deployments.apps", "1"),
        ("services.loadbalancers", "0"),
        ("requests.ephemeral-storage", "20Gi"),
    ]));
    provisioned(&w, input).await;
    let admin = w.admin_client(&cluster).await;
    let hard = Api::<ResourceQuota>::namespaced(admin.clone(), &name)
        .get("berth-quota")
        .await
        .unwrap()
        .spec
        .unwrap()
        .hard
        .unwrap();
    assert_eq!(hard["requests.nvidia.com/gpu"].0, "2");
    assert_eq!(hard["count/deployments.apps"].0, "1");
    assert_eq!(hard["services.loadbalancers"].0, "0");
    assert_eq!(hard["requests.ephemeral-storage"].0, "20Gi");
    quota_counted(&admin, &name, "count/deployments.apps").await;
    let c = berth::fleet::get(&w.app, &w.admin, &cluster).await.unwrap();
    let pool = c.cluster.pools.iter().find(|p| p.name == gpu_pool).unwrap();
    assert!(pool.extended[0].committed >= 2, "{:?}", pool.extended);

    let gpus = |n: u32| {
        Some(
            json!({"requests": {"nvidia.com/gpu": n.to_string()}, "limits": {"nvidia.com/gpu": n.to_string()}}),
        )
    };
    let message = refused_for_quota(create_pod(&admin, &name, &pod("greedy", gpus(3))).await);
    assert!(message.contains("requests.nvidia.com/gpu"), "{message}");
    create_pod(&admin, &name, &pod("trainer", gpus(1)))
        .await
        .unwrap();
    // The scheduler binds it to the GPU node (pinning put it on the pool, and the node has GPUs).
    let pods = Api::<Pod>::namespaced(admin.clone(), &name);
    let node = until("the GPU pod to be scheduled", || async {
        pods.get("trainer")
            .await
            .ok()
            .and_then(|p| p.spec.and_then(|s| s.node_name))
    })
    .await;
    let node = Api::<k8s_openapi::api::core::v1::Node>::all(admin.clone())
        .get(&node)
        .await
        .unwrap();
    assert_eq!(
        node.metadata.labels.unwrap()["eks.amazonaws.com/nodegroup"],
        gpu_pool
    );

    // One Deployment is allowed, a second is refused; no load balancer at all.
    let deployments =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(admin.clone(), &name);
    deployments
        .create(&PostParams::default(), &deployment("first", 0, false))
        .await
        .unwrap();
    let message = refused_for_quota(
        deployments
            .create(&PostParams::default(), &deployment("second", 0, false))
            .await,
    );
    assert!(message.contains("count/deployments.apps"), "{message}");
    let lb: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "public"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]},
    }))
    .unwrap();
    let message = refused_for_quota(
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(admin.clone(), &name)
            .create(&PostParams::default(), &lb)
            .await,
    );
    assert!(message.contains("services.loadbalancers"), "{message}");

    // A namespace that asks for no GPU gets a GPU quota of 0 on a cluster that has them.
    let plain = unique("payments", "plain");
    provisioned(&w, request(&cluster, &plain, &general, "S")).await;
    let hard = Api::<ResourceQuota>::namespaced(admin.clone(), &plain)
        .get("berth-quota")
        .await
        .unwrap()
        .spec
        .unwrap()
        .hard
        .unwrap();
    assert_eq!(hard["requests.nvidia.com/gpu"].0, "0");
    quota_counted(&admin, &plain, "requests.nvidia.com/gpu").await;
    let message = refused_for_quota(create_pod(&admin, &plain, &pod("sneaky", gpus(1))).await);
    assert!(message.contains("requests.nvidia.com/gpu"), "{message}");
}

/// A Deployment of `replicas` pods the real controllers make ready on kwok's nodes.
fn deployment(name: &str, replicas: i32, spread: bool) -> k8s_openapi::api::apps::v1::Deployment {
    let mut spec = json!({
        "containers": [{"name": "app", "image": "registry.invalid/app:1.0"}],
    });
    if spread {
        spec["topologySpreadConstraints"] = json!([{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": name}},
        }]);
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }))
    .unwrap()
}

/// A restore drill to the DR pair against Velero's real CRDs. The test plays Velero (no
/// Velero server runs): it completes the Backup Berth creates, syncs it to the pair, and
/// restores a Deployment into the scratch namespace, which the real deployment controller,
/// scheduler and kwok make ready. Berth then measures RTO and RPO and cleans up.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_restore_drill_runs_against_real_velero_crds_and_real_workloads(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let pair = w.fleet.clusters[0].dr_pair.clone().expect("a DR pair");
    let name = unique("payments", "drill");
    provisioned(&w, request(&cluster, &name, &pool, "S")).await;
    let source = w.admin_client(&cluster).await;
    let target = w.admin_client(&pair).await;

    let started = berth::drills::start(
        &w.app,
        &w.dev,
        &cluster,
        &name,
        berth_frontend::api::NewDrill {
            kind: "restore".into(),
            target: Some("dr_pair".into()),
            create_backup: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let id = started.id;
    run_jobs_until(&w.app, "Berth to create the Backup", || async {
        drill(&w, id).await.backup_name.is_some()
    })
    .await;
    let backup_name = drill(&w, id).await.backup_name.unwrap();
    // Velero: the backup completes where it was taken and syncs to the pair's bucket view.
    let backups = velero_api(&source, "Backup");
    let mut backup = backups.get(&backup_name).await.expect("Berth created it");
    assert_eq!(
        backup.data["spec"]["includedNamespaces"],
        json!([name.clone()])
    );
    let now = rfc3339_now();
    backup.data["status"] =
        json!({"phase": "Completed", "startTimestamp": now, "completionTimestamp": now});
    backups
        .replace(&backup_name, &PostParams::default(), &backup)
        .await
        .unwrap();
    let mut synced = backup.clone();
    synced.metadata.resource_version = None;
    synced.metadata.uid = None;
    synced.metadata.managed_fields = None;
    velero_api(&target, "Backup")
        .create(&PostParams::default(), &synced)
        .await
        .unwrap();

    run_jobs_until(
        &w.app,
        "Berth to create the Restore on the pair",
        || async { drill(&w, id).await.step == "wait_restore" },
    )
    .await;
    let restore_name = drill(&w, id).await.restore_name.unwrap();
    let scratch = drill(&w, id).await.scratch_namespace.unwrap();
    let restores = velero_api(&target, "Restore");
    let mut restore = restores.get(&restore_name).await.unwrap();
    assert_eq!(restore.data["spec"]["backupName"], json!(backup_name));
    assert_eq!(
        restore.data["spec"]["namespaceMapping"][&name],
        json!(scratch)
    );
    // Velero restores the namespace's Deployment into the scratch namespace.
    Api::<Namespace>::all(target.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": scratch}})).unwrap(),
        )
        .await
        .unwrap();
    let restored =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(target.clone(), &scratch);
    until("the scratch namespace's ServiceAccount", || async {
        match restored
            .create(&PostParams::default(), &deployment("checkout", 2, true))
            .await
        {
            Err(kube::Error::Api(s)) if s.message.contains("serviceaccount") => None,
            other => Some(other.unwrap()),
        }
    })
    .await;
    restore.data["status"] = json!({
        "phase": "Completed", "warnings": 0, "errors": 0,
        "progress": {"itemsRestored": 3, "totalItems": 3},
    });
    restores
        .replace(&restore_name, &PostParams::default(), &restore)
        .await
        .unwrap();

    run_jobs_until(&w.app, "the drill's verdict", || async {
        drill(&w, id).await.finished_at.is_some()
    })
    .await;
    let d = drill(&w, id).await;
    assert_eq!(d.verdict, Some(Verdict::Pass), "{:?}", d.verdict_reason);
    assert_eq!(d.target_cluster.as_deref(), Some(pair.as_str()));
    assert_eq!((d.items_restored, d.items_total), (Some(3), Some(3)));
    assert!(d.rto_seconds.unwrap() > 0.0);
    assert!(d.rpo_seconds.is_some());
    let waited: Vec<&str> = d.steps.iter().map(|s| s.step.as_str()).collect();
    assert!(waited.contains(&"wait_ready"), "{waited:?}");
    // Cleanup: the scratch namespace goes through the real namespace controller.
    until("the scratch namespace to be deleted", || async {
        let ns = Api::<Namespace>::all(target.clone())
            .get_opt(&scratch)
            .await
            .unwrap();
        ns.is_none_or(|n| n.metadata.deletion_timestamp.is_some())
            .then_some(())
    })
    .await;
    assert!(restores.get_opt(&restore_name).await.unwrap().is_none());
}

/// The failover-readiness check reads real Deployments and PodDisruptionBudgets.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn readiness_checks_read_real_deployments_and_disruption_budgets(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let name = unique("payments", "ready");
    provisioned(&w, request(&cluster, &name, &pool, "S")).await;
    let admin = w.admin_client(&cluster).await;
    let deployments =
        Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(admin.clone(), &name);
    until("the namespace's ServiceAccount", || async {
        match deployments
            .create(&PostParams::default(), &deployment("web", 2, false))
            .await
        {
            Err(kube::Error::Api(s)) if s.message.contains("serviceaccount") => None,
            other => Some(other.unwrap()),
        }
    })
    .await;
    let check = |d: &berth_frontend::api::Drill, name: &str| {
        d.checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} check: {:?}", d.checks))
            .clone()
    };
    let run = || async {
        let started = berth::drills::start(
            &w.app,
            &w.dev,
            &cluster,
            &name,
            berth_frontend::api::NewDrill {
                kind: "readiness".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        run_jobs_until(&w.app, "the readiness check", || async {
            drill(&w, started.id).await.finished_at.is_some()
        })
        .await;
        drill(&w, started.id).await
    };
    let first = run().await;
    assert!(check(&first, "dr_pair").ok);
    assert!(check(&first, "pool_class").ok, "{:?}", first.checks);
    let pdb = check(&first, "pod_disruption_budgets");
    assert!(!pdb.ok && pdb.detail.contains("web"), "{pdb:?}");
    assert!(!check(&first, "zone_spread").ok);

    // The tenant spreads its Deployment (an apply: the real controllers write its status
    // meanwhile) and adds a PDB.
    deployments
        .patch(
            "web",
            &PatchParams::apply("tenant").force(),
            &Patch::Apply(deployment("web", 2, true)),
        )
        .await
        .unwrap();
    Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::namespaced(admin.clone(), &name)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let second = run().await;
    assert!(
        check(&second, "pod_disruption_budgets").ok,
        "{:?}",
        second.checks
    );
    assert!(check(&second, "zone_spread").ok);
}

mod parity {
    //! Validation parity with the real API server, over a generated corpus: every spec Berth's
    //! preview accepts, the server accepts (server-side dry-run of the ResourceQuota and
    //! LimitRange Berth would write); every spec the server refuses, Berth refuses, naming a
    //! field the server names or one the sample changed. Berth may refuse more (its own
    //! rules: limits ≥ requests, one pod fits), never less.

    use std::collections::BTreeSet;

    use berth::tenancy::objects;
    use berth_frontend::api::{
        ClassQuota, LimitSpec, NamespaceSpec, NewNamespaceRequest, QuotaSpec, SpecChoice,
    };
    use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
    use kube::{
        api::{Api, DeleteParams, Patch, PatchParams, PostParams},
        Client,
    };
    use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
    use serde_json::json;

    const CPU: &[&str] = &[
        "100m", "250m", "500m", "1", "2", "4", "8", "0.5", "1.5", ".5", "5.", "+1", "0", "10m",
        "1m", "0.0001", "100n", "1e3m", "1e-3", "2e0", "1k", "1Ki", "--1", "-1", "-100m", "+-1",
        "1.2.3", "abc", "", "1 m", "1GB", "0x10", "1e", "1mi", "1e30", "3000m", "20",
    ];
    const MEMORY: &[&str] = &[
        "16Mi", "128Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi", "16Gi", "1.5Gi", "1G",
        "500M", "1e9", "100Ki", "1Ti", "0", "+1Gi", "-1Gi", "--1Gi", "1GB", "1gi", "1.5.5Gi", "Gi",
        "1e-3", "123", "64Gi",
    ];
    const RATIO: &[Option<&str>] = &[
        None,
        Some("1"),
        Some("2"),
        Some("4"),
        Some("10"),
        Some("100"),
        Some("1000"),
        Some("0.5"),
        Some("1.5"),
        Some("-1"),
        Some("--1"),
        Some("abc"),
        Some("0"),
        Some("1e2"),
        Some("+5"),
        Some("200"),
        Some("300"),
    ];
    const COUNT: &[i64] = &[0, 1, 2, 5, 20, 100, -1, -5, 100_000, 200_000];
    /// Keys of `quota.other`: ones Berth applies, and ones the server or Berth refuses.
    const OTHER_KEYS: &[&str] = &[
        "requests.nvidia.com/gpu",
        "requests.example.com/fpga",
        "count/deployments.apps",
        "count/widgets.example.com",
        "count/Deployments",
        "services.loadbalancers",
        "services.nodeports",
        "configmaps",
        "requests.ephemeral-storage",
        "limits.ephemeral-storage",
        "requests.hugepages-2Mi",
        "nvidia.com/gpu",
        "limits.nvidia.com/gpu",
        "requests.kubernetes.io/thing",
        "requests.cpu",
        "bogus",
        "a/b/c",
    ];
    const OTHER_VALUES: &[&str] = &["0", "1", "4", "1k", "20Gi", "0.5", "500m", "-1", "lots", ""];

    pub fn base() -> NamespaceSpec {
        NamespaceSpec {
            quota: QuotaSpec {
                requests_cpu: "2".into(),
                requests_memory: "4Gi".into(),
                limits_cpu: "4".into(),
                limits_memory: "8Gi".into(),
                pods: 20,
                services: 5,
                persistentvolumeclaims: 5,
                requests_storage: "50Gi".into(),
                other: Default::default(),
            },
            limits: LimitSpec {
                default_request_cpu: "100m".into(),
                default_request_memory: "128Mi".into(),
                default_limit_cpu: "500m".into(),
                default_limit_memory: "512Mi".into(),
                min_cpu: "10m".into(),
                min_memory: "16Mi".into(),
                max_cpu: "2".into(),
                max_memory: "4Gi".into(),
                max_limit_request_ratio_cpu: Some("10".into()),
                max_limit_request_ratio_memory: Some("4".into()),
            },
            storage_classes: vec![ClassQuota {
                name: "gp3".into(),
                storage: "10Gi".into(),
                persistentvolumeclaims: 2,
            }],
        }
    }

    /// Changes one field of `s` at random; answers the Berth field it changed.
    fn mutate(rng: &mut StdRng, s: &mut NamespaceSpec) -> &'static str {
        let cpu = |rng: &mut StdRng| CPU.choose(rng).unwrap().to_string();
        let mem = |rng: &mut StdRng| MEMORY.choose(rng).unwrap().to_string();
        let ratio = |rng: &mut StdRng| RATIO.choose(rng).unwrap().map(str::to_owned);
        let count = |rng: &mut StdRng| *COUNT.choose(rng).unwrap();
        match rng.gen_range(0..20) {
            0 => {
                s.quota.requests_cpu = cpu(rng);
                "quota.requests_cpu"
            }
            1 => {
                s.quota.limits_cpu = cpu(rng);
                "quota.limits_cpu"
            }
            2 => {
                s.quota.requests_memory = mem(rng);
                "quota.requests_memory"
            }
            3 => {
                s.quota.limits_memory = mem(rng);
                "quota.limits_memory"
            }
            4 => {
                s.quota.requests_storage = mem(rng);
                "quota.requests_storage"
            }
            5 => {
                s.quota.pods = count(rng);
                "quota.pods"
            }
            6 => {
                s.quota.services = count(rng);
                "quota.services"
            }
            7 => {
                s.quota.persistentvolumeclaims = count(rng);
                "quota.persistentvolumeclaims"
            }
            8 => {
                s.limits.default_request_cpu = cpu(rng);
                "limits.default_request_cpu"
            }
            9 => {
                s.limits.default_limit_cpu = cpu(rng);
                "limits.default_limit_cpu"
            }
            10 => {
                s.limits.min_cpu = cpu(rng);
                "limits.min_cpu"
            }
            11 => {
                s.limits.max_cpu = cpu(rng);
                "limits.max_cpu"
            }
            12 => {
                s.limits.default_request_memory = mem(rng);
                "limits.default_request_memory"
            }
            13 => {
                s.limits.default_limit_memory = mem(rng);
                "limits.default_limit_memory"
            }
            14 => {
                s.limits.min_memory = mem(rng);
                "limits.min_memory"
            }
            15 => {
                s.limits.max_memory = mem(rng);
                "limits.max_memory"
            }
            16 => {
                s.limits.max_limit_request_ratio_cpu = ratio(rng);
                "limits.max_limit_request_ratio_cpu"
            }
            17 => {
                s.limits.max_limit_request_ratio_memory = ratio(rng);
                "limits.max_limit_request_ratio_memory"
            }
            18 => {
                let key = *OTHER_KEYS.choose(rng).unwrap();
                let value = *OTHER_VALUES.choose(rng).unwrap();
                s.quota.other.insert(key.to_owned(), value.to_owned());
                Box::leak(format!("quota.other[{key}]").into_boxed_str())
            }
            _ => {
                s.storage_classes[0].storage = mem(rng);
                "storage_classes[0].storage"
            }
        }
    }

    /// The cases the issue names, besides the generated ones.
    fn named_cases() -> Vec<(NamespaceSpec, Vec<&'static str>)> {
        let mut ratio_beyond_bounds = base();
        ratio_beyond_bounds.limits.min_cpu = "100m".into();
        ratio_beyond_bounds.limits.max_cpu = "200m".into();
        ratio_beyond_bounds.limits.default_request_cpu = "100m".into();
        ratio_beyond_bounds.limits.default_limit_cpu = "200m".into();
        ratio_beyond_bounds.limits.max_limit_request_ratio_cpu = Some("5".into());
        let mut default_above_max = base();
        default_above_max.limits.default_limit_memory = "8Gi".into();
        let mut negative = base();
        negative.quota.requests_storage = "-1Gi".into();
        let mut double_signed = base();
        double_signed.quota.requests_cpu = "--1".into();
        vec![
            (
                ratio_beyond_bounds,
                vec![
                    "limits.min_cpu",
                    "limits.max_cpu",
                    "limits.max_limit_request_ratio_cpu",
                ],
            ),
            (default_above_max, vec!["limits.default_limit_memory"]),
            (negative, vec!["quota.requests_storage"]),
            (double_signed, vec!["quota.requests_cpu"]),
        ]
    }

    /// The Berth fields a server error names: its field path, and the bounds its message
    /// compares (`default value 8Gi is greater than max value 4Gi`).
    fn berth_fields(path: &str, message: &str, spec: &NamespaceSpec) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        // `spec.limits[0].default[memory]` → `memory`
        let key = path
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.strip_suffix(']'))
            .unwrap_or_default();
        if let Some(quota_key) = path
            .strip_prefix("spec.hard[")
            .and_then(|r| r.strip_suffix(']'))
        {
            match quota_key {
                "requests.cpu"
                | "limits.cpu"
                | "requests.memory"
                | "limits.memory"
                | "pods"
                | "services"
                | "persistentvolumeclaims"
                | "requests.storage" => {
                    out.insert(format!("quota.{}", quota_key.replace('.', "_")));
                }
                other if !other.contains(".storageclass.storage.k8s.io/") => {
                    out.insert(format!("quota.other[{other}]"));
                }
                class_key => {
                    let class = class_key.split('.').next().unwrap_or_default();
                    match spec.storage_classes.iter().position(|c| c.name == class) {
                        Some(i) if class_key.ends_with("/requests.storage") => {
                            out.insert(format!("storage_classes[{i}].storage"));
                        }
                        Some(i) => {
                            out.insert(format!("storage_classes[{i}].persistentvolumeclaims"));
                        }
                        None => {
                            out.insert("storage_classes".into());
                        }
                    }
                }
            }
        }
        let resource = if key.is_empty() {
            path.rsplit('.').next().unwrap_or_default()
        } else {
            key
        };
        let mut add = |part: &str| {
            out.insert(format!("limits.{part}_{resource}"));
        };
        if path.contains(".maxLimitRequestRatio") || message.starts_with("ratio") {
            add("max_limit_request_ratio");
        }
        if path.contains(".defaultRequest") || message.contains("default request value") {
            add("default_request");
        }
        if (path.contains(".default[") && !path.contains(".defaultRequest"))
            || message.contains("default value")
            || message.contains("default limit value")
        {
            add("default_limit");
        }
        if path.contains(".min[") || message.contains("min value") || message.contains("max/min") {
            add("min");
        }
        if path.contains(".max[") || message.contains("max value") || message.contains("max/min") {
            add("max");
        }
        out
    }

    /// What the server says of `manifest`: None if it would take it, else (fields, message).
    async fn dry_run<K>(
        api: &Api<K>,
        name: &str,
        manifest: serde_json::Value,
    ) -> Option<(Vec<String>, String)>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = PatchParams::apply(objects::FIELD_MANAGER).force().dry_run();
        match api.patch(name, &params, &Patch::Apply(&manifest)).await {
            Ok(_) => None,
            Err(kube::Error::Api(status)) => {
                // Server-side apply answers a quantity it cannot parse with 500 ("unable to
                // convert unstructured object … quantity"), anything else invalid with 422.
                let unparsable = status.code == 500 && status.message.contains("quantit");
                assert!(
                    status.code == 422 || status.code == 400 || unparsable,
                    "a refusal, not an outage: {status:?}"
                );
                let fields = status
                    .details
                    .as_ref()
                    .map(|d| d.causes.iter().map(|c| c.field.clone()).collect())
                    .unwrap_or_default();
                Some((fields, status.message))
            }
            Err(other) => panic!("dry-run failed: {other}"),
        }
    }

    pub async fn run(w: &super::Real) {
        let (cluster, pool) = w.primary();
        let admin: Client = w.admin_client(&cluster).await;
        let ns = super::unique("berth-parity", "ns");
        Api::<Namespace>::all(admin.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .unwrap();
        let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &ns);
        let limits = Api::<LimitRange>::namespaced(admin.clone(), &ns);
        let classes = vec!["gp3".to_owned(), "high-iops-ssd".to_owned()];
        let gpus = vec!["nvidia.com/gpu".to_owned()];

        let seed = std::env::var("BERTH_PARITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(13_u64);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut samples = named_cases();
        for _ in 0..600 {
            let mut spec = base();
            let mut changed = Vec::new();
            for _ in 0..rng.gen_range(1..=3) {
                changed.push(mutate(&mut rng, &mut spec));
            }
            samples.push((spec, changed));
        }

        let (mut both_accept, mut both_refuse, mut only_berth) = (0, 0, 0);
        let mut wrong = Vec::new();
        for (spec, changed) in &samples {
            let input = NewNamespaceRequest {
                spec: SpecChoice {
                    quota: Some(spec.quota.clone()),
                    limits: Some(spec.limits.clone()),
                    storage_classes: Some(spec.storage_classes.clone()),
                    preset: None,
                },
                ..super::request(&cluster, "payments-parity", &pool, "S")
            };
            let berth = berth::tenancy::requests::preview(&w.app, &w.dev, input)
                .await
                .unwrap()
                .fields;
            // Berth applies what it stores: the spec with whitespace trimmed.
            let trimmed: NamespaceSpec = serde_json::from_str(
                &serde_json::to_string(spec)
                    .unwrap()
                    .replace("\" ", "\"")
                    .replace(" \"", "\""),
            )
            .unwrap();
            let meta = |name: &str| json!({"name": name, "namespace": ns});
            let server: Vec<(Vec<String>, String)> = [
                dry_run(
                    &quotas,
                    "berth-quota",
                    objects::resource_quota(meta("berth-quota"), &trimmed, &classes, &gpus),
                )
                .await,
                dry_run(
                    &limits,
                    "berth-limits",
                    objects::limit_range(meta("berth-limits"), &trimmed),
                )
                .await,
            ]
            .into_iter()
            .flatten()
            .collect();
            match (berth.is_empty(), server.is_empty()) {
                (true, true) => both_accept += 1,
                (false, true) => only_berth += 1,
                (true, false) => wrong.push(format!(
                    "Berth accepts what the server refuses: changed {changed:?}, server {server:?}\n  {spec:?}"
                )),
                (false, false) => {
                    both_refuse += 1;
                    let mut named: BTreeSet<String> = changed.iter().map(|s| s.to_string()).collect();
                    for (fields, message) in &server {
                        for f in fields {
                            named.extend(berth_fields(f, message, spec));
                        }
                    }
                    if !berth.keys().any(|k| named.contains(k)) {
                        wrong.push(format!(
                            "Berth refuses but names {:?}, the server {server:?} (changed {changed:?})",
                            berth
                        ));
                    }
                }
            }
        }
        eprintln!(
            "parity over {} specs (seed {seed}): {both_accept} accepted by both, {both_refuse} refused by both, {only_berth} refused by Berth alone",
            samples.len()
        );
        let _ = Api::<Namespace>::all(admin)
            .delete(&ns, &DeleteParams::default())
            .await;
        assert!(
            wrong.is_empty(),
            "{} of {} specs disagree:\n{}",
            wrong.len(),
            samples.len(),
            wrong
                .iter()
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            both_refuse > 50 && both_accept > 20,
            "the corpus covers both sides"
        );
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn berth_accepts_only_what_the_real_server_accepts_and_names_the_field(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    parity::run(&w).await;
}

/// The namespace's pinning proof once it is conclusive: the proof right after provisioning
/// may meet a quota whose usage the controller has not computed yet, so drift checks (which
/// prove again) run until it is.
async fn conclusive_proof(w: &Real, cluster: &str, name: &str) -> PinningProof {
    until("a conclusive pinning proof", || async {
        let proof = namespaces::get(&w.app, &w.admin, cluster, name)
            .await
            .unwrap()
            .namespace
            .pinning;
        match proof {
            Some(p) if p.verdict != PinVerdict::Inconclusive => Some(p),
            _ => {
                namespaces::check_now(&w.app, &w.admin, cluster)
                    .await
                    .unwrap();
                None
            }
        }
    })
    .await
}

fn outcome(proof: &PinningProof, kind: ProbeKind) -> ProbeOutcome {
    proof
        .probes
        .iter()
        .find(|p| p.probe == kind)
        .unwrap_or_else(|| panic!("no {kind} probe in {proof:?}"))
        .outcome
}

/// A pod of `spec` (merged into one pause container sized by the LimitRange).
fn pinned_pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"serviceAccountName": "deployer", "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    });
    for (k, v) in spec.as_object().unwrap() {
        pod["spec"][k] = v.clone();
    }
    serde_json::from_value(pod).unwrap()
}

fn refused(result: Result<Pod, kube::Error>, says: &str) -> String {
    match result {
        Err(kube::Error::Api(s)) if s.message.contains(says) => s.message,
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    }
}

/// Waits until kube-scheduler has bound the pod, and names the pool of its node.
async fn scheduled_pool(client: &Client, ns: &str, pod: &str, label: &str) -> String {
    let node = until("the pod to be scheduled", || async {
        Api::<Pod>::namespaced(client.clone(), ns)
            .get(pod)
            .await
            .unwrap()
            .spec
            .and_then(|s| s.node_name)
    })
    .await;
    let node = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .get(&node)
        .await
        .unwrap();
    node.metadata.labels.unwrap_or_default()[label].clone()
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn pinning_holds_with_what_each_cluster_serves_and_the_proof_says_where_it_does_not(
    db: PgPool,
) {
    let Some(w) = real_world(db).await else {
        return;
    };
    // Each cluster's mechanism comes from what its API server serves, read at sync.
    for (cluster, mechanism, mutating) in [
        ("real-east-1", PinMechanism::Mutating, Some("v1")),
        ("real-west-1", PinMechanism::Validating, None),
        ("real-aks-1", PinMechanism::Annotations, None),
        ("real-bare-1", PinMechanism::Annotations, None),
    ] {
        let inventory = berth::fleet::get(&w.app, &w.admin, cluster)
            .await
            .unwrap()
            .cluster
            .inventory
            .unwrap();
        assert_eq!(inventory.pinning, mechanism, "{cluster}");
        assert_eq!(
            inventory.mutating_policies.as_deref(),
            mutating,
            "{cluster}"
        );
    }

    // One namespace per cluster, on a tainted pool where the cluster has one.
    let mut names = BTreeMap::new();
    for (cluster, pool) in [
        ("real-east-1", "spot"),
        ("real-west-1", "general"),
        ("real-aks-1", "spot"),
        ("real-bare-1", "spot"),
    ] {
        let name = unique("payments", "pin");
        provisioned(&w, request(cluster, &name, pool, "S")).await;
        names.insert(cluster, name);
    }

    // The proof: what the server did with a pod lacking the selector and with a foreign
    // toleration, by server-side dry-run.
    for (cluster, unpinned, foreign, verdict) in [
        (
            "real-east-1",
            ProbeOutcome::Mutated,
            ProbeOutcome::Refused,
            PinVerdict::Enforced,
        ),
        (
            "real-west-1",
            ProbeOutcome::Refused,
            ProbeOutcome::Refused,
            PinVerdict::Enforced,
        ),
        (
            "real-aks-1",
            ProbeOutcome::Mutated,
            ProbeOutcome::Refused,
            PinVerdict::Enforced,
        ),
        (
            "real-bare-1",
            ProbeOutcome::NotEnforced,
            ProbeOutcome::NotEnforced,
            PinVerdict::NotEnforced,
        ),
    ] {
        let proof = conclusive_proof(&w, cluster, &names[cluster]).await;
        assert_eq!(proof.verdict, verdict, "{cluster}: {proof:#?}");
        assert_eq!(
            outcome(&proof, ProbeKind::Unpinned),
            unpinned,
            "{cluster}: {proof:#?}"
        );
        assert_eq!(
            outcome(&proof, ProbeKind::ForeignToleration),
            foreign,
            "{cluster}: {proof:#?}"
        );
    }
    // The fleet view counts the namespace whose pods may leave their pool.
    let bare = berth::fleet::get(&w.app, &w.admin, "real-bare-1")
        .await
        .unwrap();
    assert!(bare.cluster.inventory.unwrap().pinning_not_enforced >= 1);
    // The policies and their bindings are Berth's objects like the rest: no drift.
    for (cluster, name) in &names {
        namespaces::check_now(&w.app, &w.admin, cluster)
            .await
            .unwrap();
        let detail = namespaces::get(&w.app, &w.admin, cluster, name)
            .await
            .unwrap();
        assert_eq!(detail.namespace.drift, Some(vec![]), "{cluster}");
    }

    // Real pods, as a tenant's controllers would create them.
    let label = "eks.amazonaws.com/nodegroup";
    let east = w.admin_client("real-east-1").await;
    let ns = &names["real-east-1"];
    let pods = Api::<Pod>::namespaced(east.clone(), ns);
    // No selector: MutatingAdmissionPolicy puts it on the pool with its toleration, and
    // kube-scheduler binds it to one of the pool's kwok nodes.
    let created = create_pod(&east, ns, &pinned_pod("plain", json!({})))
        .await
        .unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.node_selector.unwrap()[label], "spot");
    assert!(spec
        .tolerations
        .unwrap()
        .iter()
        .any(|t| t.key.as_deref() == Some("workload") && t.value.as_deref() == Some("spot")));
    assert_eq!(scheduled_pool(&east, ns, "plain", label).await, "spot");
    // A toleration of a taint the pool does not have is refused, and says so.
    let message = refused(
        pods.create(
            &PostParams::default(),
            &pinned_pod("foreign", json!({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})),
        )
        .await,
        "may tolerate only the taints of node pool spot",
    );
    assert!(message.contains("workload=spot:NoSchedule"), "{message}");
    // Another pool's selector is refused too (mutation leaves a selector it finds alone).
    refused(
        pods.create(
            &PostParams::default(),
            &pinned_pod("elsewhere", json!({"nodeSelector": {label: "general"}})),
        )
        .await,
        "add nodeSelector",
    );

    // Validating only: a pod without the selector is refused with what to add; with it, the
    // pod is admitted and scheduled onto the pool.
    let west = w.admin_client("real-west-1").await;
    let ns = &names["real-west-1"];
    let pods = Api::<Pod>::namespaced(west.clone(), ns);
    let message = refused(
        create_pod(&west, ns, &pinned_pod("plain", json!({}))).await,
        "add nodeSelector {\"eks.amazonaws.com/nodegroup\": \"general\"}",
    );
    assert!(message.contains("berth-pool-general"), "{message}");
    pods.create(
        &PostParams::default(),
        &pinned_pod("pinned", json!({"nodeSelector": {label: "general"}})),
    )
    .await
    .unwrap();
    assert_eq!(scheduled_pool(&west, ns, "pinned", label).await, "general");
    // A required node affinity to the pool is as good as the selector.
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": label, "operator": "In", "values": ["general"]}]}]}}}});
    pods.create(&PostParams::default(), &pinned_pod("by-affinity", affinity))
        .await
        .unwrap();
    // Pods in namespaces Berth does not manage are never matched.
    create_pod(
        &west,
        "default",
        &pinned_pod(
            &unique("free", "pod"),
            json!({"serviceAccountName": "default"}),
        ),
    )
    .await
    .unwrap();

    // The plugins (AKS-like): PodNodeSelector adds the selector, PodTolerationRestriction the
    // default toleration, and its whitelist refuses a foreign one.
    let aks = w.admin_client("real-aks-1").await;
    let ns = &names["real-aks-1"];
    let created = create_pod(&aks, ns, &pinned_pod("plain", json!({})))
        .await
        .unwrap();
    assert_eq!(
        created.spec.unwrap().node_selector.unwrap()["node-pool"],
        "spot"
    );
    assert_eq!(scheduled_pool(&aks, ns, "plain", "node-pool").await, "spot");
    refused(
        Api::<Pod>::namespaced(aks.clone(), ns)
            .create(
                &PostParams::default(),
                &pinned_pod("foreign", json!({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})),
            )
            .await,
        "whitelist",
    );

    // None of the mechanisms: the pod goes in as it is, which is what the proof reported.
    let bare = w.admin_client("real-bare-1").await;
    let ns = &names["real-bare-1"];
    let created = create_pod(&bare, ns, &pinned_pod("plain", json!({})))
        .await
        .unwrap();
    assert!(created.spec.unwrap().node_selector.is_none());
}

/// Whether `cluster` has the cluster-scoped object `name` of `kind`: one of the policies,
/// bindings and PriorityClasses Berth writes once per cluster (the API server's or Kyverno's).
async fn has_object(w: &Real, cluster: &str, kind: &str, name: &str) -> bool {
    let (group, plural) = match kind {
        "PriorityClass" => ("scheduling.k8s.io", "priorityclasses"),
        "ValidatingPolicy" => ("policies.kyverno.io", "validatingpolicies"),
        "MutatingPolicy" => ("policies.kyverno.io", "mutatingpolicies"),
        "ValidatingAdmissionPolicy" => (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
        ),
        "ValidatingAdmissionPolicyBinding" => (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
        ),
        "MutatingAdmissionPolicy" => ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
        "MutatingAdmissionPolicyBinding" => (
            "admissionregistration.k8s.io",
            "mutatingadmissionpolicybindings",
        ),
        other => panic!("no lookup for kind {other}"),
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, "v1", kind);
    let resource = kube::discovery::ApiResource::from_gvk_with_plural(&gvk, plural);
    Api::<kube::api::DynamicObject>::all_with(w.admin_client(cluster).await, &resource)
        .get_opt(name)
        .await
        .unwrap()
        .is_some()
}

/// Runs jobs and drift checks until the namespace's proof comes from `mechanism`.
async fn proof_by(w: &Real, cluster: &str, name: &str, mechanism: PinMechanism) -> PinningProof {
    let proof = || async {
        namespaces::get(&w.app, &w.admin, cluster, name)
            .await
            .unwrap()
            .namespace
            .pinning
            .filter(|p| p.mechanism == mechanism && p.verdict == PinVerdict::Enforced)
    };
    run_jobs_until(&w.app, "a proof by the chosen engine", || async {
        namespaces::check_now(&w.app, &w.admin, cluster)
            .await
            .unwrap();
        proof().await.is_some()
    })
    .await;
    proof().await.unwrap()
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn kyverno_pins_where_an_admin_chooses_it_and_switching_back_leaves_nothing_behind(
    db: PgPool,
) {
    let Some(w) = real_world(db).await else {
        return;
    };
    // real-kyverno-1 runs Kyverno's admission controller: its CEL policies are served, but the
    // API server's own policies are used until an admin chooses Kyverno.
    let cluster = "real-kyverno-1";
    let inventory = berth::fleet::get(&w.app, &w.admin, cluster)
        .await
        .unwrap()
        .cluster
        .inventory
        .unwrap();
    assert_eq!(inventory.kyverno_policies.as_deref(), Some("v1"));
    assert_eq!(inventory.pinning, PinMechanism::Validating);
    let name = unique("payments", "kyv");
    provisioned(&w, request(cluster, &name, "spot", "S")).await;
    let proof = conclusive_proof(&w, cluster, &name).await;
    assert_eq!(
        (proof.mechanism, outcome(&proof, ProbeKind::Unpinned)),
        (PinMechanism::Validating, ProbeOutcome::Refused)
    );
    let policy = "berth-pool-spot";

    // A developer may not choose, and a word that is no engine is refused, naming the field.
    let engine = |word: &str| ClusterUpdate {
        policy_engine: Some(word.into()),
        ..Default::default()
    };
    assert!(matches!(
        berth::fleet::update(&w.app, &w.dev, cluster, engine("kyverno")).await,
        Err(berth::Error::Forbidden(_))
    ));
    match berth::fleet::update(&w.app, &w.admin, cluster, engine("opa")).await {
        Err(berth::Error::Invalid(fields)) => assert!(fields.contains_key("policy_engine")),
        other => panic!("expected a field error, got {other:?}"),
    }

    // Kyverno chosen: the namespace is applied again with Kyverno's MutatingPolicy and
    // ValidatingPolicy, the proof finds the pod without a selector mutated onto the pool and
    // a foreign toleration refused, and the API server's policy for the pool goes.
    let updated = berth::fleet::update(&w.app, &w.admin, cluster, engine("kyverno"))
        .await
        .unwrap();
    assert_eq!(updated.inventory.unwrap().pinning, PinMechanism::Kyverno);
    let audit = sqlx::query_scalar!(
        r#"SELECT after AS "after!" FROM audit_events WHERE action = 'cluster.updated' AND target_id = $1"#,
        cluster
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(audit["policy_engine"], "kyverno");
    assert_eq!(audit["namespaces_reapplied"], 1);
    let proof = proof_by(&w, cluster, &name, PinMechanism::Kyverno).await;
    assert_eq!(
        outcome(&proof, ProbeKind::Unpinned),
        ProbeOutcome::Mutated,
        "{proof:#?}"
    );
    assert_eq!(
        outcome(&proof, ProbeKind::ForeignToleration),
        ProbeOutcome::Refused,
        "{proof:#?}"
    );
    run_jobs_until(&w.app, "the API server's pool policy to go", || async {
        !has_object(&w, cluster, "ValidatingAdmissionPolicy", policy).await
            && !has_object(&w, cluster, "ValidatingAdmissionPolicyBinding", policy).await
    })
    .await;
    assert!(has_object(&w, cluster, "MutatingPolicy", policy).await);
    assert!(has_object(&w, cluster, "ValidatingPolicy", policy).await);

    // Real pods: Kyverno adds the selector and the pool's toleration, kube-scheduler binds
    // the pod to the pool's kwok node; a foreign toleration and another pool are refused with
    // what to change.
    let client = w.admin_client(cluster).await;
    let pods = Api::<Pod>::namespaced(client.clone(), &name);
    let created = create_pod(&client, &name, &pinned_pod("plain", json!({})))
        .await
        .unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.node_selector.unwrap()["node-pool"], "spot");
    assert!(spec
        .tolerations
        .unwrap()
        .iter()
        .any(|t| t.key.as_deref() == Some("workload") && t.value.as_deref() == Some("spot")));
    assert_eq!(
        scheduled_pool(&client, &name, "plain", "node-pool").await,
        "spot"
    );
    let message = refused(
        pods.create(
            &PostParams::default(),
            &pinned_pod("foreign", json!({"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})),
        )
        .await,
        "may tolerate only the taints of node pool spot",
    );
    assert!(message.contains(policy), "{message}");
    refused(
        pods.create(
            &PostParams::default(),
            &pinned_pod(
                "elsewhere",
                json!({"nodeSelector": {"node-pool": "general"}}),
            ),
        )
        .await,
        "add nodeSelector",
    );
    // Pods where Berth has no namespace are never matched.
    create_pod(
        &client,
        "default",
        &pinned_pod(
            &unique("free", "pod"),
            json!({"serviceAccountName": "default"}),
        ),
    )
    .await
    .unwrap();
    // Kyverno's policies are Berth's objects like the rest: no drift.
    namespaces::check_now(&w.app, &w.admin, cluster)
        .await
        .unwrap();
    let detail = namespaces::get(&w.app, &w.admin, cluster, &name)
        .await
        .unwrap();
    assert_eq!(detail.namespace.drift, Some(vec![]));

    // Back to the API server's own: its policy returns, Kyverno's go, and the proof says so.
    berth::fleet::update(&w.app, &w.admin, cluster, engine("kubernetes"))
        .await
        .unwrap();
    let proof = proof_by(&w, cluster, &name, PinMechanism::Validating).await;
    assert_eq!(outcome(&proof, ProbeKind::Unpinned), ProbeOutcome::Refused);
    run_jobs_until(&w.app, "Kyverno's pool policies to go", || async {
        !has_object(&w, cluster, "MutatingPolicy", policy).await
            && !has_object(&w, cluster, "ValidatingPolicy", policy).await
    })
    .await;
    assert!(has_object(&w, cluster, "ValidatingAdmissionPolicy", policy).await);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn guardrails_refuse_or_warn_per_environment_on_the_real_server(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    // real-east-1 is prod: Pod Security baseline enforced, :latest and privileged denied.
    let name = unique("payments", "guard");
    provisioned(&w, request("real-east-1", &name, "general", "S")).await;
    let client = w.admin_client("real-east-1").await;
    let ns = Api::<Namespace>::all(client.clone())
        .get(&name)
        .await
        .unwrap();
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "baseline");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    let pods = Api::<Pod>::namespaced(client.clone(), &name);
    let pinned = |pod_name: &str, image: &str, extra: serde_json::Value| {
        let mut spec = json!({"nodeSelector": {"eks.amazonaws.com/nodegroup": "general"},
            "containers": [{"name": "app", "image": image}]});
        for (k, v) in extra.as_object().unwrap() {
            spec["containers"][0][k] = v.clone();
        }
        pinned_pod(pod_name, spec)
    };
    // A policy the API server was just given takes effect once its admission plugin has
    // seen it: wait for that (by dry-run), then check.
    let latest = pinned("latest", "registry.invalid/app:latest", json!({}));
    until("the workload standards to take effect", || async {
        let dry = PostParams {
            dry_run: true,
            ..Default::default()
        };
        match pods.create(&dry, &latest).await {
            Err(kube::Error::Api(s)) if s.message.contains("berth-workload-") => Some(()),
            _ => None,
        }
    })
    .await;
    let message = refused(
        create_pod(&client, &name, &latest).await,
        "berth-workload-forbid-latest",
    );
    assert!(
        message.contains("pinned to a tag other than latest"),
        "{message}"
    );
    refused(
        pods.create(
            &PostParams::default(),
            &pinned("untagged", "registry.invalid/app", json!({})),
        )
        .await,
        "berth-workload-forbid-latest",
    );
    // A registry port is not a tag.
    refused(
        pods.create(
            &PostParams::default(),
            &pinned("port", "registry.invalid:5000/app", json!({})),
        )
        .await,
        "berth-workload-forbid-latest",
    );
    pods.create(
        &PostParams::default(),
        &pinned("digest", "registry.invalid/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", json!({})),
    )
    .await
    .unwrap();
    // Privileged: refused by Pod Security baseline before Berth's own standard.
    refused(
        pods.create(
            &PostParams::default(),
            &pinned(
                "root",
                "registry.invalid/app:1.0",
                json!({"securityContext": {"privileged": true}}),
            ),
        )
        .await,
        "privileged",
    );
    // The standards check workloads when they are applied, not only their pods.
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:latest"}]}}},
    }))
    .unwrap();
    refused(
        Api::namespaced(client.clone(), &name)
            .create(&PostParams::default(), &deployment)
            .await
            .map(|_: k8s_openapi::api::apps::v1::Deployment| pinned_pod("x", json!({}))),
        "berth-workload-forbid-latest",
    );

    // An admin relaxes :latest to a warning and tightens Pod Security to restricted for
    // prod; the environment's namespaces are re-applied by their jobs.
    let mut input = berth_frontend::api::GuardrailsInput {
        pod_security_enforce: "restricted".into(),
        pod_security_warn: "restricted".into(),
        pod_security_audit: "restricted".into(),
        require_resources: "warn".into(),
        require_probes: "warn".into(),
        forbid_latest: "warn".into(),
        forbid_privileged: "deny".into(),
    };
    let bad = berth::tenancy::guardrails::update(&w.app, &w.admin, "prod", {
        let mut b = input.clone();
        b.pod_security_warn = "baseline".into();
        b
    })
    .await;
    assert!(matches!(bad, Err(berth::Error::Invalid(f)) if f.contains_key("pod_security_warn")));
    assert!(matches!(
        berth::tenancy::guardrails::update(&w.app, &w.dev, "prod", input.clone()).await,
        Err(berth::Error::Forbidden(_))
    ));
    input.pod_security_audit = "restricted".into();
    berth::tenancy::guardrails::update(&w.app, &w.admin, "prod", input)
        .await
        .unwrap();
    run_jobs_until(&w.app, "the namespace to carry the new labels", || async {
        let labels = Api::<Namespace>::all(client.clone())
            .get(&name)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap();
        labels["pod-security.kubernetes.io/enforce"] == "restricted"
            && labels["berth.dev/guardrail-forbid-latest"] == "warn"
    })
    .await;
    // Restricted refuses a pod that does not drop privileges...
    refused(
        pods.create(
            &PostParams::default(),
            &pinned("loose", "registry.invalid/app:1.0", json!({})),
        )
        .await,
        "violates PodSecurity \"restricted",
    );
    // ...and admits a compliant one even with :latest, now only warned about.
    let compliant = json!({"securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}});
    pods.create(
        &PostParams::default(),
        &pinned("warned", "registry.invalid/app:latest", compliant),
    )
    .await
    .unwrap();
    // The pinning proof's probes pass every guardrail, so the proof stays conclusive.
    let proof = conclusive_proof(&w, "real-east-1", &name).await;
    assert_eq!(proof.verdict, PinVerdict::Enforced, "{proof:#?}");
}

/// A layer tightens its environment's guardrails and gives pods its default PriorityClass:
/// by a MutatingAdmissionPolicy where the cluster serves one (real-east-1), and only as a
/// class pods may name where it does not (real-west-1). Both clusters are `online` and prod.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_layer_tightens_guardrails_and_defaults_its_priority_class_on_the_real_server(
    db: PgPool,
) {
    use berth::tenancy::guardrails;
    use berth_frontend::api::LayerGuardrailsInput;
    let Some(w) = real_world(db).await else {
        return;
    };
    let class = "berth-test-online-high";
    let input = LayerGuardrailsInput {
        pod_security_enforce: "privileged".into(),
        pod_security_warn: "privileged".into(),
        pod_security_audit: "privileged".into(),
        require_resources: "off".into(),
        // prod warns about probes; the online layer denies.
        require_probes: "deny".into(),
        forbid_latest: "off".into(),
        forbid_privileged: "off".into(),
        priority_class: class.into(),
        priority_value: "100000".into(),
    };
    assert!(matches!(
        guardrails::update_layer(&w.app, &w.dev, "online", input.clone()).await,
        Err(berth::Error::Forbidden(_))
    ));
    let bad = guardrails::update_layer(
        &w.app,
        &w.admin,
        "online",
        LayerGuardrailsInput {
            priority_class: "system-node-critical".into(),
            ..input.clone()
        },
    )
    .await;
    assert!(matches!(bad, Err(berth::Error::Invalid(f)) if f.contains_key("priority_class")));
    guardrails::update_layer(&w.app, &w.admin, "online", input.clone())
        .await
        .unwrap();
    // A class keeps its value: another layer cannot give it a second one.
    let clash = guardrails::update_layer(
        &w.app,
        &w.admin,
        "offline",
        LayerGuardrailsInput {
            priority_value: "5".into(),
            ..input.clone()
        },
    )
    .await;
    assert!(
        matches!(clash, Err(berth::Error::Invalid(f)) if f["priority_value"].contains("already has the value 100000"))
    );

    // The preview shows the class, and the policy where it is served.
    for (cluster, kinds) in [
        (
            "real-east-1",
            vec![
                "PriorityClass",
                "MutatingAdmissionPolicy",
                "MutatingAdmissionPolicyBinding",
            ],
        ),
        ("real-west-1", vec!["PriorityClass"]),
    ] {
        let preview = requests::preview(
            &w.app,
            &w.dev,
            request(cluster, &unique("payments", "prev"), "general", "S"),
        )
        .await
        .unwrap();
        let found: Vec<&str> = preview
            .objects
            .iter()
            .filter(|o| {
                o["kind"] == "PriorityClass"
                    || o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("berth-priority-"))
            })
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(found, kinds, "{cluster}");
        let namespace = &preview.objects[0];
        assert_eq!(
            namespace["metadata"]["labels"]["berth.dev/priority-class"],
            class
        );
        assert_eq!(
            namespace["metadata"]["labels"]["berth.dev/guardrail-require-probes"],
            "deny"
        );
    }

    let pod = |name: &str, probes: bool| {
        let mut container = json!({"name": "app", "image": "registry.invalid/app:1.0"});
        if probes {
            container["readinessProbe"] = json!({"tcpSocket": {"port": 8080}});
            container["livenessProbe"] = json!({"tcpSocket": {"port": 8080}});
        }
        pinned_pod(
            name,
            json!({"nodeSelector": {"eks.amazonaws.com/nodegroup": "general"}, "containers": [container]}),
        )
    };
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };

    // east serves MutatingAdmissionPolicy: a pod naming no class gets the layer's, with the
    // value the Priority plugin computes for it.
    let east = unique("payments", "prio");
    provisioned(&w, request("real-east-1", &east, "general", "S")).await;
    let client = w.admin_client("real-east-1").await;
    let live = Api::<k8s_openapi::api::scheduling::v1::PriorityClass>::all(client.clone())
        .get(class)
        .await
        .unwrap();
    assert_eq!(live.value, Some(100000));
    let pods = Api::<Pod>::namespaced(client.clone(), &east);
    let admitted = until("the priority default to take effect", || async {
        match pods.create(&dry, &pod("defaulted", true)).await {
            Ok(p)
                if p.spec
                    .as_ref()
                    .and_then(|s| s.priority_class_name.as_deref())
                    == Some(class) =>
            {
                Some(p)
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(admitted.spec.unwrap().priority, Some(100000));
    // A pod that names its own class keeps it.
    let mut own = pod("own", true);
    own.spec.as_mut().unwrap().priority_class_name = Some("system-cluster-critical".into());
    let kept = pods.create(&dry, &own).await.unwrap().spec.unwrap();
    assert_eq!(
        kept.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    assert_eq!(kept.priority, Some(2_000_000_000));
    // The layer's deny is stricter than prod's warning.
    until("the probes standard to deny", || async {
        match pods.create(&dry, &pod("no-probes", false)).await {
            Err(kube::Error::Api(s)) if s.message.contains("berth-workload-require-probes") => {
                Some(())
            }
            _ => None,
        }
    })
    .await;

    // west serves no MutatingAdmissionPolicy: the class is there for pods to name, and a pod
    // that names none keeps priority 0.
    let west = unique("payments", "prio");
    provisioned(&w, request("real-west-1", &west, "general", "S")).await;
    let client = w.admin_client("real-west-1").await;
    Api::<k8s_openapi::api::scheduling::v1::PriorityClass>::all(client.clone())
        .get(class)
        .await
        .unwrap();
    let plain = Api::<Pod>::namespaced(client.clone(), &west)
        .create(&dry, &pod("plain", true))
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(plain.priority_class_name, None);
    assert_eq!(plain.priority, Some(0));
    let named = {
        let mut p = pod("named", true);
        p.spec.as_mut().unwrap().priority_class_name = Some(class.into());
        Api::<Pod>::namespaced(client.clone(), &west)
            .create(&dry, &p)
            .await
            .unwrap()
            .spec
            .unwrap()
    };
    assert_eq!(named.priority, Some(100000));

    // Renamed: the namespaces get the new class, and the old class and its policy leave both
    // clusters (a prune job per cluster of the layer).
    let renamed = "berth-test-online-higher";
    guardrails::update_layer(
        &w.app,
        &w.admin,
        "online",
        LayerGuardrailsInput {
            priority_class: renamed.into(),
            priority_value: "200000".into(),
            ..input.clone()
        },
    )
    .await
    .unwrap();
    let exists = |cluster: &'static str, kind: &'static str, name: String| {
        let w = &w;
        async move { has_object(w, cluster, kind, &name).await }
    };
    let old_policy = format!("berth-priority-{class}");
    run_jobs_until(&w.app, "the old class to leave both clusters", || async {
        !exists("real-east-1", "PriorityClass", class.into()).await
            && !exists("real-west-1", "PriorityClass", class.into()).await
            && !exists("real-east-1", "MutatingAdmissionPolicy", old_policy.clone()).await
            && !exists(
                "real-east-1",
                "MutatingAdmissionPolicyBinding",
                old_policy.clone(),
            )
            .await
            && exists("real-east-1", "PriorityClass", renamed.into()).await
    })
    .await;
    let admitted = until("the renamed default to take effect", || async {
        match pods.create(&dry, &pod("renamed", true)).await {
            Ok(p)
                if p.spec
                    .as_ref()
                    .and_then(|s| s.priority_class_name.as_deref())
                    == Some(renamed) =>
            {
                Some(p)
            }
            _ => None,
        }
    })
    .await;
    assert_eq!(admitted.spec.unwrap().priority, Some(200000));
    let removed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM audit_events WHERE action = 'cluster.objects_removed'"#
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(removed, 2, "one audit row per cluster's prune");

    // Cleared: no class is left, and pods name none again.
    guardrails::update_layer(
        &w.app,
        &w.admin,
        "online",
        LayerGuardrailsInput {
            priority_class: String::new(),
            priority_value: String::new(),
            ..input.clone()
        },
    )
    .await
    .unwrap();
    let new_policy = format!("berth-priority-{renamed}");
    run_jobs_until(
        &w.app,
        "the cleared class to leave both clusters",
        || async {
            !exists("real-east-1", "PriorityClass", renamed.into()).await
                && !exists("real-west-1", "PriorityClass", renamed.into()).await
                && !exists("real-east-1", "MutatingAdmissionPolicy", new_policy.clone()).await
        },
    )
    .await;
    until("pods to name no class again", || async {
        match pods.create(&dry, &pod("cleared", true)).await {
            Ok(p)
                if p.spec
                    .as_ref()
                    .and_then(|s| s.priority_class_name.as_deref())
                    .is_none() =>
            {
                Some(())
            }
            _ => None,
        }
    })
    .await;
}

/// May the caller of `client` create Deployments in `ns`? The real authorizer's answer.
async fn may_deploy(client: &Client, ns: &str) -> bool {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": ns, "verb": "create", "group": "apps", "resource": "deployments"}},
    }))
    .unwrap();
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

/// The end-to-end proof of the RoleBinding Berth writes: a developer's ID token from the
/// identity provider Berth signs people in with (whose `groups` claim says `payments`) is
/// accepted by the real kube-apiserver (`--oidc-issuer-url`, groups prefix `berth:`), and
/// the real RBAC authorizer lets it deploy into a payments namespace Berth provisioned, and
/// refuses it (403) in a search namespace.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_developers_id_token_from_the_provider_deploys_only_into_their_teams_namespaces(
    db: PgPool,
) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let Some(token) = common::idp::shared_id_token("dana", "dana-demo").await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let ours = unique("payments", "sso");
    provisioned(&w, request(&cluster, &ours, &pool, "S")).await;
    let theirs = unique("search", "sso");
    let mut input = request(&cluster, &theirs, &pool, "S");
    input.team = "search".into();
    let created = requests::create(&w.app, &w.outsider, input).await.unwrap();
    if created.request.state == "pending" {
        requests::approve(&w.app, &w.admin, created.request.id, Decision::default())
            .await
            .unwrap();
    }
    let id = created.request.id;
    run_jobs_until(&w.app, "the search namespace to be ready", || async {
        request_state(&w, id).await.as_str() == "ready"
    })
    .await;

    let kc = kube::config::Kubeconfig::read_from(&w.kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions {
        context: Some(format!("{cluster}-admin")),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap();
    config.auth_info = kube::config::AuthInfo {
        token: Some(secrecy::SecretString::from(token)),
        ..Default::default()
    };
    let dana = Client::try_from(config).unwrap();

    assert!(
        may_deploy(&dana, &ours).await,
        "dana may deploy into {ours}"
    );
    assert!(
        !may_deploy(&dana, &theirs).await,
        "dana may not deploy into {theirs}"
    );
    // And for real: a write in her team's namespace goes through, one in another team's is
    // refused by RBAC with 403.
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "from-dana"}, "data": {"k": "v"}}))
            .unwrap();
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(dana.clone(), &ours)
        .create(&PostParams::default(), &cm)
        .await
        .expect("dana writes in her team's namespace");
    let refused = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(dana.clone(), &theirs)
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &deployment("from-dana", 1, false),
        )
        .await
        .unwrap_err();
    match refused {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains("oidc:dana@berth.local"),
                "{}",
                status.message
            );
        }
        other => panic!("{other:?}"),
    }
}
