//! Reading a cluster's inventory: version, node pools and storage classes, and the sync of
//! the whole fleet — concurrent, bounded, each cluster under its own timeout, so one slow or
//! dead cluster never holds back the others.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use berth_frontend::api::{Resources, SyncOutcome, Taint};
use futures::StreamExt;
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    storage::v1::StorageClass,
};
use kube::{
    api::{Api, ListParams},
    Client,
};
use serde_json::json;
use uuid::Uuid;

use super::connect;
use crate::{quantity::Quantity, tenancy::pinning::Served, App, Result};

/// One pool as computed from its nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub label_key: String,
    pub node_count: i32,
    pub ready_count: i32,
    pub zones: Vec<String>,
    pub instance_types: Vec<String>,
    pub taints: Vec<Taint>,
    pub common_labels: BTreeMap<String, String>,
    pub allocatable: Resources,
    /// Extended resources (`nvidia.com/gpu`) of the nodes, added up.
    pub extended: BTreeMap<String, i64>,
}

/// The extended resources (`nvidia.com/gpu`, `example.com/fpga`) in a node's allocatable, in
/// whole units.
pub fn extended_allocatable(node: &Node) -> BTreeMap<String, i64> {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .into_iter()
        .flatten()
        .filter(|(k, _)| berth_kube::resources::is_extended(k))
        .filter_map(|(k, q)| amount(&q.0).map(|v| (k.clone(), v)))
        .collect()
}

/// `500m` → 500 (millicores); `2` → 2000. Rounded up, as the API server's `MilliValue()`.
pub fn cpu_millis(q: &str) -> Option<i64> {
    Quantity::parse(q).ok().map(Quantity::millis)
}

/// `57Gi` → bytes; also plain counts such as pods. Rounded up, as `Value()`.
pub fn amount(q: &str) -> Option<i64> {
    Quantity::parse(q).ok().map(Quantity::units)
}

fn label<'a>(node: &'a Node, keys: &[&str]) -> Option<&'a str> {
    let labels = node.metadata.labels.as_ref()?;
    keys.iter().find_map(|k| labels.get(*k).map(String::as_str))
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pool of a node and the label that named it: the first of `label_keys` it carries, or
/// `default` (named by no label).
pub fn pool_of(node: &Node, label_keys: &[String]) -> (String, String) {
    node.metadata
        .labels
        .as_ref()
        .and_then(|labels| {
            label_keys
                .iter()
                .find_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
        })
        .unwrap_or_else(|| (String::new(), "default".to_owned()))
}

/// Taints Kubernetes itself puts on nodes for their condition (not ready, unreachable,
/// under pressure, not yet initialised by the cloud provider): never a pool's own.
fn condition_taint(key: &str) -> bool {
    key.starts_with("node.kubernetes.io/") || key.starts_with("node.cloudprovider.kubernetes.io/")
}

