//! A namespace's jobs against its cluster: server-side apply of its objects with one field
//! manager, deletion until the cluster has finalised it, and what each outcome changes in
//! Berth (the namespace's and request's state, follow-up jobs, audit rows). The queue that
//! runs them is `crate::jobs`; the drift check is `drift.rs`.

use std::time::Duration;

use berth_frontend::api::{
    Guardrails, LayerGuardrails, NamespaceSpec, NamespaceState, PinVerdict, Taint,
};
use k8s_openapi::api::{
    core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount},
    networking::v1::NetworkPolicy,
    rbac::v1::{Role, RoleBinding},
    scheduling::v1::PriorityClass,
};
use kube::{
    api::{Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::ApiResource,
    Client,
};
use serde_json::{json, Value};
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    objects,
    pinning::{self, Pool, Served},
};
use crate::{
    audit,
    auth::Ctx,
    fleet::connect,
    jobs::{self, Job, Kind, Outcome},
    App, Error, Result,
};

/// What applying a namespace needs to know about it.
pub struct Facts {
    pub id: Uuid,
    pub name: String,
    pub team_id: Uuid,
    pub team: String,
    pub layer: String,
    pub environment: String,
    pub cluster_id: Uuid,
    pub pool: String,
    pub pool_label: Option<String>,
    pub taints: Option<Json<Vec<Taint>>>,
    pub classes: Vec<String>,
    /// The extended resources the cluster's nodes advertise.
    pub extended: Vec<String>,
    pub spec: Json<NamespaceSpec>,
    pub state: NamespaceState,
    pub expires_at: Option<OffsetDateTime>,
    pub burst_until: Option<OffsetDateTime>,
    pub base_spec: Option<Value>,
    /// What the cluster serves for pinning (from its last sync).
    pub validating_policies: bool,
    pub mutating_policies: Option<String>,
    /// The version of Kyverno's policies to pin with, where an admin chose Kyverno and the
    /// cluster serves it.
    pub kyverno_policies: Option<String>,
    /// The guardrails of the namespace's environment, and of its cluster's layer.
    pub guardrails: Json<Guardrails>,
    pub layer_guardrails: Json<LayerGuardrails>,
}

impl Facts {
    pub fn served(&self) -> Served {
        Served {
            validating: self.validating_policies,
            mutating: self.mutating_policies.clone(),
            kyverno: self.kyverno_policies.clone(),
        }
    }
}

pub async fn facts(conn: &mut PgConnection, id: Uuid) -> Result<Facts> {
    sqlx::query_as!(
        Facts,
        r#"SELECT n.id, n.name, n.team_id, t.name AS team, c.layer, n.environment, n.cluster_id, n.node_pool AS pool,
                  p.label_key AS "pool_label?", p.taints AS "taints?: Json<Vec<Taint>>",
                  array(SELECT s.name FROM storage_classes s WHERE s.cluster_id = n.cluster_id ORDER BY s.name) AS "classes!",
                  array(SELECT DISTINCT e.key FROM node_pools np, jsonb_each_text(np.extended) e
                        WHERE np.cluster_id = n.cluster_id AND e.value::numeric > 0 ORDER BY e.key) AS "extended!",
                  n.spec AS "spec: Json<NamespaceSpec>", n.state AS "state: NamespaceState", n.expires_at, n.burst_until, n.base_spec,
                  coalesce(i.validating_policies, false) AS "validating_policies!", i.mutating_policies AS "mutating_policies?",
                  CASE WHEN c.policy_engine = 'kyverno' THEN i.kyverno_policies END AS "kyverno_policies?",
                  (SELECT to_jsonb(g) FROM guardrails g WHERE g.environment = n.environment) AS "guardrails!: Json<Guardrails>",
                  (SELECT to_jsonb(l) FROM layer_guardrails l WHERE l.layer = c.layer) AS "layer_guardrails!: Json<LayerGuardrails>"
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           LEFT JOIN cluster_inventory i ON i.cluster_id = n.cluster_id
           LEFT JOIN node_pools p ON p.cluster_id = n.cluster_id AND p.name = n.node_pool
           WHERE n.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("namespace"))
}

