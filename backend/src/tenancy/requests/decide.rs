//! Deciding a request: approve (which writes the namespace and queues its job), amend,
//! reject, or cancel; concurrent decisions are serialised on the request row.

use berth_frontend::api::{Amendment, Decision, NamespaceSpec, RequestDetail, Scope};
use serde_json::json;
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::tenancy::{
    spec::{self},
    Change,
};
use crate::{
    audit,
    auth::{Actor, Ctx},
    error::FieldErrors,
    fields::{collect, short_text, word},
    jobs, App, Error, Result,
};

use super::*;

/// The request row, locked, for a decision.
pub(super) struct Locked {
    kind: RequestKind,
    team_id: Uuid,
    cluster_id: Uuid,
    namespace_id: Option<Uuid>,
    namespace_name: String,
    node_pool: String,
    environment: Environment,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    spec: Json<NamespaceSpec>,
    state: RequestState,
    requested_by: Option<Uuid>,
}

pub(super) async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Locked> {
    sqlx::query_as!(
        Locked,
        r#"SELECT kind AS "kind: RequestKind", team_id, cluster_id, namespace_id, namespace_name, node_pool,
                  environment AS "environment: Environment", purpose, expires_at, burst_until,
                  spec AS "spec: Json<NamespaceSpec>", state AS "state: RequestState", requested_by
           FROM namespace_requests WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("namespace request"))
}

/// The job that carries an approved request's namespace to its cluster.
async fn enqueue_apply(
    tx: &mut PgConnection,
    namespace: Uuid,
    request: Uuid,
    cluster: Uuid,
) -> Result<()> {
    jobs::enqueue(
        tx,
        jobs::Kind::Apply,
        namespace,
        Some(request),
        cluster,
        None,
    )
    .await
}

pub(super) fn must_be_pending(r: &Locked) -> Result<()> {
    if r.state != RequestState::Pending {
        return Err(Error::conflict(
            "state",
            format!("this request is already {}", r.state),
        ));
    }
    Ok(())
}