/// Groups nodes into pools by the first of `label_keys` each node carries; nodes with none
/// go to `default`. Pools come back in name order.
pub fn group_pools(nodes: &[Node], label_keys: &[String]) -> Vec<Pool> {
    let mut groups: BTreeMap<String, (String, Vec<&Node>)> = BTreeMap::new();
    for node in nodes {
        let (key, name) = pool_of(node, label_keys);
        groups
            .entry(name)
            .or_insert_with(|| (key, Vec::new()))
            .1
            .push(node);
    }
    groups
        .into_iter()
        .map(|(name, (label_key, nodes))| {
            let mut zones = BTreeSet::new();
            let mut instance_types = BTreeSet::new();
            let mut taints: Vec<Taint> = Vec::new();
            let mut first = true;
            let mut allocatable = Resources::default();
            let mut extended: BTreeMap<String, i64> = BTreeMap::new();
            let mut common: Option<BTreeMap<String, String>> = None;
            for node in &nodes {
                if let Some(z) = label(
                    node,
                    &[
                        "topology.kubernetes.io/zone",
                        "failure-domain.beta.kubernetes.io/zone",
                    ],
                ) {
                    zones.insert(z.to_owned());
                }
                if let Some(t) = label(
                    node,
                    &[
                        "node.kubernetes.io/instance-type",
                        "beta.kubernetes.io/instance-type",
                    ],
                ) {
                    instance_types.insert(t.to_owned());
                }
                let node_taints: Vec<Taint> = node
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|t| !condition_taint(&t.key))
                    .map(|t| Taint {
                        key: t.key.clone(),
                        value: t.value.clone(),
                        effect: t.effect.clone(),
                    })
                    .collect();
                // The pool's taints are those every node carries: a node being drained or
                // replaced says nothing about the pool.
                if first {
                    taints = node_taints;
                } else {
                    taints.retain(|t| node_taints.contains(t));
                }
                first = false;
                let labels = node.metadata.labels.clone().unwrap_or_default();
                common = Some(match common {
                    None => labels,
                    Some(c) => c
                        .into_iter()
                        .filter(|(k, v)| labels.get(k) == Some(v))
                        .collect(),
                });
                if let Some(a) = node.status.as_ref().and_then(|s| s.allocatable.as_ref()) {
                    let get = |k: &str| a.get(k).map(|q| q.0.as_str());
                    allocatable.cpu_millis += get("cpu").and_then(cpu_millis).unwrap_or(0);
                    allocatable.memory_bytes += get("memory").and_then(amount).unwrap_or(0);
                    allocatable.pods += get("pods").and_then(amount).unwrap_or(0);
                    allocatable.ephemeral_bytes +=
                        get("ephemeral-storage").and_then(amount).unwrap_or(0);
                }
                for (k, v) in extended_allocatable(node) {
                    *extended.entry(k).or_default() += v;
                }
            }
            // Per-node labels say nothing about the pool.
            let mut common_labels = common.unwrap_or_default();
            common_labels.retain(|k, _| {
                k != "kubernetes.io/hostname" && !k.starts_with("topology.kubernetes.io/")
            });
            Pool {
                name,
                label_key,
                node_count: nodes.len() as i32,
                ready_count: nodes.iter().filter(|n| ready(n)).count() as i32,
                zones: zones.into_iter().collect(),
                instance_types: instance_types.into_iter().collect(),
                taints,
                common_labels,
                allocatable,
                extended,
            }
        })
        .collect()
}

/// What one successful read of a cluster found.
struct Inventory {
    version: String,
    nodes: Vec<Node>,
    /// Pods bound to a node and not finished.
    pods: Vec<Pod>,
    classes: Vec<StorageClass>,
    velero: bool,
    served: Served,
    /// (kind, name) of every admission policy and binding Berth manages on the cluster.
    policies: Vec<(String, String)>,
}

/// Every object of a list, page by page.
async fn list_all<K>(api: Api<K>, params: ListParams) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    let mut params = params.limit(500);
    loop {
        let page = api.list(&params).await?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(items)
}

async fn read(client: Client) -> Result<Inventory, kube::Error> {
    let version = client.apiserver_version().await?.git_version;
    let nodes = list_all(Api::<Node>::all(client.clone()), ListParams::default()).await?;
    let pods = list_all(
        Api::<Pod>::all(client.clone()),
        ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed"),
    )
    .await?
    .into_iter()
    .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
    .collect();
    let classes = Api::<StorageClass>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let groups = client.list_api_groups().await?.groups;
    let velero = groups.iter().any(|g| g.name == "velero.io");
    let mut served = admission_policies(&client, &groups).await?;
    // Read whether Kyverno's policies are served: whether they are used is the admin's choice.
    served.kyverno = kyverno_policies(&client, &groups).await?;
    let policies = managed_policies(&client, &served).await?;
    Ok(Inventory {
        version,
        nodes,
        pods,
        classes,
        velero,
        served,
        policies,
    })
}

/// The admission policies, bindings and PriorityClasses labelled managed-by=berth, by kind and
/// name: what the cluster still has of the objects Berth applied once for all its namespaces.
async fn managed_policies(
    client: &Client,
    served: &Served,
) -> Result<Vec<(String, String)>, kube::Error> {
    let mut kinds = Vec::new();
    if served.validating {
        kinds.push(("ValidatingAdmissionPolicy", "v1"));
        kinds.push(("ValidatingAdmissionPolicyBinding", "v1"));
    }
    if let Some(version) = served.mutating.as_deref() {
        kinds.push(("MutatingAdmissionPolicy", version));
        kinds.push(("MutatingAdmissionPolicyBinding", version));
    }
    let mut out = Vec::new();
    let kyverno = served.kyverno.as_deref().map(|version| {
        ["MutatingPolicy", "ValidatingPolicy"]
            .map(|kind| (kind, format!("policies.kyverno.io/{version}")))
    });
    let kinds = kinds
        .into_iter()
        .map(|(kind, version)| (kind, format!("admissionregistration.k8s.io/{version}")))
        .chain(kyverno.into_iter().flatten())
        .chain([("PriorityClass", "scheduling.k8s.io/v1".to_owned())]);
    for (kind, api_version) in kinds {
        let manifest = json!({"kind": kind, "apiVersion": api_version});
        let listed = crate::tenancy::provision::api(client, "", &manifest)
            .list_metadata(&ListParams::default().labels("app.kubernetes.io/managed-by=berth"))
            .await?;
        out.extend(
            listed
                .items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .map(|name| (kind.to_owned(), name)),
        );
    }
    Ok(out)
}

