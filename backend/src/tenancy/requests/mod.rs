//! Namespace requests: create, quota change and decommission, through one workflow.
//!
//! pending → approved | rejected | cancelled; approved → provisioning → ready | failed
//! (retrying). Approval writes the namespace row and queues its job in the same
//! transaction as the audit row; the job carries the change to the cluster.

mod change;
mod create;
mod decide;
mod read;

use self::{create::previous_quota, decide::approve_locked, read::visible};
pub use change::{decommission, quota_change, quota_change_with_evidence};
pub use create::{create, preview};
pub use decide::{amend, approve, cancel, reject};
pub use read::{get, list, SORT_COLUMNS};

use berth_frontend::api::{
    Environment, NamespaceSpec, NamespaceState, RequestKind, RequestState, SpecChoice,
};
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, short_text},
    Error, Result,
};

/// The spec a request asks for: a preset, with the quota, limits or classes replaced
/// where given; `base` is the namespace's current spec (quota changes).
pub(super) async fn resolve_spec(
    conn: &mut PgConnection,
    choice: &SpecChoice,
    base: Option<&NamespaceSpec>,
) -> Result<(NamespaceSpec, Option<String>)> {
    let preset_name = choice
        .preset
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let preset = match preset_name {
        None => None,
        Some(name) => Some(
            super::settings::load_presets(conn)
                .await?
                .into_iter()
                .find(|p| p.name == name)
                .ok_or_else(|| Error::invalid("preset", "must be S, M, L or XL"))?,
        ),
    };
    let quota = choice
        .quota
        .clone()
        .or_else(|| preset.as_ref().map(|p| p.quota.clone()))
        .or_else(|| base.map(|b| b.quota.clone()));
    let limits = choice
        .limits
        .clone()
        .or_else(|| preset.as_ref().map(|p| p.limits.clone()))
        .or_else(|| base.map(|b| b.limits.clone()));
    let (Some(quota), Some(limits)) = (quota, limits) else {
        return Err(Error::invalid(
            "preset",
            "choose a preset, or give both quota and limits",
        ));
    };
    let storage_classes = choice
        .storage_classes
        .clone()
        .or_else(|| base.map(|b| b.storage_classes.clone()))
        .unwrap_or_default();
    Ok((
        NamespaceSpec {
            quota,
            limits,
            storage_classes,
        },
        preset_name.map(str::to_owned),
    ))
}

pub(super) fn purpose(errors: &mut FieldErrors, raw: &str) -> Option<String> {
    collect(errors, short_text("purpose", raw, 500))
}

/// Inserts a request row and its audit entry; auto-approves it when a policy says so.
#[allow(clippy::too_many_arguments)]
pub(super) struct NewRow<'a> {
    kind: RequestKind,
    team_id: Uuid,
    cluster_id: Uuid,
    namespace_id: Option<Uuid>,
    namespace_name: &'a str,
    node_pool: &'a str,
    environment: Environment,
    preset: Option<&'a str>,
    purpose: &'a str,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    spec: &'a NamespaceSpec,
    over_budget: bool,
    matched_policy: Option<String>,
    auto_approve: bool,
}

pub(super) async fn insert_request(
    tx: &mut PgConnection,
    ctx: &Ctx,
    row: NewRow<'_>,
) -> Result<Uuid> {
    let actor = ctx.actor()?;
    let id = Uuid::new_v4();
    let spec_json = serde_json::to_value(row.spec).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "INSERT INTO namespace_requests
           (id, kind, team_id, cluster_id, namespace_id, namespace_name, node_pool, environment, preset,
            purpose, expires_at, burst_until, requested_spec, spec, state, requested_by, matched_policy, over_budget)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, 'pending', $14, $15, $16)",
        id,
        row.kind.as_str(),
        row.team_id,
        row.cluster_id,
        row.namespace_id,
        row.namespace_name,
        row.node_pool,
        row.environment.as_str(),
        row.preset,
        row.purpose,
        row.expires_at,
        row.burst_until,
        spec_json,
        actor.user_id,
        row.matched_policy,
        row.over_budget
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "namespace_requests_open_name", "name", "is already taken on this cluster"))?;
    let created = audit::Entry::new("namespace_request.created", "namespace_request", id)
        .team(row.team_id)
        .after(json!({
            "kind": row.kind, "namespace": row.namespace_name, "node_pool": row.node_pool,
            "environment": row.environment, "preset": row.preset, "spec": spec_json,
            "burst_until": row.burst_until.map(|t| t.unix_timestamp()),
            "over_budget": row.over_budget, "matched_policy": row.matched_policy,
        }));
    super::webhooks::notify(&mut *tx, "request.created", id).await?;
    let approved = match row.auto_approve {
        true => Some(approve_locked(&mut *tx, id, None, row.matched_policy.as_deref()).await?),
        false => None,
    };
    // Audit rows last: the chain's lock is then held only until the commit that follows.
    audit::record(&mut *tx, ctx, created).await?;
    if let Some(entry) = approved {
        audit::record(&mut *tx, ctx, entry).await?;
    }
    Ok(id)
}
