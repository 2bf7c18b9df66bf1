//! The fleet: registered clusters, how Berth reaches them, and what their inventory says.
//!
//! Rules: admins register, edit, disable and remove clusters; every authenticated user reads
//! them (teams choose clusters and pools from here). A connection is probed before it is
//! stored, credentials are sealed and never returned, and a cluster with Berth namespaces
//! cannot be removed.
//!
//! Longer than most modules: a cluster's whole life (register with its probe, edit, DR pair,
//! remove, the simulated demo fleet) shares one row shape, one audit view and one loader, and
//! reads best together. How Berth reaches a cluster is `connect.rs`, what it holds `inventory.rs`.

pub mod connect;
pub mod inventory;
pub mod seal;

use std::collections::BTreeMap;

use berth_frontend::api::{
    Cluster, ClusterDetail, ClusterUpdate, Connection, DeliveryMode, Environment, InventoryState,
    NewCluster, NodePool, PolicyEngine, Resources, Scope, SimulatorFaults, StorageClass,
    SyncOutcome, Taint,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, one_of, short_text, word},
    App, Error, Result,
};

pub const LAYERS: [&str; 5] = ["shared-infra", "online", "offline", "stateful", "secure"];

/// A DNS label: how Kubernetes tooling and Berth's URLs name a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterName(String);