/// Which admission policy kinds the server serves: ValidatingAdmissionPolicy in
/// `admissionregistration.k8s.io/v1`, MutatingAdmissionPolicy in `v1` or `v1beta1`. A
/// resource switched off with `--runtime-config` is not listed, so this reads the resource
/// lists, not the group's versions.
async fn admission_policies(
    client: &Client,
    groups: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup],
) -> Result<Served, kube::Error> {
    let Some(group) = groups
        .iter()
        .find(|g| g.name == "admissionregistration.k8s.io")
    else {
        return Ok(Served::default());
    };
    let mut served = Served::default();
    for version in ["v1", "v1beta1"] {
        if !group.versions.iter().any(|v| v.version == version) {
            continue;
        }
        let resources = client
            .list_api_group_resources(&format!("admissionregistration.k8s.io/{version}"))
            .await?
            .resources;
        let has = |name: &str| resources.iter().any(|r| r.name == name);
        if version == "v1" && has("validatingadmissionpolicies") {
            served.validating = true;
        }
        if served.mutating.is_none() && has("mutatingadmissionpolicies") {
            served.mutating = Some(version.to_owned());
        }
    }
    Ok(served)
}

/// The version of `policies.kyverno.io` that serves both MutatingPolicy and ValidatingPolicy
/// (the newest of `v1`, `v1beta1`), if the cluster runs a Kyverno that has them. Only the
/// CRDs are read here; whether Kyverno's webhook really enforces them, the proof tells.
async fn kyverno_policies(
    client: &Client,
    groups: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroup],
) -> Result<Option<String>, kube::Error> {
    let Some(group) = groups.iter().find(|g| g.name == "policies.kyverno.io") else {
        return Ok(None);
    };
    for version in ["v1", "v1beta1"] {
        if !group.versions.iter().any(|v| v.version == version) {
            continue;
        }
        let resources = client
            .list_api_group_resources(&format!("policies.kyverno.io/{version}"))
            .await?
            .resources;
        let has = |name: &str| resources.iter().any(|r| r.name == name);
        if has("mutatingpolicies") && has("validatingpolicies") {
            return Ok(Some(version.to_owned()));
        }
    }
    Ok(None)
}

/// Syncs one cluster and records the outcome; a failure is recorded, not returned.
pub async fn sync_cluster(app: &App, cluster_id: Uuid, name: &str) -> Result<SyncOutcome> {
    let timeout = app.config.sync_timeout();
    let attempt = async {
        let client = connect::client(app, cluster_id)
            .await
            .map_err(|e| e.to_string())?;
        read(client).await.map_err(|e| describe(&e))
    };
    let result = match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    };
    match result {
        Ok(inventory) => record_success(app, cluster_id, name, inventory).await,
        Err(error) => {
            tracing::warn!(cluster = name, %error, "cluster sync failed");
            metrics::counter!("berth_cluster_sync_errors_total", "cluster" => name.to_owned())
                .increment(1);
            sqlx::query!(
                "INSERT INTO cluster_inventory (cluster_id, reachable, last_error, last_attempt_at)
                 VALUES ($1, false, $2, now())
                 ON CONFLICT (cluster_id) DO UPDATE SET reachable = false, last_error = $2, last_attempt_at = now()",
                cluster_id,
                error
            )
            .execute(&app.db)
            .await?;
            Ok(SyncOutcome {
                cluster: name.to_owned(),
                reachable: false,
                error: Some(error),
                node_count: 0,
                pool_count: 0,
            })
        }
    }
}