/// Which live namespaces to apply again: those of a cluster, a layer or an environment.
#[derive(Default)]
pub struct Reapply<'a> {
    pub cluster_id: Option<Uuid>,
    pub layer: Option<&'a str>,
    pub environment: Option<&'a str>,
}

/// Queues an apply of every live namespace `which` names, in the caller's transaction, once
/// (a namespace with an apply already queued is left alone); returns how many were queued.
pub async fn reapply(tx: &mut PgConnection, which: Reapply<'_>) -> Result<usize> {
    let namespaces = sqlx::query!(
        "SELECT n.id, n.cluster_id FROM namespaces n JOIN clusters c ON c.id = n.cluster_id
         WHERE n.state IN ('provisioning', 'ready', 'failed')
           AND ($1::uuid IS NULL OR n.cluster_id = $1)
           AND ($2::text IS NULL OR c.layer = $2)
           AND ($3::text IS NULL OR n.environment = $3)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.namespace_id = n.id AND j.kind = 'apply' AND j.state = 'queued')",
        which.cluster_id,
        which.layer,
        which.environment
    )
    .fetch_all(&mut *tx)
    .await?;
    for n in &namespaces {
        jobs::enqueue(tx, Kind::Apply, n.id, None, n.cluster_id, None).await?;
    }
    Ok(namespaces.len())
}

/// The manifests for `f`, or why they cannot be built.
pub fn desired(
    app: &App,
    f: &Facts,
) -> std::result::Result<Vec<(&'static str, String, Value)>, String> {
    let sized = super::stored_sized(&f.spec.0).map_err(|e| e.to_string())?;
    let Some(pool_label) = &f.pool_label else {
        return Err(format!(
            "node pool {} is not in the cluster's inventory; sync the cluster or amend the pool",
            f.pool
        ));
    };
    let taints = f.taints.as_ref().map(|t| t.0.clone()).unwrap_or_default();
    let served = f.served();
    let guardrails = super::guardrails::effective(&f.guardrails.0, &f.layer_guardrails.0);
    let inputs = objects::Inputs {
        namespace: &f.name,
        team: &f.team,
        layer: &f.layer,
        environment: &f.environment,
        pool_label,
        pool: &f.pool,
        taints: &taints,
        served: &served,
        guardrails: &guardrails,
        priority: f.layer_guardrails.0.priority(),
        cluster_classes: &f.classes,
        cluster_extended: &f.extended,
        spec: &sized,
        group: objects::group_name(&app.config.team_group_pattern, &f.team),
    };
    Ok(objects::desired(&inputs))
}

/// The API resource of a manifest Berth applies.
fn resource(kind: &str, api_version: &str) -> ApiResource {
    match kind {
        "Namespace" => ApiResource::erase::<Namespace>(&()),
        "ResourceQuota" => ApiResource::erase::<ResourceQuota>(&()),
        "LimitRange" => ApiResource::erase::<LimitRange>(&()),
        "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        "Role" => ApiResource::erase::<Role>(&()),
        "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
        "PriorityClass" => ApiResource::erase::<PriorityClass>(&()),
        // The pool policies: cluster-scoped, in the group and version the cluster serves
        // (MutatingAdmissionPolicy's, Kyverno's).
        policy => {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let plural = match policy {
                "ValidatingAdmissionPolicy" => "validatingadmissionpolicies",
                "ValidatingAdmissionPolicyBinding" => "validatingadmissionpolicybindings",
                "MutatingAdmissionPolicy" => "mutatingadmissionpolicies",
                "ValidatingPolicy" => "validatingpolicies",
                "MutatingPolicy" => "mutatingpolicies",
                _ => "mutatingadmissionpolicybindings",
            };
            let gvk = GroupVersionKind::gvk(group, version, policy);
            ApiResource::from_gvk_with_plural(&gvk, plural)
        }
    }
}

/// The API of one manifest: namespaced in `namespace`, or cluster-wide for the Namespace
/// and the shared policies and PriorityClasses.
pub(crate) fn api(client: &Client, namespace: &str, manifest: &Value) -> Api<DynamicObject> {
    let kind = manifest["kind"].as_str().unwrap_or_default();
    let ar = resource(kind, manifest["apiVersion"].as_str().unwrap_or("v1"));
    if kind == "Namespace" || shared(kind) {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), namespace, &ar)
    }
}