impl ClusterName {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let name = raw.trim();
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if ok {
            Ok(ClusterName(name.to_owned()))
        } else {
            Err(Error::invalid(field, "must be a DNS label: 1–63 lower-case letters, digits and '-', not starting or ending with '-'"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Kubernetes label syntax: `[prefix/]name` and a value of up to 63 characters.
fn check_labels(field: &str, labels: &BTreeMap<String, String>) -> Result<()> {
    let segment = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
    };
    for (key, value) in labels {
        let name = key.rsplit_once('/').map_or(key.as_str(), |(prefix, name)| {
            if prefix.is_empty() || prefix.len() > 253 {
                ""
            } else {
                name
            }
        });
        if !segment(name) {
            return Err(Error::invalid(
                field,
                format!("label key {key:?} is not a valid Kubernetes label key"),
            ));
        }
        if !value.is_empty() && !segment(value) {
            return Err(Error::invalid(
                field,
                format!("label value {value:?} for {key} is not valid"),
            ));
        }
    }
    Ok(())
}

/// A connection, checked and probed, with its secrets ready to be sealed.
struct CheckedConnection {
    kind: &'static str,
    context: Option<String>,
    api_url: Option<String>,
    ca_pem: Option<String>,
    token: Option<String>,
}

async fn check_connection(app: &App, connection: &Connection) -> Result<CheckedConnection> {
    let field = "connection";
    let (checked, config) = match connection {
        Connection::Kubeconfig { context } => {
            let config = connect::kubeconfig_config(app, context.trim())
                .await
                .map_err(|e| Error::invalid("connection.context", e))?;
            (
                CheckedConnection {
                    kind: "kubeconfig",
                    context: Some(context.trim().to_owned()),
                    api_url: None,
                    ca_pem: None,
                    token: None,
                },
                config,
            )
        }
        Connection::InCluster => {
            let config = kube::Config::incluster().map_err(|e| {
                Error::invalid(field, format!("Berth is not running inside a cluster: {e}"))
            })?;
            (
                CheckedConnection {
                    kind: "in_cluster",
                    context: None,
                    api_url: None,
                    ca_pem: None,
                    token: None,
                },
                config,
            )
        }
        Connection::Token {
            api_url,
            ca_pem,
            token,
        } => {
            let url = api_url.trim();
            let parsed: Option<http::Uri> = url.parse().ok();
            let scheme_ok = parsed
                .as_ref()
                .and_then(|u| u.scheme_str())
                .is_some_and(|s| s == "https" || s == "http")
                && parsed.as_ref().and_then(|u| u.host()).is_some();
            if !scheme_ok {
                return Err(Error::invalid(
                    "connection.api_url",
                    "must be an http(s) URL such as https://10.0.0.1:6443",
                ));
            }
            if token.trim().is_empty() || token.len() > 16 * 1024 {
                return Err(Error::invalid(
                    "connection.token",
                    "a bearer token is required",
                ));
            }
            let ca_pem = ca_pem.as_deref().map(str::trim).filter(|c| !c.is_empty());
            let ca = match ca_pem {
                Some(pem) => Some(
                    connect::parse_ca(pem).map_err(|e| Error::invalid("connection.ca_pem", e))?,
                ),
                None => None,
            };
            let config = connect::token_probe_config(url, ca, token.trim())?;
            (
                CheckedConnection {
                    kind: "token",
                    context: None,
                    api_url: Some(url.to_owned()),
                    ca_pem: ca_pem.map(str::to_owned),
                    token: Some(token.trim().to_owned()),
                },
                config,
            )
        }
    };
    connect::probe(app, config)
        .await
        .map_err(|e| Error::invalid(field, e))?;
    Ok(checked)
}

async fn dr_pair_id(app: &App, own: Option<&str>, raw: &str) -> Result<Option<Uuid>> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    if Some(name) == own {
        return Err(Error::invalid(
            "dr_pair",
            "a cluster cannot be its own DR pair",
        ));
    }
    sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", name)
        .fetch_optional(&app.db)
        .await?
        .map(Some)
        .ok_or_else(|| Error::invalid("dr_pair", "no cluster has this name"))
}

/// Every cluster with its inventory and pools, in name order.
pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<Cluster>> {
    ctx.require(Scope::Read)?;
    load(&mut *app.db.acquire().await?, None).await
}

pub async fn get(app: &App, ctx: &Ctx, name: &str) -> Result<ClusterDetail> {
    ctx.require(Scope::Read)?;
    let cluster = one(&mut *app.db.acquire().await?, name).await?;
    let storage_classes = sqlx::query!(
        "SELECT name, provisioner, parameters, reclaim_policy, binding_mode, allow_expansion, is_default
         FROM storage_classes WHERE cluster_id = $1 ORDER BY name",
        cluster.id
    )
    .fetch_all(&app.db)
    .await?
    .into_iter()
    .map(|r| StorageClass {
        name: r.name,
        provisioner: r.provisioner,
        parameters: serde_json::from_value(r.parameters).unwrap_or_default(),
        reclaim_policy: r.reclaim_policy,
        binding_mode: r.binding_mode,
        allow_expansion: r.allow_expansion,
        is_default: r.is_default,
    })
    .collect();
    Ok(ClusterDetail {
        cluster,
        storage_classes,
    })
}

/// A pool's extended resources from its nodes' allocatable and its namespaces' quotas (both
/// `{"nvidia.com/gpu": 8}`), in name order.
fn extended_resources(
    allocatable: &serde_json::Value,
    committed: &serde_json::Value,
) -> Vec<berth_frontend::api::ExtendedResource> {
    let read = |v: &serde_json::Value| -> std::collections::BTreeMap<String, i64> {
        serde_json::from_value(v.clone()).unwrap_or_default()
    };
    let (allocatable, committed) = (read(allocatable), read(committed));
    let names: std::collections::BTreeSet<&String> =
        allocatable.keys().chain(committed.keys()).collect();
    names
        .into_iter()
        .map(|name| berth_frontend::api::ExtendedResource {
            name: name.clone(),
            allocatable: allocatable.get(name).copied().unwrap_or(0),
            committed: committed.get(name).copied().unwrap_or(0),
        })
        .collect()
}

/// Clusters (all, or the one named) as `conn` sees them — inside a transaction, its own writes.
/// Every cluster with its pools, for the service layer's own use (no permission check).
pub async fn load_all(conn: &mut sqlx::PgConnection) -> Result<Vec<Cluster>> {
    load(conn, None).await
}

async fn load(conn: &mut sqlx::PgConnection, only: Option<&str>) -> Result<Vec<Cluster>> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.name, c.display_name, c.region, c.environment AS "environment: Environment", c.layer,
                  p.name AS "dr_pair?", c.labels,
                  c.connection, c.disabled, c.prometheus_url,
                  i.reachable AS "reachable?", i.last_error, i.last_attempt_at AS "last_attempt_at?", i.last_success_at,
                  i.kubernetes_version, i.node_count AS "node_count?", i.ready_node_count AS "ready_node_count?",
                  i.velero_installed AS "velero_installed?", i.validating_policies AS "validating_policies?",
                  i.mutating_policies, i.kyverno_policies, c.policy_engine AS "policy_engine: PolicyEngine",
                  (SELECT count(*) FROM namespaces n WHERE n.cluster_id = c.id AND n.state <> 'decommissioned'
                     AND n.pinning->>'verdict' = 'not_enforced') AS "pinning_not_enforced!",
                  c.delivery AS "delivery: DeliveryMode", g.name AS "git_repository?", c.git_path, c.git_shared_path, c.git_review
           FROM clusters c
           LEFT JOIN clusters p ON p.id = c.dr_pair_id
           LEFT JOIN git_repositories g ON g.id = c.git_repository_id
           LEFT JOIN cluster_inventory i ON i.cluster_id = c.id
           WHERE $1::text IS NULL OR c.name = $1
           ORDER BY c.name"#,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let pools = sqlx::query!(
        r#"SELECT np.cluster_id, np.name, np.label_key, np.node_count, np.ready_count, np.zones, np.instance_types,
                  np.taints, np.common_labels, np.cpu_millis, np.memory_bytes, np.pods, np.ephemeral_bytes,
                  np.extended,
                  coalesce(c.cpu, 0) AS "committed_cpu!", coalesce(c.memory, 0) AS "committed_memory!",
                  (SELECT coalesce(jsonb_object_agg(x.resource, x.total), '{}')
                     FROM (SELECT substr(e.key, 10) AS resource,
                                  sum(CASE WHEN e.value ~ '^[0-9]{1,12}$' THEN e.value::bigint ELSE 0 END) AS total
                           FROM namespaces n, jsonb_each_text(coalesce(n.spec->'quota'->'other', '{}')) e
                           WHERE n.cluster_id = np.cluster_id AND n.node_pool = np.name AND n.state <> 'decommissioned'
                             AND e.key LIKE 'requests.%/%'
                           GROUP BY 1) x) AS "committed_extended!"
           FROM node_pools np
           LEFT JOIN (SELECT cluster_id, node_pool, sum(quota_cpu_millis)::bigint AS cpu,
                             sum(quota_memory_bytes)::bigint AS memory
                      FROM namespaces WHERE state <> 'decommissioned' AND cluster_id = ANY($1)
                      GROUP BY cluster_id, node_pool) c
                  ON c.cluster_id = np.cluster_id AND c.node_pool = np.name
           WHERE np.cluster_id = ANY($1)
           ORDER BY np.name"#,
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = OffsetDateTime::now_utc();
    Ok(rows
        .into_iter()
        .map(|r| {
            let inventory = match (r.reachable, r.last_attempt_at) {
                (Some(reachable), Some(last_attempt_at)) => Some(InventoryState {
                    reachable,
                    last_error: r.last_error,
                    last_attempt_at,
                    last_success_at: r.last_success_at,
                    data_age_seconds: r.last_success_at.map(|t| (now - t).whole_seconds()),
                    kubernetes_version: r.kubernetes_version,
                    node_count: r.node_count.unwrap_or(0),
                    ready_node_count: r.ready_node_count.unwrap_or(0),
                    velero_installed: r.velero_installed.unwrap_or(false),
                    validating_policies: r.validating_policies.unwrap_or(false),
                    pinning: crate::tenancy::pinning::mechanism(
                        r.validating_policies.unwrap_or(false),
                        r.mutating_policies.as_deref(),
                        crate::tenancy::pinning::kyverno_in_use(
                            r.policy_engine,
                            r.kyverno_policies.clone(),
                        )
                        .as_deref(),
                    ),
                    kyverno_policies: r.kyverno_policies,
                    mutating_policies: r.mutating_policies,
                    pinning_not_enforced: r.pinning_not_enforced,
                }),
                _ => None,
            };
            let cluster_pools = pools
                .iter()
                .filter(|p| p.cluster_id == r.id)
                .map(|p| {
                    let allocatable = Resources {
                        cpu_millis: p.cpu_millis,
                        memory_bytes: p.memory_bytes,
                        pods: p.pods,
                        ephemeral_bytes: p.ephemeral_bytes,
                    };
                    let committed = Resources {
                        cpu_millis: p.committed_cpu,
                        memory_bytes: p.committed_memory,
                        ..Default::default()
                    };
                    let ratio = |c: i64, a: i64| if a > 0 { c as f64 / a as f64 } else { 0.0 };
                    NodePool {
                        name: p.name.clone(),
                        label_key: p.label_key.clone(),
                        node_count: p.node_count,
                        ready_count: p.ready_count,
                        zones: p.zones.clone(),
                        instance_types: p.instance_types.clone(),
                        taints: serde_json::from_value::<Vec<Taint>>(p.taints.clone())
                            .unwrap_or_default(),
                        common_labels: serde_json::from_value(p.common_labels.clone())
                            .unwrap_or_default(),
                        allocatable,
                        committed,
                        overcommit_ratio: ratio(p.committed_cpu, p.cpu_millis)
                            .max(ratio(p.committed_memory, p.memory_bytes)),
                        extended: extended_resources(&p.extended, &p.committed_extended),
                    }
                })
                .collect();
            Cluster {
                id: r.id,
                name: r.name,
                display_name: r.display_name,
                region: r.region,
                environment: r.environment,
                layer: r.layer,
                dr_pair: r.dr_pair,
                labels: serde_json::from_value(r.labels).unwrap_or_default(),
                simulated: r.connection == "simulated",
                connection: r.connection,
                disabled: r.disabled,
                prometheus_url: r.prometheus_url,
                inventory,
                pools: cluster_pools,
                delivery: berth_frontend::api::Delivery {
                    mode: r.delivery,
                    repository: r.git_repository,
                    path: r.git_path,
                    shared_path: r.git_shared_path,
                    review: r.git_review,
                },
                policy_engine: r.policy_engine,
            }
        })
        .collect())
}

pub(crate) async fn one(conn: &mut sqlx::PgConnection, name: &str) -> Result<Cluster> {
    load(conn, Some(name))
        .await?
        .pop()
        .ok_or(Error::NotFound("cluster"))
}

/// What the audit trail keeps of a cluster: everything but credentials.
fn audit_view(c: &Cluster) -> serde_json::Value {
    json!({"name": c.name, "display_name": c.display_name, "region": c.region, "environment": c.environment,
           "layer": c.layer, "dr_pair": c.dr_pair, "labels": c.labels, "connection": c.connection, "disabled": c.disabled,
           "prometheus_url": c.prometheus_url, "policy_engine": c.policy_engine})
}

pub async fn create(app: &App, ctx: &Ctx, input: NewCluster) -> Result<Cluster> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let name = collect(&mut errors, ClusterName::parse("name", &input.name));
    let display = collect(
        &mut errors,
        short_text("display_name", &input.display_name, 100),
    );
    let region = collect(&mut errors, short_text("region", &input.region, 64));
    let environment = collect(
        &mut errors,
        word::<Environment>("environment", &input.environment),
    );
    let layer = collect(&mut errors, one_of("layer", &input.layer, &LAYERS));
    collect(&mut errors, check_labels("labels", &input.labels));
    let dr_pair = collect(
        &mut errors,
        dr_pair_id(
            app,
            name.as_ref().map(ClusterName::as_str),
            input.dr_pair.as_deref().unwrap_or_default(),
        )
        .await,
    );
    let (Some(name), Some(display), Some(region), Some(environment), Some(layer), Some(dr_pair)) =
        (name, display, region, environment, layer, dr_pair)
    else {
        return Err(Error::Invalid(errors));
    };
    if sqlx::query_scalar!(
        "SELECT 1 AS \"x!\" FROM clusters WHERE name = $1",
        name.as_str()
    )
    .fetch_optional(&app.db)
    .await?
    .is_some()
    {
        return Err(Error::conflict(
            "name",
            "a cluster with this name is registered",
        ));
    }
    let connection = check_connection(app, &input.connection).await?;
    let ca_sealed = connection
        .ca_pem
        .as_deref()
        .map(|c| app.sealer.seal(c))
        .transpose()?;
    let token_sealed = connection
        .token
        .as_deref()
        .map(|t| app.sealer.seal(t))
        .transpose()?;
    let id = Uuid::new_v4();
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO clusters (id, name, display_name, region, environment, layer, dr_pair_id, labels, connection,
                               kubeconfig_context, api_url, ca_sealed, token_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        id,
        name.as_str(),
        display,
        region,
        environment.as_str(),
        layer,
        dr_pair,
        json!(input.labels),
        connection.kind,
        connection.context,
        connection.api_url,
        ca_sealed,
        token_sealed
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "clusters_name_key", "name", "a cluster with this name is registered"))?;
    let cluster = one(&mut tx, name.as_str()).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.registered", "cluster", name.as_str())
            .after(audit_view(&cluster)),
    )
    .await?;
    tx.commit().await?;
    Ok(cluster)
}