/// A kube error as an operator reads it, without anything the request carried.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!(
            "the API server answered {}: {}",
            status.code, status.message
        ),
        other => {
            let text = other.to_string();
            text.chars().take(300).collect()
        }
    }
}

async fn record_success(
    app: &App,
    cluster_id: Uuid,
    name: &str,
    inventory: Inventory,
) -> Result<SyncOutcome> {
    let pools = group_pools(&inventory.nodes, &app.config.pool_label_keys);
    let ready = inventory.nodes.iter().filter(|n| ready(n)).count() as i32;
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO cluster_inventory (cluster_id, reachable, last_error, last_attempt_at, last_success_at,
                                        kubernetes_version, node_count, ready_node_count, velero_installed,
                                        validating_policies, mutating_policies, kyverno_policies)
         VALUES ($1, true, NULL, now(), now(), $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (cluster_id) DO UPDATE SET reachable = true, last_error = NULL, last_attempt_at = now(),
             last_success_at = now(), kubernetes_version = $2, node_count = $3, ready_node_count = $4,
             velero_installed = $5, validating_policies = $6, mutating_policies = $7, kyverno_policies = $8",
        cluster_id,
        inventory.version,
        inventory.nodes.len() as i32,
        ready,
        inventory.velero,
        inventory.served.validating,
        inventory.served.mutating,
        inventory.served.kyverno
    )
    .execute(&mut *tx)
    .await?;
    // Shared policies the cluster no longer has are applied again by the next apply.
    let (kinds, names): (Vec<String>, Vec<String>) = inventory.policies.iter().cloned().unzip();
    sqlx::query!(
        "DELETE FROM cluster_objects o WHERE o.cluster_id = $1
           AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS t(k, n) WHERE t.k = o.kind AND t.n = o.name)",
        cluster_id,
        &kinds,
        &names
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM node_pools WHERE cluster_id = $1", cluster_id)
        .execute(&mut *tx)
        .await?;
    for p in &pools {
        sqlx::query!(
            "INSERT INTO node_pools (cluster_id, name, label_key, node_count, ready_count, zones, instance_types,
                                     taints, common_labels, cpu_millis, memory_bytes, pods, ephemeral_bytes, extended)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            cluster_id,
            p.name,
            p.label_key,
            p.node_count,
            p.ready_count,
            &p.zones,
            &p.instance_types,
            json!(p.taints),
            json!(p.common_labels),
            p.allocatable.cpu_millis,
            p.allocatable.memory_bytes,
            p.allocatable.pods,
            p.allocatable.ephemeral_bytes,
            json!(p.extended)
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "DELETE FROM storage_classes WHERE cluster_id = $1",
        cluster_id
    )
    .execute(&mut *tx)
    .await?;
    for sc in &inventory.classes {
        let annotations = sc.metadata.annotations.clone().unwrap_or_default();
        let is_default = [
            "storageclass.kubernetes.io/is-default-class",
            "storageclass.beta.kubernetes.io/is-default-class",
        ]
        .iter()
        .any(|k| annotations.get(*k).is_some_and(|v| v == "true"));
        sqlx::query!(
            "INSERT INTO storage_classes (cluster_id, name, provisioner, parameters, reclaim_policy, binding_mode,
                                          allow_expansion, is_default)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            cluster_id,
            sc.metadata.name.clone().unwrap_or_default(),
            sc.provisioner,
            json!(sc.parameters.clone().unwrap_or_default()),
            sc.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
            sc.volume_binding_mode.clone().unwrap_or_else(|| "Immediate".into()),
            sc.allow_volume_expansion.unwrap_or(false),
            is_default
        )
        .execute(&mut *tx)
        .await?;
    }
    record_nodes(&mut tx, cluster_id, &inventory, &app.config.pool_label_keys).await?;
    // A pool that left the cluster, or a layer class changed while the cluster was down,
    // leaves objects no namespace uses: a prune removes them.
    if !crate::tenancy::shared::pending(&mut tx, cluster_id)
        .await?
        .is_empty()
    {
        crate::tenancy::shared::enqueue(&mut tx, cluster_id).await?;
    }
    tx.commit().await?;
    Ok(SyncOutcome {
        cluster: name.to_owned(),
        reachable: true,
        error: None,
        node_count: inventory.nodes.len() as i32,
        pool_count: pools.len() as i32,
    })
}