/// A cluster's error, said briefly and without credentials.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => {
            let text = other.to_string();
            if text.len() > 300 {
                format!("{}…", &text[..300])
            } else {
                text
            }
        }
    }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Applies every object in order; stops at the first failure (later objects depend on the
/// Namespace) and records each outcome.
async fn apply_all(app: &App, f: &Facts) -> Result<Outcome> {
    let manifests = match desired(app, f) {
        Ok(m) => m,
        Err(reason) => return Ok(Outcome::Retry(reason)),
    };
    let client = match connect::client(app, f.cluster_id).await {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Retry(format!("cannot reach the cluster: {e}"))),
    };
    // Shared cluster-wide objects the cluster already has as desired are not sent again.
    let applied = shared_digests(app, f.cluster_id).await?;
    let params = PatchParams::apply(objects::FIELD_MANAGER).force();
    let apply = |kind: &'static str, name: &String, manifest: &Value| {
        let api = api(&client, &f.name, manifest);
        let (name, manifest, params) = (name.clone(), manifest.clone(), params.clone());
        let current = shared(kind)
            && applied.get(&(kind.to_owned(), name.clone())) == Some(&digest(&manifest));
        async move {
            if current {
                return (kind, name, None);
            }
            let mut result = api.patch(&name, &params, &Patch::Apply(&manifest)).await;
            // A connection the server closed under a pooled client fails before any answer;
            // an apply is idempotent, so it is sent once more at once rather than after the
            // job's backoff.
            if matches!(&result, Err(e) if !matches!(e, kube::Error::Api(_))) {
                result = api.patch(&name, &params, &Patch::Apply(&manifest)).await;
            }
            (kind, name, result.err().map(|e| describe(&e)))
        }
    };
    // The Namespace first; the objects inside it then go together.
    let Some(((kind, name, manifest), rest)) = manifests.split_first() else {
        return Ok(Outcome::Done);
    };
    let mut outcomes = vec![apply(kind, name, manifest).await];
    if outcomes[0].2.is_none() {
        outcomes
            .extend(futures::future::join_all(rest.iter().map(|(k, n, m)| apply(k, n, m))).await);
    }
    let failure = outcomes
        .iter()
        .find_map(|(kind, name, error)| error.as_ref().map(|e| format!("{kind} {name}: {e}")));
    let kinds: Vec<String> = outcomes.iter().map(|o| o.0.to_owned()).collect();
    let names: Vec<String> = outcomes.iter().map(|o| o.1.clone()).collect();
    let results: Vec<String> = outcomes
        .iter()
        .map(|o| if o.2.is_some() { "failed" } else { "applied" }.to_owned())
        .collect();
    let errors: Vec<Option<String>> = outcomes.iter().map(|o| o.2.clone()).collect();
    sqlx::query!(
        "INSERT INTO namespace_objects (namespace_id, kind, name, outcome, error, at)
         SELECT $1, k, n, o, e, now() FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, n, o, e)
         ON CONFLICT (namespace_id, kind, name) DO UPDATE SET outcome = excluded.outcome, error = excluded.error, at = now()",
        f.id,
        &kinds,
        &names,
        &results,
        &errors as &[Option<String>]
    )
    .execute(&app.db)
    .await?;
    record_shared(app, f.cluster_id, &manifests, &outcomes).await?;
    if failure.is_none() {
        record_proof(app, &client, f).await?;
    }
    Ok(match failure {
        None => Outcome::Done,
        Some(reason) => Outcome::Retry(reason),
    })
}

/// Whether `kind` is a cluster-scoped object many namespaces share (the pool and workload
/// policies and their bindings, the API server's or Kyverno's): applied once per cluster and
/// whenever it changes, not with every namespace.
pub fn shared(kind: &str) -> bool {
    kind.contains("AdmissionPolicy")
        || matches!(
            kind,
            "PriorityClass" | "MutatingPolicy" | "ValidatingPolicy"
        )
}

