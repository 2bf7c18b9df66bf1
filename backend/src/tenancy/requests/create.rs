//! A new namespace's request: every field checked at once, the capacity impact, the budget
//! and the policy that decides; the preview (stored nowhere) with the manifests and the
//! placement advisor; and the request itself.

use berth_frontend::api::{
    NamespaceSpec, NewNamespaceRequest, RequestDetail, RequestPreview, Scope,
};
use serde_json::Value;
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::tenancy::{
    objects,
    spec::{self, NamespaceName, Sized},
    Change, Placement, PolicyInput,
};
use crate::{
    auth::{Actor, Ctx},
    error::FieldErrors,
    fields::{collect, word},
    App, Error, Result,
};

use super::*;

/// A new-namespace request, checked: everything a request row needs.
pub(super) struct Checked {
    team: crate::tenancy::TeamRef,
    placement: Placement,
    name: NamespaceName,
    pool: String,
    environment: Environment,
    preset: Option<String>,
    sized: Sized,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
}

pub(super) async fn check_new(
    conn: &mut PgConnection,
    actor: &Actor,
    input: &NewNamespaceRequest,
) -> Result<Checked> {
    let mut errors = FieldErrors::new();
    let team = crate::tenancy::acting_team(&mut *conn, actor, &input.team).await;
    let team = match team {
        Err(Error::Invalid(f)) => {
            errors.extend(f);
            None
        }
        other => Some(other?),
    };
    let placement = match crate::tenancy::placement(&mut *conn, &input.cluster).await {
        Err(Error::Invalid(f)) => {
            errors.extend(f);
            None
        }
        other => Some(other?),
    };
    let name = team.as_ref().and_then(|t| {
        collect(
            &mut errors,
            NamespaceName::parse("name", &input.name, &t.name),
        )
    });
    // A namespace has its cluster's environment (an admin may amend it): policies decide on
    // what Berth knows, never on the requester's word.
    let asked = input
        .environment
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    if let Some(e) = asked {
        if let Some(e) = collect(&mut errors, word::<Environment>("environment", e)) {
            if let Some(p) = placement.as_ref().filter(|p| p.cluster.environment != e) {
                errors.insert(
                    "environment".into(),
                    format!(
                        "{} is a {} cluster, and a namespace has its cluster's environment (an admin may amend it)",
                        p.cluster.name, p.cluster.environment
                    ),
                );
            }
        }
    }
    let environment = placement.as_ref().map(|p| p.cluster.environment);
    let purpose = purpose(&mut errors, &input.purpose);
    if let Some(at) = input.expires_at {
        if at <= OffsetDateTime::now_utc() {
            errors.insert("expires_at".into(), "must be in the future".into());
        }
    }
    let resolved = collect(
        &mut errors,
        resolve_spec(&mut *conn, &input.spec, None).await,
    );
    let mut sized = None;
    if let Some((spec, _)) = &resolved {
        match spec::parse(spec) {
            Ok(s) => sized = Some(s),
            Err(f) => errors.extend(f),
        }
        if let Some(p) = &placement {
            p.check(input.node_pool.trim(), spec, &mut errors);
        }
    }
    if let (Some(p), Some(n)) = (&placement, &name) {
        let taken = sqlx::query_scalar!(
            r#"SELECT (EXISTS (SELECT 1 FROM namespaces WHERE cluster_id = $1 AND name = $2 AND state <> 'decommissioned')
                    OR EXISTS (SELECT 1 FROM namespace_requests WHERE cluster_id = $1 AND namespace_name = $2
                                 AND kind = 'create' AND state IN ('pending', 'approved', 'provisioning', 'failed'))) AS "taken!""#,
            p.cluster.id,
            n.as_str()
        )
        .fetch_one(&mut *conn)
        .await?;
        if taken {
            errors.insert("name".into(), "is already taken on this cluster".into());
        }
    }
    match (team, placement, name, environment, purpose, resolved, sized) {
        (
            Some(team),
            Some(placement),
            Some(name),
            Some(environment),
            Some(purpose),
            Some((_, preset)),
            Some(sized),
        ) if errors.is_empty() => Ok(Checked {
            team,
            placement,
            name,
            pool: input.node_pool.trim().to_owned(),
            environment,
            preset,
            sized,
            purpose,
            expires_at: input.expires_at,
        }),
        _ => Err(Error::Invalid(errors)),
    }
}