/// What a pod asks the scheduler for: its containers' requests added up, or its largest
/// init container's where that is more (as the scheduler counts them).
pub fn pod_requests(pod: &Pod) -> (i64, i64) {
    let Some(spec) = &pod.spec else { return (0, 0) };
    let request = |c: &k8s_openapi::api::core::v1::Container, key: &str| {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(key))
            .and_then(|q| {
                if key == "cpu" {
                    cpu_millis(&q.0)
                } else {
                    amount(&q.0)
                }
            })
            .unwrap_or(0)
    };
    let (mut cpu, mut memory) = spec.containers.iter().fold((0, 0), |(c, m), k| {
        (c + request(k, "cpu"), m + request(k, "memory"))
    });
    for init in spec.init_containers.iter().flatten() {
        cpu = cpu.max(request(init, "cpu"));
        memory = memory.max(request(init, "memory"));
    }
    (cpu, memory)
}

/// One row per node: allocatable and what its pods request, for headroom and placement.
async fn record_nodes(
    tx: &mut sqlx::PgConnection,
    cluster_id: Uuid,
    inventory: &Inventory,
    label_keys: &[String],
) -> Result<()> {
    let mut requested: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
    for pod in &inventory.pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let (cpu, memory) = pod_requests(pod);
        let e = requested.entry(node).or_default();
        *e = (e.0 + cpu, e.1 + memory, e.2 + 1);
    }
    sqlx::query!(
        "DELETE FROM cluster_nodes WHERE cluster_id = $1",
        cluster_id
    )
    .execute(&mut *tx)
    .await?;
    for node in &inventory.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let a = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let get = |k: &str| a.and_then(|a| a.get(k)).map(|q| q.0.as_str());
        let (cpu, memory, pods) = requested.get(name.as_str()).copied().unwrap_or_default();
        sqlx::query!(
            "INSERT INTO cluster_nodes (cluster_id, name, pool, ready, unschedulable, cpu_millis, memory_bytes, pods,
                                        requested_cpu_millis, requested_memory_bytes, running_pods, observed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())",
            cluster_id,
            name,
            pool_of(node, label_keys).1,
            ready(node),
            node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
            get("cpu").and_then(cpu_millis).unwrap_or(0),
            get("memory").and_then(amount).unwrap_or(0),
            get("pods").and_then(amount).unwrap_or(0),
            cpu,
            memory,
            pods
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Seconds since each enabled cluster's last good sync (since registration when never).
pub async fn sync_ages(app: &App) -> Result<Vec<(String, f64)>> {
    let rows = sqlx::query!(
        r#"SELECT c.name, extract(epoch FROM now() - coalesce(i.last_success_at, c.created_at))::float8 AS "age!"
           FROM clusters c LEFT JOIN cluster_inventory i ON i.cluster_id = c.id
           WHERE NOT c.disabled ORDER BY c.name"#
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.age)).collect())
}

/// Syncs every enabled cluster, `sync_concurrency` at a time; outcomes come back in the
/// order clusters finish.
pub async fn sync_fleet(app: &App) -> Result<Vec<SyncOutcome>> {
    let clusters = sqlx::query!("SELECT id, name FROM clusters WHERE NOT disabled ORDER BY name")
        .fetch_all(&app.db)
        .await?;
    let outcomes: Vec<Result<SyncOutcome>> = futures::stream::iter(clusters)
        .map(|c| async move { sync_cluster(app, c.id, &c.name).await })
        .buffer_unordered(app.config.sync_concurrency)
        .collect()
        .await;
    outcomes.into_iter().collect()
}

