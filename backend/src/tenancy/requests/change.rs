//! Changes to an existing namespace through the same workflow: a quota change (a preset or
//! a custom quota, optionally a timed burst) and decommissioning.

use berth_frontend::api::{Decommission, QuotaChange, QuotaSuggestion, RequestDetail, Scope};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::tenancy::{
    spec::{self},
    Change, PolicyInput,
};
use crate::{auth::Ctx, error::FieldErrors, fields::collect, App, Error, Result};

use super::*;

pub(super) async fn refuse_if_open_change(
    conn: &mut PgConnection,
    namespace_id: Uuid,
) -> Result<()> {
    let open = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM namespace_requests WHERE namespace_id = $1 AND kind <> 'create'
                          AND state IN ('pending', 'approved', 'provisioning', 'failed')) AS "open!""#,
        namespace_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if open {
        return Err(Error::conflict(
            "namespace",
            "this namespace already has an open change request",
        ));
    }
    Ok(())
}

/// Asks for a new quota (a preset, or quota / limits / classes replaced), optionally as a
/// timed burst that Berth reverts at `burst_until`.
pub async fn quota_change(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: QuotaChange,
) -> Result<RequestDetail> {
    quota_change_with_evidence(app, ctx, cluster, name, input, None).await
}

/// A quota change carrying capacity evidence for its approver, stored with it.
pub async fn quota_change_with_evidence(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: QuotaChange,
    evidence: Option<QuotaSuggestion>,
) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Request)?;
    // Measured use is read from Prometheus before the transaction, and only when a policy
    // will look at it.
    let usage = {
        let mut conn = app.db.acquire().await?;
        match crate::tenancy::usage_aware_policies(&mut conn).await? {
            false => None,
            true => {
                let ns = crate::tenancy::access::namespace(&mut conn, actor, cluster, name).await?;
                let url = sqlx::query_scalar!(
                    "SELECT prometheus_url FROM clusters WHERE id = $1",
                    ns.cluster_id
                )
                .fetch_one(&mut *conn)
                .await?;
                let quota = crate::tenancy::stored_sized(&ns.spec)?.amounts();
                drop(conn);
                Some(
                    crate::capacity::usage_evidence(
                        app,
                        &ns.cluster,
                        url.as_deref(),
                        &ns.name,
                        quota,
                    )
                    .await,
                )
            }
        }
    };
    let mut tx = app.db.begin().await?;
    let ns = crate::tenancy::access::namespace(&mut tx, actor, cluster, name).await?;
    if ns.state == NamespaceState::Decommissioning {
        return Err(Error::conflict(
            "namespace",
            "this namespace is being decommissioned",
        ));
    }
    refuse_if_open_change(&mut tx, ns.id).await?;
    let mut errors = FieldErrors::new();
    let purpose = purpose(&mut errors, &input.purpose);
    let resolved = collect(
        &mut errors,
        resolve_spec(&mut tx, &input.spec, Some(&ns.spec)).await,
    );
    let placement = crate::tenancy::placement(&mut tx, &ns.cluster).await?;
    let current = crate::tenancy::stored_sized(&ns.spec)?;
    let mut sized = None;
    if let Some((spec, _)) = &resolved {
        match spec::parse(spec) {
            Ok(s) => sized = Some(s),
            Err(f) => errors.extend(f),
        }
        let mut pool_errors = FieldErrors::new();
        placement.check(&ns.node_pool, spec, &mut pool_errors);
        pool_errors.remove("node_pool");
        errors.extend(pool_errors);
    }
    if let (Some(until), Some(s)) = (input.burst_until, &sized) {
        if until <= OffsetDateTime::now_utc() {
            errors.insert("burst_until".into(), "must be in the future".into());
        } else if s.fits_within(&current) {
            errors.insert(
                "burst_until".into(),
                "a burst must increase the quota".into(),
            );
        }
    }
    if let Some(s) = &sized {
        if s.spec == ns.spec {
            errors.insert("quota".into(), "is the namespace's current quota".into());
        }
    }
    let (Some(purpose), Some((_, preset)), Some(sized)) = (purpose, resolved, sized) else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let impact = crate::tenancy::impact(
        &mut tx,
        &Change {
            team_id: ns.team.id,
            placement: &placement,
            pool: &ns.node_pool,
            after: sized.takes(),
            previous: Some((current.takes(), ns.node_pool.clone())),
        },
    )
    .await?;
    let over_budget = impact.budget.as_ref().is_some_and(|b| b.over_budget);
    let (matched_policy, auto_approve) = crate::tenancy::evaluate_policies(
        &mut tx,
        &PolicyInput {
            kind: RequestKind::QuotaChange,
            environment: ns.environment,
            sized: Some(&sized),
            current: Some(&current),
            is_burst: input.burst_until.is_some(),
            over_budget,
            // A quota change keeps the namespace's pool.
            same_pool: true,
            usage: usage.as_ref(),
        },
    )
    .await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: RequestKind::QuotaChange,
            team_id: ns.team.id,
            cluster_id: placement.cluster.id,
            namespace_id: Some(ns.id),
            namespace_name: &ns.name,
            node_pool: &ns.node_pool,
            environment: ns.environment,
            preset: preset.as_deref(),
            purpose: &purpose,
            expires_at: None,
            burst_until: input.burst_until,
            spec: &sized.spec,
            over_budget,
            matched_policy,
            auto_approve,
        },
    )
    .await?;
    if let Some(usage) = &usage {
        sqlx::query!(
            "UPDATE namespace_requests SET usage_evidence = $2 WHERE id = $1",
            id,
            serde_json::to_value(usage).map_err(anyhow::Error::from)?
        )
        .execute(&mut *tx)
        .await?;
    }
    if let Some(evidence) = evidence {
        sqlx::query!(
            "UPDATE namespace_requests SET evidence = $2 WHERE id = $1",
            id,
            serde_json::to_value(evidence).map_err(anyhow::Error::from)?
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

/// Asks for the namespace to be deleted; `confirm` must repeat its name.
pub async fn decommission(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: Decommission,
) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let ns = crate::tenancy::access::namespace(&mut tx, actor, cluster, name).await?;
    let mut errors = FieldErrors::new();
    if input.confirm.trim() != ns.name {
        errors.insert(
            "confirm".into(),
            "type the namespace's name to confirm".into(),
        );
    }
    let purpose = purpose(&mut errors, &input.purpose);
    let Some(purpose) = purpose.filter(|_| errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    if ns.state == NamespaceState::Decommissioning {
        return Err(Error::conflict(
            "namespace",
            "this namespace is already being decommissioned",
        ));
    }
    refuse_if_open_change(&mut tx, ns.id).await?;
    let cluster_id = ns.cluster_id;
    let (matched_policy, auto_approve) = crate::tenancy::evaluate_policies(
        &mut tx,
        &PolicyInput {
            kind: RequestKind::Decommission,
            environment: ns.environment,
            sized: None,
            current: None,
            is_burst: false,
            over_budget: false,
            same_pool: true,
            usage: None,
        },
    )
    .await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: RequestKind::Decommission,
            team_id: ns.team.id,
            cluster_id,
            namespace_id: Some(ns.id),
            namespace_name: &ns.name,
            node_pool: &ns.node_pool,
            environment: ns.environment,
            preset: None,
            purpose: &purpose,
            expires_at: None,
            burst_until: None,
            spec: &ns.spec,
            over_budget: false,
            matched_policy,
            auto_approve,
        },
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}