pub(super) fn objects_for(
    app: &App,
    c: &Checked,
    (guardrails, layer): &(
        berth_frontend::api::Guardrails,
        berth_frontend::api::LayerGuardrails,
    ),
) -> Vec<Value> {
    let pool = c.placement.cluster.pools.iter().find(|p| p.name == c.pool);
    let served = crate::tenancy::pinning::Served::of(c.placement.cluster.inventory.as_ref());
    let inputs = objects::Inputs {
        namespace: c.name.as_str(),
        team: &c.team.name,
        layer: &c.placement.cluster.layer,
        environment: c.environment.as_str(),
        pool_label: pool.map_or("", |p| p.label_key.as_str()),
        pool: &c.pool,
        taints: pool.map_or(&[], |p| p.taints.as_slice()),
        served: &served,
        guardrails,
        priority: layer.priority(),
        cluster_classes: &c.placement.classes,
        cluster_extended: &c.placement.extended(),
        spec: &c.sized,
        group: objects::group_name(&app.config.team_group_pattern, &c.team.name),
    };
    objects::desired(&inputs)
        .into_iter()
        .map(|(_, _, o)| o)
        .collect()
}

/// A new namespace's capacity impact, whether it is over budget, and the policy that
/// decides it (and whether that policy approves).
pub(super) async fn assess_new(
    conn: &mut PgConnection,
    c: &Checked,
) -> Result<(
    berth_frontend::api::CapacityImpact,
    bool,
    Option<String>,
    bool,
)> {
    let impact = crate::tenancy::impact(
        &mut *conn,
        &Change {
            team_id: c.team.id,
            placement: &c.placement,
            pool: &c.pool,
            after: c.sized.takes(),
            previous: None,
        },
    )
    .await?;
    let over_budget = impact.budget.as_ref().is_some_and(|b| b.over_budget);
    let (policy, approve) = crate::tenancy::evaluate_policies(
        conn,
        &PolicyInput {
            kind: RequestKind::Create,
            environment: c.environment,
            sized: Some(&c.sized),
            current: None,
            is_burst: false,
            over_budget,
            same_pool: true,
            usage: None,
        },
    )
    .await?;
    Ok((impact, over_budget, policy, approve))
}

/// The quota and pool a change to an existing namespace replaces (None for a new one).
pub(super) async fn previous_quota(
    conn: &mut PgConnection,
    namespace_id: Option<Uuid>,
    pool: &str,
) -> Result<Option<(crate::tenancy::Takes, String)>> {
    let Some(ns) = namespace_id else {
        return Ok(None);
    };
    let spec = sqlx::query_scalar!(
        r#"SELECT spec AS "spec: Json<NamespaceSpec>" FROM namespaces WHERE id = $1"#,
        ns
    )
    .fetch_one(conn)
    .await?;
    Ok(Some((
        crate::tenancy::stored_sized(&spec.0)?.takes(),
        pool.to_owned(),
    )))
}