/// Syncs the fleet every `sync_interval_seconds`, for as long as the server runs.
pub fn spawn_periodic_sync(app: App) {
    let every = app.config.sync_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(every));
        loop {
            ticker.tick().await;
            if let Err(e) = sync_fleet(&app).await {
                tracing::error!(error = ?e, "fleet sync failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        name: &str,
        labels: &[(&str, &str)],
        cpu: &str,
        memory: &str,
        ready: bool,
        taint: Option<&str>,
    ) -> Node {
        let mut labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.insert("kubernetes.io/hostname".into(), name.into());
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taint.map(|t| vec![json!({"key": t, "value": "true", "effect": "NoSchedule"})]).unwrap_or_default()},
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "1Gi"},
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            },
        }))
        .unwrap()
    }

    fn keys() -> Vec<String> {
        [
            "cloud.google.com/gke-nodepool",
            "eks.amazonaws.com/nodegroup",
            "agentpool",
            "karpenter.sh/nodepool",
            "node-pool",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn every_provider_label_names_a_pool_and_unlabelled_nodes_go_to_default() {
        let nodes = vec![
            node(
                "a",
                &[("cloud.google.com/gke-nodepool", "gke")],
                "1",
                "1Gi",
                true,
                None,
            ),
            node(
                "b",
                &[("eks.amazonaws.com/nodegroup", "eks")],
                "1",
                "1Gi",
                true,
                None,
            ),
            node("c", &[("agentpool", "aks")], "1", "1Gi", true, None),
            node(
                "d",
                &[("karpenter.sh/nodepool", "karp")],
                "1",
                "1Gi",
                true,
                None,
            ),
            node("e", &[("node-pool", "plain")], "1", "1Gi", true, None),
            node("f", &[("other", "x")], "1", "1Gi", true, None),
        ];
        let names: Vec<String> = group_pools(&nodes, &keys())
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["aks", "default", "eks", "gke", "karp", "plain"]);
    }

    #[test]
    fn the_first_key_in_the_configured_order_wins() {
        let nodes = vec![node(
            "a",
            &[("node-pool", "second"), ("agentpool", "first")],
            "1",
            "1Gi",
            true,
            None,
        )];
        let pools = group_pools(&nodes, &keys());
        assert_eq!(pools[0].name, "first");
        assert_eq!(pools[0].label_key, "agentpool");
    }

    #[test]
    fn pools_sum_allocatable_count_ready_nodes_and_collect_taints_zones_and_common_labels() {
        let nodes = vec![
            node(
                "a",
                &[
                    ("agentpool", "p"),
                    ("topology.kubernetes.io/zone", "z1"),
                    ("tier", "gold"),
                    ("x", "1"),
                ],
                "1500m",
                "2Gi",
                true,
                Some("spot"),
            ),
            node(
                "b",
                &[
                    ("agentpool", "p"),
                    ("topology.kubernetes.io/zone", "z2"),
                    ("tier", "gold"),
                    ("x", "2"),
                ],
                "2",
                "1.5Gi",
                false,
                Some("spot"),
            ),
        ];
        let pool = &group_pools(&nodes, &keys())[0];
        assert_eq!(pool.node_count, 2);
        assert_eq!(pool.ready_count, 1);
        assert_eq!(pool.allocatable.cpu_millis, 3500);
        assert_eq!(
            pool.allocatable.memory_bytes,
            2 * 1024 * 1024 * 1024 + 1536 * 1024 * 1024
        );
        assert_eq!(pool.allocatable.pods, 220);
        assert_eq!(pool.zones, ["z1", "z2"]);
        assert_eq!(
            pool.taints.len(),
            1,
            "the same taint on both nodes is listed once"
        );
        assert_eq!(
            pool.common_labels.get("tier").map(String::as_str),
            Some("gold")
        );
        assert!(!pool.common_labels.contains_key("x"));
        assert!(!pool.common_labels.contains_key("kubernetes.io/hostname"));
    }

    #[test]
    fn a_pools_taints_are_those_of_every_node_and_never_condition_taints() {
        let nodes = vec![
            node("a", &[("agentpool", "p")], "1", "1Gi", true, Some("spot")),
            node(
                "b",
                &[("agentpool", "p")],
                "1",
                "1Gi",
                false,
                Some("node.kubernetes.io/not-ready"),
            ),
            node(
                "c",
                &[("agentpool", "q")],
                "1",
                "1Gi",
                false,
                Some("node.kubernetes.io/unreachable"),
            ),
        ];
        let pools = group_pools(&nodes, &keys());
        assert!(
            pools[0].taints.is_empty(),
            "spot is on one node of two: {:?}",
            pools[0].taints
        );
        assert!(pools[1].taints.is_empty(), "{:?}", pools[1].taints);
    }

    #[test]
    fn quantities_parse_as_kubernetes_reads_them() {
        assert_eq!(cpu_millis("250m"), Some(250));
        assert_eq!(cpu_millis("15890m"), Some(15890));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(amount("1Ki"), Some(1024));
        assert_eq!(amount("1k"), Some(1000));
        assert_eq!(amount("110"), Some(110));
        assert_eq!(cpu_millis("lots"), None);
    }
}