/// Approves a locked, pending request and starts carrying it out; answers the audit entry
/// for the caller to record last. `approver` is None when a policy approved it.
pub(super) async fn approve_locked(
    tx: &mut PgConnection,
    id: Uuid,
    approver: Option<(Uuid, Option<String>)>,
    policy: Option<&str>,
) -> Result<audit::Entry> {
    let r = lock(&mut *tx, id).await?;
    must_be_pending(&r)?;
    let sized = crate::tenancy::stored_sized(&r.spec.0)?;
    let amounts = sized.amounts();
    let spec_json = serde_json::to_value(&r.spec.0).map_err(anyhow::Error::from)?;
    let namespace_id = match r.kind {
        RequestKind::Create => {
            let ns_id = Uuid::new_v4();
            sqlx::query!(
                "INSERT INTO namespaces (id, team_id, cluster_id, name, node_pool, state, quota_cpu_millis,
                                         quota_memory_bytes, quota_storage_bytes, environment, purpose, spec, expires_at)
                 VALUES ($1, $2, $3, $4, $5, 'provisioning', $6, $7, $8, $9, $10, $11, $12)",
                ns_id, r.team_id, r.cluster_id, r.namespace_name, r.node_pool, amounts.cpu_millis,
                amounts.memory_bytes, amounts.storage_bytes, r.environment.as_str(), r.purpose, spec_json, r.expires_at
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_unique(e, "namespaces_live_name", "name", "a namespace of this name now exists on the cluster"))?;
            enqueue_apply(&mut *tx, ns_id, id, r.cluster_id).await?;
            if let Some(at) = r.expires_at {
                jobs::enqueue(
                    &mut *tx,
                    jobs::Kind::Expire,
                    ns_id,
                    None,
                    r.cluster_id,
                    Some(at),
                )
                .await?;
            }
            ns_id
        }
        RequestKind::QuotaChange => {
            let ns_id = r
                .namespace_id
                .ok_or_else(|| anyhow::anyhow!("quota change without namespace"))?;
            let current = sqlx::query!(
                r#"SELECT state AS "state: NamespaceState", spec, base_spec FROM namespaces WHERE id = $1 FOR UPDATE"#,
                ns_id
            )
            .fetch_one(&mut *tx)
            .await?;
            if current.state.is_leaving() {
                return Err(Error::conflict(
                    "state",
                    "the namespace is being decommissioned",
                ));
            }
            // A burst remembers what to return to; any other change ends a running burst.
            let base = match r.burst_until {
                Some(_) => Some(current.base_spec.unwrap_or(current.spec)),
                None => None,
            };
            sqlx::query!(
                "UPDATE namespaces SET spec = $2, quota_cpu_millis = $3, quota_memory_bytes = $4, quota_storage_bytes = $5,
                        state = 'provisioning', burst_until = $6, base_spec = $7, updated_at = now()
                 WHERE id = $1",
                ns_id, spec_json, amounts.cpu_millis, amounts.memory_bytes, amounts.storage_bytes, r.burst_until, base
            )
            .execute(&mut *tx)
            .await?;
            enqueue_apply(&mut *tx, ns_id, id, r.cluster_id).await?;
            if let Some(at) = r.burst_until {
                jobs::enqueue_with(
                    &mut *tx,
                    jobs::Kind::RevertBurst,
                    ns_id,
                    None,
                    r.cluster_id,
                    Some(at),
                    json!({"burst_until": at.unix_timestamp()}),
                )
                .await?;
            }
            ns_id
        }
        RequestKind::Decommission => {
            let ns_id = r
                .namespace_id
                .ok_or_else(|| anyhow::anyhow!("decommission without namespace"))?;
            sqlx::query!(
                "UPDATE namespaces SET state = 'decommissioning', updated_at = now() WHERE id = $1 AND state <> 'decommissioned'",
                ns_id
            )
            .execute(&mut *tx)
            .await?;
            jobs::enqueue(
                &mut *tx,
                jobs::Kind::Decommission,
                ns_id,
                Some(id),
                r.cluster_id,
                None,
            )
            .await?;
            ns_id
        }
    };
    let (decided_by, reason) = match &approver {
        Some((user, reason)) => (Some(*user), reason.clone()),
        None => (None, policy.map(|p| format!("approved by policy \"{p}\""))),
    };
    sqlx::query!(
        "UPDATE namespace_requests SET state = 'provisioning', namespace_id = $2, decided_by = $3, decided_at = now(),
                decision_reason = $4, updated_at = now() WHERE id = $1",
        id,
        namespace_id,
        decided_by,
        reason
    )
    .execute(&mut *tx)
    .await?;
    crate::tenancy::webhooks::notify(&mut *tx, "request.approved", id).await?;
    Ok(audit::Entry::new("namespace_request.approved", "namespace_request", id)
        .team(r.team_id)
        .before(json!({"state": "pending"}))
        .after(json!({"state": "provisioning", "namespace": r.namespace_name, "kind": r.kind,
                      "by_policy": approver.is_none().then_some(policy).flatten(), "reason": reason})))
}

pub(super) fn decider(ctx: &Ctx) -> Result<&Actor> {
    ctx.require_admin(Scope::Approve)
}

pub(super) fn reason(field: &str, raw: Option<&str>, required: bool) -> Result<Option<String>> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None if required => Err(Error::invalid(field, "give a reason")),
        None => Ok(None),
        Some(r) => short_text(field, r, 1000).map(Some),
    }
}