/// What a request would do, stored nowhere: field errors, capacity impact, manifests and
/// the policy that would decide. The wizard calls it as the form changes.
pub async fn preview(app: &App, ctx: &Ctx, input: NewNamespaceRequest) -> Result<RequestPreview> {
    let actor = ctx.require(Scope::Request)?;
    let mut conn = app.db.acquire().await?;
    match check_new(&mut conn, actor, &input).await {
        Ok(c) => {
            let (impact, _, policy, approve) = assess_new(&mut conn, &c).await?;
            let guardrails = crate::tenancy::guardrails::for_namespace(
                &mut conn,
                c.environment,
                &c.placement.cluster.layer,
            )
            .await?;
            Ok(RequestPreview {
                fields: Default::default(),
                objects: objects_for(app, &c, &guardrails),
                impact: Some(impact),
                matched_policy: policy,
                auto_approve: approve,
                placement: placement_advice(&mut conn, &input).await?,
                placement_environment: advice_environment(&mut conn, &input).await?,
                freezes: crate::tenancy::freeze::notices(&mut conn, c.placement.cluster.id).await?,
            })
        }
        Err(Error::Invalid(fields)) => Ok(RequestPreview {
            fields,
            impact: None,
            objects: vec![],
            matched_policy: None,
            auto_approve: false,
            placement: placement_advice(&mut conn, &input).await?,
            placement_environment: advice_environment(&mut conn, &input).await?,
            freezes: freezes_of(&mut conn, &input.cluster).await?,
        }),
        Err(e) => Err(e),
    }
}

/// The freezes of a cluster named in a wizard that is not complete yet.
async fn freezes_of(
    conn: &mut PgConnection,
    cluster: &str,
) -> Result<Vec<berth_frontend::api::FreezeNotice>> {
    match sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster.trim())
        .fetch_optional(&mut *conn)
        .await?
    {
        Some(id) => crate::tenancy::freeze::notices(conn, id).await,
        None => Ok(vec![]),
    }
}

/// Where the requested quota would fit best, as soon as the size parses (before a cluster is
/// chosen): every cluster of the environment (or of any, when none is given yet).
pub(super) async fn placement_advice(
    conn: &mut PgConnection,
    input: &NewNamespaceRequest,
) -> Result<Vec<berth_frontend::api::PlacementOption>> {
    let resolved = resolve_spec(&mut *conn, &input.spec, None).await;
    let Ok((spec, _)) = resolved else {
        return Ok(vec![]);
    };
    let Ok(sized) = spec::parse(&spec) else {
        return Ok(vec![]);
    };
    let shape = crate::capacity::headroom::Shape {
        cpu_millis: crate::fleet::inventory::cpu_millis(&sized.spec.limits.default_request_cpu)
            .unwrap_or(0),
        memory_bytes: crate::fleet::inventory::amount(&sized.spec.limits.default_request_memory)
            .unwrap_or(0),
    };
    let environment = advice_environment(conn, input).await?;
    crate::capacity::placement_options(conn, environment, sized.amounts(), &sized.extended(), shape)
        .await
}

/// The environment the placement advisor ranks pools of: the one asked for, else the chosen
/// cluster's — never another, so "Use" cannot move a request across environments. None
/// (rank every cluster) only while neither is known.
pub(super) async fn advice_environment(
    conn: &mut PgConnection,
    input: &NewNamespaceRequest,
) -> Result<Option<Environment>> {
    if let Some(e) = input
        .environment
        .as_deref()
        .map(str::trim)
        .and_then(Environment::parse)
    {
        return Ok(Some(e));
    }
    Ok(sqlx::query_scalar!(
        r#"SELECT environment AS "environment: Environment" FROM clusters WHERE name = $1"#,
        input.cluster.trim()
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn create(app: &App, ctx: &Ctx, input: NewNamespaceRequest) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let c = check_new(&mut tx, actor, &input).await?;
    let (_, over_budget, matched_policy, auto_approve) = assess_new(&mut tx, &c).await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: RequestKind::Create,
            team_id: c.team.id,
            cluster_id: c.placement.cluster.id,
            namespace_id: None,
            namespace_name: c.name.as_str(),
            node_pool: &c.pool,
            environment: c.environment,
            preset: c.preset.as_deref(),
            purpose: &c.purpose,
            expires_at: c.expires_at,
            burst_until: None,
            spec: &c.sized.spec,
            over_budget,
            matched_policy,
            auto_approve,
        },
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}