/// The digest of a manifest as Berth builds it (the same inputs give the same bytes).
pub(crate) fn digest(manifest: &Value) -> String {
    use sha2::Digest;
    format!(
        "{:x}",
        sha2::Sha256::digest(manifest.to_string().as_bytes())
    )
}

/// (kind, name) → digest of every shared object last applied to the cluster.
pub(crate) async fn shared_digests(
    app: &App,
    cluster_id: Uuid,
) -> Result<std::collections::HashMap<(String, String), String>> {
    let rows = sqlx::query!(
        "SELECT kind, name, digest FROM cluster_objects WHERE cluster_id = $1",
        cluster_id
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.kind, r.name), r.digest))
        .collect())
}

/// Keeps the digest of each shared object the cluster now has, and forgets one whose apply
/// failed, so the next namespace's apply sends it again.
pub(crate) async fn record_shared(
    app: &App,
    cluster_id: Uuid,
    manifests: &[(&'static str, String, Value)],
    outcomes: &[(&'static str, String, Option<String>)],
) -> Result<()> {
    let (mut kinds, mut names, mut digests) = (Vec::new(), Vec::new(), Vec::new());
    let (mut failed_kinds, mut failed_names) = (Vec::new(), Vec::new());
    for ((kind, name, manifest), (_, _, error)) in manifests.iter().zip(outcomes) {
        if !shared(kind) {
            continue;
        }
        match error {
            None => {
                kinds.push(kind.to_string());
                names.push(name.clone());
                digests.push(digest(manifest));
            }
            Some(_) => {
                failed_kinds.push(kind.to_string());
                failed_names.push(name.clone());
            }
        }
    }
    // Applies that did not run (the Namespace failed first) have no outcome and change nothing.
    sqlx::query!(
        "INSERT INTO cluster_objects (cluster_id, kind, name, digest, applied_at)
         SELECT $1, k, n, d, now() FROM unnest($2::text[], $3::text[], $4::text[]) AS t(k, n, d)
         ON CONFLICT (cluster_id, kind, name) DO UPDATE SET digest = excluded.digest, applied_at = now()
         WHERE cluster_objects.digest <> excluded.digest",
        cluster_id,
        &kinds,
        &names,
        &digests
    )
    .execute(&app.db)
    .await?;
    forget_shared(app, cluster_id, &failed_kinds, &failed_names).await
}

/// Forgets that the cluster has these shared objects (missing, changed or failed): the next
/// apply of any namespace that needs them sends them again.
pub(crate) async fn forget_shared(
    app: &App,
    cluster_id: Uuid,
    kinds: &[String],
    names: &[String],
) -> Result<()> {
    if kinds.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM cluster_objects o USING unnest($2::text[], $3::text[]) AS t(k, n)
         WHERE o.cluster_id = $1 AND o.kind = t.k AND o.name = t.n",
        cluster_id,
        kinds,
        names
    )
    .execute(&app.db)
    .await?;
    Ok(())
}

/// Proves the namespace's pinning on its cluster and keeps what was found.
pub(crate) async fn record_proof(app: &App, client: &Client, f: &Facts) -> Result<()> {
    let taints = f.taints.as_ref().map(|t| t.0.clone()).unwrap_or_default();
    let pool = Pool {
        name: &f.pool,
        label_key: f.pool_label.as_deref().unwrap_or(""),
        taints: &taints,
    };
    let proof = pinning::prove(client, &f.name, &pool, f.served().mechanism()).await;
    if proof.verdict == PinVerdict::NotEnforced {
        tracing::warn!(namespace = %f.name, pool = %f.pool, "node-pool pinning is not enforced");
    }
    sqlx::query!(
        "UPDATE namespaces SET pinning = $2 WHERE id = $1",
        f.id,
        Json(&proof) as _
    )
    .execute(&app.db)
    .await?;
    Ok(())
}

/// Deletes the Namespace; done once the cluster no longer has it.
async fn delete_namespace(app: &App, f: &Facts) -> Result<Outcome> {
    let client = match connect::client(app, f.cluster_id).await {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Retry(format!("cannot reach the cluster: {e}"))),
    };
    let namespaces: Api<Namespace> = Api::all(client);
    match namespaces.delete(&f.name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if not_found(&e) => return Ok(Outcome::Done),
        Err(e) => return Ok(Outcome::Retry(describe(&e))),
    }
    match namespaces.get_opt(&f.name).await {
        Ok(None) => Ok(Outcome::Done),
        Ok(Some(_)) => Ok(Outcome::Wait(Duration::from_secs(2))),
        Err(e) => Ok(Outcome::Retry(describe(&e))),
    }
}

/// Applies a namespace's objects (an `apply` job); nothing to do once it is being
/// decommissioned.
pub async fn apply(app: &App, job: &Job) -> Result<Outcome> {
    let Some(ns) = job.namespace_id else {
        return Ok(Outcome::Done);
    };
    let mut conn = app.db.acquire().await?;
    let f = facts(&mut conn, ns).await?;
    let gitops = crate::gitops::deliver::target(&mut conn, f.cluster_id).await?;
    drop(conn);
    match (f.state.is_leaving(), gitops) {
        (true, _) => Ok(Outcome::Done),
        (false, Some(target)) => crate::gitops::deliver::apply(app, job, &f, &target).await,
        (false, None) => apply_all(app, &f).await,
    }
}

/// Deletes a namespace (a `decommission` job); done once the cluster no longer has it.
pub async fn delete(app: &App, job: &Job) -> Result<Outcome> {
    let Some(ns) = job.namespace_id else {
        return Ok(Outcome::Done);
    };
    let mut conn = app.db.acquire().await?;
    let f = facts(&mut conn, ns).await?;
    let gitops = crate::gitops::deliver::target(&mut conn, f.cluster_id).await?;
    drop(conn);
    match f.state {
        NamespaceState::Decommissioned => Ok(Outcome::Done),
        NamespaceState::Provisioning
        | NamespaceState::Ready
        | NamespaceState::Failed
        | NamespaceState::Decommissioning => match gitops {
            Some(target) => crate::gitops::deliver::delete(app, job, &f, &target).await,
            None => delete_namespace(app, &f).await,
        },
    }
}

/// A namespace job's failure, recorded with the retry: the namespace and request say
/// `failed` with the error and the next attempt; the first failure is audited.
pub(crate) async fn failed(
    tx: &mut PgConnection,
    ctx: &Ctx,
    job: &Job,
    reason: &str,
    after: Duration,
) -> Result<()> {
    let Some(ns) = job.namespace_id else {
        return Ok(());
    };
    let message = format!(
        "{reason} — retrying in {} s (attempt {})",
        after.as_secs(),
        job.attempts
    );
    let before = sqlx::query!(
        "UPDATE namespaces n SET state = CASE WHEN n.state = 'provisioning' THEN 'failed' ELSE n.state END,
                last_error = $2, updated_at = now()
         FROM namespaces old WHERE n.id = $1 AND old.id = n.id
         RETURNING old.state AS old_state, n.team_id, n.name",
        ns,
        message
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(request) = job.request_id {
        let was = sqlx::query_scalar!(
            "UPDATE namespace_requests r SET state = 'failed', last_error = $2, attempts = $3, updated_at = now()
             FROM namespace_requests old WHERE r.id = $1 AND old.id = r.id RETURNING old.state",
            request,
            message,
            job.attempts
        )
        .fetch_one(&mut *tx)
        .await?;
        if was != "failed" {
            super::webhooks::notify(&mut *tx, "request.failed", request).await?;
        }
    }
    // The first failure is audited; retries of the same failure are visible on the request.
    if before.old_state != "failed" {
        audit::record(
            &mut *tx,
            ctx,
            audit::Entry::new(
                if job.kind == Kind::Apply {
                    "namespace.apply_failed"
                } else {
                    "namespace.decommission_failed"
                },
                "namespace",
                ns,
            )
            .team(before.team_id)
            .after(json!({"namespace": before.name, "error": reason, "attempt": job.attempts})),
        )
        .await?;
    }
    Ok(())
}

/// A namespace job's success: its new state, the request's, follow-up jobs, the audit row.
pub(crate) async fn succeeded(tx: &mut PgConnection, ctx: &Ctx, job: &Job) -> Result<()> {
    let Some(ns) = job.namespace_id else {
        return Ok(());
    };
    let f = facts(&mut *tx, ns).await?;
    let cluster_id = f.cluster_id;
    let (action, after) = match job.kind {
        Kind::Apply => {
            sqlx::query!(
                "UPDATE namespaces SET state = 'ready', last_error = NULL, updated_at = now() WHERE id = $1 AND state IN ('provisioning', 'failed', 'ready')",
                ns
            )
            .execute(&mut *tx)
            .await?;
            let commit = sqlx::query_scalar!("SELECT git_commit FROM namespaces WHERE id = $1", ns)
                .fetch_one(&mut *tx)
                .await?;
            (
                "namespace.provisioned",
                json!({"namespace": f.name, "spec": f.spec.0, "attempts": job.attempts, "commit": commit}),
            )
        }
        Kind::Decommission => {
            sqlx::query!(
                "UPDATE namespaces SET state = 'decommissioned', last_error = NULL, usage = NULL, updated_at = now() WHERE id = $1",
                ns
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!("UPDATE namespace_objects SET outcome = 'deleted', error = NULL, at = now() WHERE namespace_id = $1", ns)
                .execute(&mut *tx)
                .await?;
            sqlx::query!("UPDATE jobs SET state = 'done', finished_at = now() WHERE namespace_id = $1 AND state = 'queued' AND kind IN ('revert_burst', 'expire')", ns)
                .execute(&mut *tx)
                .await?;
            ("namespace.decommissioned", json!({"namespace": f.name}))
        }
        Kind::RevertBurst => {
            let due = job.payload["burst_until"].as_i64();
            let current = f.burst_until.map(|t| t.unix_timestamp());
            let (Some(base), true) = (f.base_spec.clone(), due.is_some() && due == current) else {
                // The burst was replaced by a later change; nothing to revert.
                return Ok(());
            };
            if f.state.is_leaving() {
                return Ok(());
            }
            let spec: NamespaceSpec =
                serde_json::from_value(base.clone()).map_err(anyhow::Error::from)?;
            let amounts = super::stored_sized(&spec)?.amounts();
            sqlx::query!(
                "UPDATE namespaces SET spec = $2, quota_cpu_millis = $3, quota_memory_bytes = $4, quota_storage_bytes = $5,
                        burst_until = NULL, base_spec = NULL, state = 'provisioning', updated_at = now() WHERE id = $1",
                ns, base, amounts.cpu_millis, amounts.memory_bytes, amounts.storage_bytes
            )
            .execute(&mut *tx)
            .await?;
            jobs::enqueue(&mut *tx, Kind::Apply, ns, None, cluster_id, None).await?;
            (
                "namespace.burst_reverted",
                json!({"namespace": f.name, "from": f.spec.0, "to": base}),
            )
        }
        Kind::Expire => {
            let due = f.expires_at.is_some_and(|t| t <= OffsetDateTime::now_utc());
            if !due || f.state.is_leaving() {
                return Ok(());
            }
            sqlx::query!(
                "UPDATE namespaces SET state = 'decommissioning', updated_at = now() WHERE id = $1",
                ns
            )
            .execute(&mut *tx)
            .await?;
            jobs::enqueue(&mut *tx, Kind::Decommission, ns, None, cluster_id, None).await?;
            (
                "namespace.expired",
                json!({"namespace": f.name, "expires_at": f.expires_at.map(|t| t.unix_timestamp())}),
            )
        }
        Kind::Webhook | Kind::Drill | Kind::Prune => return Ok(()),
    };
    if let Some(request) = job.request_id {
        sqlx::query!(
            "UPDATE namespace_requests SET state = 'ready', last_error = NULL, attempts = $2, updated_at = now() WHERE id = $1",
            request,
            job.attempts
        )
        .execute(&mut *tx)
        .await?;
        super::webhooks::notify(&mut *tx, "request.provisioned", request).await?;
    }
    // Last, so the audit chain's lock is held only until the commit.
    let entry = audit::Entry::new(action, "namespace", ns)
        .team(f.team_id)
        .after(after);
    audit::record(&mut *tx, ctx, entry).await?;
    Ok(())
}