pub async fn approve(app: &App, ctx: &Ctx, id: Uuid, input: Decision) -> Result<RequestDetail> {
    let actor = decider(ctx)?;
    let why = reason("reason", input.reason.as_deref(), false)?;
    let mut tx = app.db.begin().await?;
    let r = lock(&mut tx, id).await?;
    crate::tenancy::access::decide(actor, r.requested_by)?;
    must_be_pending(&r)?;
    let entry = approve_locked(&mut tx, id, Some((actor.user_id, why)), None).await?;
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

pub async fn reject(app: &App, ctx: &Ctx, id: Uuid, input: Decision) -> Result<RequestDetail> {
    let actor = decider(ctx)?;
    let why = reason("reason", input.reason.as_deref(), true)?;
    let mut tx = app.db.begin().await?;
    let r = lock(&mut tx, id).await?;
    crate::tenancy::access::decide(actor, r.requested_by)?;
    must_be_pending(&r)?;
    sqlx::query!(
        "UPDATE namespace_requests SET state = 'rejected', decided_by = $2, decided_at = now(), decision_reason = $3,
                updated_at = now() WHERE id = $1",
        id,
        actor.user_id,
        why
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("namespace_request.rejected", "namespace_request", id)
            .team(r.team_id)
            .before(json!({"state": "pending"}))
            .after(json!({"state": "rejected", "reason": why})),
    )
    .await?;
    crate::tenancy::webhooks::notify(&mut tx, "request.rejected", id).await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

/// The requester (or an admin) withdraws a pending request.
pub async fn cancel(app: &App, ctx: &Ctx, id: Uuid) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let r = lock(&mut tx, id).await?;
    if r.requested_by != Some(actor.user_id) && !actor.is_admin {
        visible(&mut tx, actor, r.team_id).await?;
        return Err(Error::forbidden(
            "only the requester or an admin cancels a request",
        ));
    }
    must_be_pending(&r)?;
    sqlx::query!(
        "UPDATE namespace_requests SET state = 'cancelled', updated_at = now() WHERE id = $1",
        id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("namespace_request.cancelled", "namespace_request", id)
            .team(r.team_id)
            .before(json!({"state": "pending"}))
            .after(json!({"state": "cancelled"})),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

/// An admin changes what a pending request will apply: pool, preset, quota, limits or
/// classes. The requester sees both, and the note.
pub async fn amend(app: &App, ctx: &Ctx, id: Uuid, input: Amendment) -> Result<RequestDetail> {
    let actor = decider(ctx)?;
    let mut tx = app.db.begin().await?;
    let r = lock(&mut tx, id).await?;
    crate::tenancy::access::decide(actor, r.requested_by)?;
    must_be_pending(&r)?;
    if r.kind == RequestKind::Decommission {
        return Err(Error::conflict(
            "kind",
            "a decommission request has nothing to amend",
        ));
    }
    let mut errors = FieldErrors::new();
    let note = collect(&mut errors, short_text("note", &input.note, 1000));
    let cluster_name = sqlx::query_scalar!("SELECT name FROM clusters WHERE id = $1", r.cluster_id)
        .fetch_one(&mut *tx)
        .await?;
    let placement = crate::tenancy::placement(&mut tx, &cluster_name).await?;
    let pool = match input
        .node_pool
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) if r.kind == RequestKind::QuotaChange && p != r.node_pool => {
            errors.insert(
                "node_pool".into(),
                "a quota change keeps the namespace's pool".into(),
            );
            r.node_pool.clone()
        }
        Some(p) => p.to_owned(),
        None => r.node_pool.clone(),
    };
    let environment = match input
        .environment
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) if r.kind == RequestKind::QuotaChange && e != r.environment.as_str() => {
            errors.insert(
                "environment".into(),
                "a quota change keeps the namespace's environment".into(),
            );
            None
        }
        Some(e) => collect(&mut errors, word::<Environment>("environment", e)),
        None => Some(r.environment),
    };
    let resolved = collect(
        &mut errors,
        resolve_spec(&mut tx, &input.spec, Some(&r.spec.0)).await,
    );
    let mut sized = None;
    if let Some((spec, _)) = &resolved {
        match spec::parse(spec) {
            Ok(s) => sized = Some(s),
            Err(f) => errors.extend(f),
        }
        placement.check(&pool, spec, &mut errors);
    }
    let (Some(note), Some(sized), Some(environment)) = (note, sized, environment) else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let previous = previous_quota(&mut tx, r.namespace_id, &r.node_pool).await?;
    let impact = crate::tenancy::impact(
        &mut tx,
        &Change {
            team_id: r.team_id,
            placement: &placement,
            pool: &pool,
            after: sized.takes(),
            previous,
        },
    )
    .await?;
    let over_budget = impact.budget.as_ref().is_some_and(|b| b.over_budget);
    let before = serde_json::to_value(&r.spec.0).map_err(anyhow::Error::from)?;
    let after = serde_json::to_value(&sized.spec).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "UPDATE namespace_requests SET spec = $2, node_pool = $3, amended_by = $4, amendment_note = $5,
                over_budget = $6, environment = $7, updated_at = now() WHERE id = $1",
        id,
        after,
        pool,
        actor.user_id,
        note,
        over_budget,
        environment.as_str()
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("namespace_request.amended", "namespace_request", id)
            .team(r.team_id)
            .before(json!({"namespace": r.namespace_name, "spec": before, "node_pool": r.node_pool, "environment": r.environment}))
            .after(json!({"namespace": r.namespace_name, "spec": after, "node_pool": pool, "environment": environment, "note": note})),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}