/// Registers a cluster of the built-in simulator (the demo fleet). No probe: the simulator
/// runs inside `berth serve`, not in the process that registers.
pub async fn register_simulated(
    app: &App,
    ctx: &Ctx,
    spec: &berth_fleet_sim::ClusterSpec,
) -> Result<bool> {
    let id = Uuid::new_v4();
    let token_sealed = spec
        .token
        .as_deref()
        .map(|t| app.sealer.seal(t))
        .transpose()?;
    let mut tx = app.db.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO clusters (id, name, display_name, region, environment, layer, labels, connection, token_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'simulated', $8)
         ON CONFLICT (name) DO NOTHING",
        id,
        spec.name,
        spec.display_name.clone().unwrap_or_else(|| spec.name.clone()),
        spec.region,
        spec.environment,
        spec.layer,
        json!({"berth.dev/simulated": "true"}),
        token_sealed
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        let cluster = one(&mut tx, &spec.name).await?;
        audit::record(
            &mut tx,
            ctx,
            audit::Entry::new("cluster.registered", "cluster", &spec.name)
                .after(audit_view(&cluster)),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Links simulated clusters to their DR pairs once all of them exist.
pub async fn pair_simulated(app: &App, spec: &berth_fleet_sim::FleetSpec) -> Result<()> {
    for c in &spec.clusters {
        if let Some(pair) = &c.dr_pair {
            sqlx::query!(
                "UPDATE clusters SET dr_pair_id = (SELECT id FROM clusters WHERE name = $2)
                 WHERE name = $1 AND dr_pair_id IS NULL AND connection = 'simulated'",
                c.name,
                pair
            )
            .execute(&app.db)
            .await?;
        }
    }
    Ok(())
}

pub async fn update(app: &App, ctx: &Ctx, name: &str, input: ClusterUpdate) -> Result<Cluster> {
    ctx.require_admin(Scope::Approve)?;
    let before = one(&mut *app.db.acquire().await?, name).await?;
    let mut errors = FieldErrors::new();
    let display = input
        .display_name
        .as_deref()
        .map(|v| collect(&mut errors, short_text("display_name", v, 100)));
    let region = input
        .region
        .as_deref()
        .map(|v| collect(&mut errors, short_text("region", v, 64)));
    let environment = input
        .environment
        .as_deref()
        .map(|v| collect(&mut errors, word::<Environment>("environment", v)));
    let layer = input
        .layer
        .as_deref()
        .map(|v| collect(&mut errors, one_of("layer", v, &LAYERS)));
    if let Some(labels) = &input.labels {
        collect(&mut errors, check_labels("labels", labels));
    }
    let engine = input
        .policy_engine
        .as_deref()
        .map(|v| collect(&mut errors, word::<PolicyEngine>("policy_engine", v)));
    let dr_pair = match input.dr_pair.as_deref() {
        Some(raw) => collect(&mut errors, dr_pair_id(app, Some(name), raw).await).map(Some),
        None => Some(None),
    };
    let prometheus_url = input.prometheus_url.as_deref().map(str::trim).map(|url| {
        if url.is_empty() {
            return None;
        }
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            errors.insert(
                "prometheus_url".into(),
                "must be an http(s) URL such as http://prometheus.monitoring:9090".into(),
            );
        }
        Some(url.to_owned())
    });
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let connection = match &input.connection {
        Some(_) if before.simulated => {
            return Err(Error::invalid(
                "connection",
                "a simulated cluster's connection cannot be changed",
            ))
        }
        Some(c) => Some(check_connection(app, c).await?),
        None => None,
    };
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "UPDATE clusters SET
            display_name = coalesce($2, display_name), region = coalesce($3, region),
            environment = coalesce($4, environment), layer = coalesce($5, layer),
            dr_pair_id = CASE WHEN $6 THEN $7 ELSE dr_pair_id END,
            labels = coalesce($8, labels), disabled = coalesce($9, disabled),
            prometheus_url = CASE WHEN $10 THEN $11 ELSE prometheus_url END,
            policy_engine = coalesce($12, policy_engine), updated_at = now()
         WHERE name = $1",
        name,
        display.flatten(),
        region.flatten(),
        environment.flatten().map(Environment::as_str),
        layer.flatten(),
        input.dr_pair.is_some(),
        dr_pair.flatten().flatten(),
        input.labels.as_ref().map(|l| json!(l)),
        input.disabled,
        prometheus_url.is_some(),
        prometheus_url.flatten(),
        engine.flatten().map(PolicyEngine::as_str)
    )
    .execute(&mut *tx)
    .await?;
    let engine_changed = engine.flatten().is_some_and(|e| e != before.policy_engine);
    let reapplied = if engine_changed {
        crate::tenancy::pinning::engine_changed(&mut tx, before.id).await?
    } else {
        0
    };
    if let Some(c) = connection {
        let ca_sealed = c
            .ca_pem
            .as_deref()
            .map(|v| app.sealer.seal(v))
            .transpose()?;
        let token_sealed = c.token.as_deref().map(|v| app.sealer.seal(v)).transpose()?;
        sqlx::query!(
            "UPDATE clusters SET connection = $2, kubeconfig_context = $3, api_url = $4, ca_sealed = $5, token_sealed = $6
             WHERE name = $1",
            name,
            c.kind,
            c.context,
            c.api_url,
            ca_sealed,
            token_sealed
        )
        .execute(&mut *tx)
        .await?;
    }
    let after = one(&mut tx, name).await?;
    let mut after_view = audit_view(&after);
    if input.connection.is_some() {
        after_view["connection_changed"] = json!(true);
    }
    if engine_changed {
        after_view["namespaces_reapplied"] = json!(reapplied);
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.updated", "cluster", name)
            .before(audit_view(&before))
            .after(after_view),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn remove(app: &App, ctx: &Ctx, name: &str) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let before = one(&mut *app.db.acquire().await?, name).await?;
    let mut tx = app.db.begin().await?;
    let namespaces = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM namespaces WHERE cluster_id = $1 AND state <> 'decommissioned'",
        before.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if namespaces > 0 {
        return Err(Error::conflict(
            "name",
            format!("{namespaces} Berth namespaces live on this cluster; decommission them or disable the cluster instead"),
        ));
    }
    sqlx::query!(
        "UPDATE clusters SET dr_pair_id = NULL WHERE dr_pair_id = $1",
        before.id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM namespaces WHERE cluster_id = $1", before.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query!("DELETE FROM clusters WHERE id = $1", before.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.removed", "cluster", name).before(audit_view(&before)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Syncs one cluster now (admins); the outcome is also what the inventory records.
pub async fn sync_now(app: &App, ctx: &Ctx, name: &str) -> Result<SyncOutcome> {
    ctx.require_admin(Scope::Approve)?;
    let id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", name)
        .fetch_optional(&app.db)
        .await?
        .ok_or(Error::NotFound("cluster"))?;
    let outcome = inventory::sync_cluster(app, id, name).await?;
    let mut tx = app.db.begin().await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.synced", "cluster", name)
            .after(json!({"reachable": outcome.reachable, "nodes": outcome.node_count, "error": outcome.error})),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Syncs every enabled cluster now (admins).
pub async fn sync_all(app: &App, ctx: &Ctx) -> Result<Vec<SyncOutcome>> {
    ctx.require_admin(Scope::Approve)?;
    let outcomes = inventory::sync_fleet(app).await?;
    let mut tx = app.db.begin().await?;
    let reachable = outcomes.iter().filter(|o| o.reachable).count();
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("fleet.synced", "fleet", "all")
            .after(json!({"clusters": outcomes.len(), "reachable": reachable})),
    )
    .await?;
    tx.commit().await?;
    Ok(outcomes)
}

fn simulated_cluster<'a>(
    app: &'a App,
    cluster: &Cluster,
) -> Result<&'a berth_fleet_sim::SimCluster> {
    if !cluster.simulated {
        return Err(Error::conflict(
            "name",
            "only simulated clusters take injected faults",
        ));
    }
    app.simulator
        .as_ref()
        .and_then(|s| s.cluster(&cluster.name))
        .ok_or_else(|| Error::conflict("name", "the fleet simulator is not running in this server"))
}

pub async fn faults(app: &App, ctx: &Ctx, name: &str) -> Result<SimulatorFaults> {
    ctx.require_admin(Scope::Read)?;
    let cluster = one(&mut *app.db.acquire().await?, name).await?;
    let f = simulated_cluster(app, &cluster)?.faults();
    Ok(SimulatorFaults {
        latency_ms: f.latency_ms,
        error_rate: f.error_rate,
        hang: f.hang,
        down: f.down,
    })
}

/// Injects faults into a simulated cluster (demo mode), to watch Berth cope.
pub async fn set_faults(
    app: &App,
    ctx: &Ctx,
    name: &str,
    input: SimulatorFaults,
) -> Result<SimulatorFaults> {
    ctx.require_admin(Scope::Approve)?;
    if !(0.0..=1.0).contains(&input.error_rate) || input.error_rate.is_nan() {
        return Err(Error::invalid("error_rate", "must be between 0 and 1"));
    }
    if input.latency_ms > 120_000 {
        return Err(Error::invalid("latency_ms", "must be at most 120000"));
    }
    let cluster = one(&mut *app.db.acquire().await?, name).await?;
    let sim = simulated_cluster(app, &cluster)?;
    let before = sim.faults();
    sim.set_faults(&berth_fleet_sim::FaultSettings {
        latency_ms: input.latency_ms,
        error_rate: input.error_rate,
        hang: input.hang,
        down: input.down,
    })
    .await
    .map_err(Error::Internal)?;
    let mut tx = app.db.begin().await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.faults_set", "cluster", name)
            .before(json!(before))
            .after(json!(input)),
    )
    .await?;
    tx.commit().await?;
    faults(app, &ctx.reading_back(), name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_labels() {
        assert!(ClusterName::parse("n", "prod-shanghai-1").is_ok());
        for bad in ["", "Prod", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(ClusterName::parse("n", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_follow_kubernetes_syntax() {
        let ok = BTreeMap::from([
            ("team".to_owned(), "payments".to_owned()),
            ("example.com/tier".to_owned(), "".to_owned()),
        ]);
        assert!(check_labels("labels", &ok).is_ok());
        let bad = BTreeMap::from([("bad key".to_owned(), "x".to_owned())]);
        assert!(check_labels("labels", &bad).is_err());
        let bad_value = BTreeMap::from([("k".to_owned(), "-x".to_owned())]);
        assert!(check_labels("labels", &bad_value).is_err());
    }
}
