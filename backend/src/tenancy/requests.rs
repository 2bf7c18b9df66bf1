//! Namespace requests: create, quota change and decommission, through one workflow.
//!
//! pending → approved | rejected | cancelled; approved → provisioning → ready | failed
//! (retrying). Approval writes the namespace row and queues its job in the same
//! transaction as the audit row; the job carries the change to the cluster.

use berth_frontend::api::{
    Amendment, Decision, Decommission, NamespaceRequest, NamespaceSpec, NewNamespaceRequest, Page,
    QuotaChange, QuotaSuggestion, RequestDetail, RequestPreview, RequestQuery, Scope,
};
use serde_json::{json, Value};
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    jobs, objects,
    spec::{self, NamespaceName, Sized},
    Change, Placement, PolicyInput,
};
use crate::{
    audit,
    auth::{Actor, Ctx},
    error::FieldErrors,
    fleet::{one_of, short_text, ENVIRONMENTS},
    people::collect,
    App, Error, Result,
};

const OPEN: [&str; 4] = ["pending", "approved", "provisioning", "failed"];

/// The spec a request asks for: a preset, with the quota, limits or classes replaced
/// where given; `base` is the namespace's current spec (quota changes).
async fn resolve_spec(
    conn: &mut PgConnection,
    preset: Option<&str>,
    quota: Option<&berth_frontend::api::QuotaSpec>,
    limits: Option<&berth_frontend::api::LimitSpec>,
    classes: Option<&Vec<berth_frontend::api::ClassQuota>>,
    base: Option<&NamespaceSpec>,
) -> Result<(NamespaceSpec, Option<String>)> {
    let preset_name = preset.map(str::trim).filter(|p| !p.is_empty());
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
    let quota = quota
        .cloned()
        .or_else(|| preset.as_ref().map(|p| p.quota.clone()))
        .or_else(|| base.map(|b| b.quota.clone()));
    let limits = limits
        .cloned()
        .or_else(|| preset.as_ref().map(|p| p.limits.clone()))
        .or_else(|| base.map(|b| b.limits.clone()));
    let (Some(quota), Some(limits)) = (quota, limits) else {
        return Err(Error::invalid(
            "preset",
            "choose a preset, or give both quota and limits",
        ));
    };
    let storage_classes = classes
        .cloned()
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

fn purpose(errors: &mut FieldErrors, raw: &str) -> Option<String> {
    collect(errors, short_text("purpose", raw, 500))
}

/// A new-namespace request, checked: everything a request row needs.
struct Checked {
    team: super::TeamRef,
    placement: Placement,
    name: NamespaceName,
    pool: String,
    environment: String,
    preset: Option<String>,
    sized: Sized,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
}

async fn check_new(
    conn: &mut PgConnection,
    actor: &Actor,
    input: &NewNamespaceRequest,
) -> Result<Checked> {
    let mut errors = FieldErrors::new();
    let team = super::acting_team(&mut *conn, actor, &input.team).await;
    let team = match team {
        Err(Error::Invalid(f)) => {
            errors.extend(f);
            None
        }
        other => Some(other?),
    };
    let placement = match super::placement(&mut *conn, &input.cluster).await {
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
        if let Some(e) = collect(&mut errors, one_of("environment", e, &ENVIRONMENTS)) {
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
    let environment = placement.as_ref().map(|p| p.cluster.environment.clone());
    let purpose = purpose(&mut errors, &input.purpose);
    if let Some(at) = input.expires_at {
        if at <= OffsetDateTime::now_utc() {
            errors.insert("expires_at".into(), "must be in the future".into());
        }
    }
    let resolved = collect(
        &mut errors,
        resolve_spec(
            &mut *conn,
            input.preset.as_deref(),
            input.quota.as_ref(),
            input.limits.as_ref(),
            Some(&input.storage_classes),
            None,
        )
        .await,
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

fn objects_for(app: &App, c: &Checked) -> Vec<Value> {
    let pool = c.placement.cluster.pools.iter().find(|p| p.name == c.pool);
    let inputs = objects::Inputs {
        namespace: c.name.as_str(),
        team: &c.team.name,
        layer: &c.placement.cluster.layer,
        environment: &c.environment,
        pool_label: pool.map_or("", |p| p.label_key.as_str()),
        pool: &c.pool,
        taints: pool.map_or(&[], |p| p.taints.as_slice()),
        cluster_classes: &c.placement.classes,
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
async fn assess_new(
    conn: &mut PgConnection,
    c: &Checked,
) -> Result<(
    berth_frontend::api::CapacityImpact,
    bool,
    Option<String>,
    bool,
)> {
    let impact = super::impact(
        &mut *conn,
        &Change {
            team_id: c.team.id,
            placement: &c.placement,
            pool: &c.pool,
            after: c.sized.amounts(),
            previous: None,
        },
    )
    .await?;
    let over_budget = impact.budget.as_ref().is_some_and(|b| b.over_budget);
    let (policy, approve) = super::evaluate_policies(
        conn,
        &PolicyInput {
            kind: "create",
            environment: &c.environment,
            sized: Some(&c.sized),
            current: None,
            is_burst: false,
            over_budget,
            same_pool: true,
        },
    )
    .await?;
    Ok((impact, over_budget, policy, approve))
}

/// The quota and pool a change to an existing namespace replaces (None for a new one).
async fn previous_quota(
    conn: &mut PgConnection,
    namespace_id: Option<Uuid>,
    pool: &str,
) -> Result<Option<(berth_frontend::api::Amounts, String)>> {
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
        super::stored_sized(&spec.0)?.amounts(),
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
            Ok(RequestPreview {
                fields: Default::default(),
                objects: objects_for(app, &c),
                impact: Some(impact),
                matched_policy: policy,
                auto_approve: approve,
                placement: placement_advice(&mut conn, &input).await?,
                placement_environment: advice_environment(&mut conn, &input).await?,
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
        }),
        Err(e) => Err(e),
    }
}

/// Where the requested quota would fit best, as soon as the size parses (before a cluster is
/// chosen): every cluster of the environment (or of any, when none is given yet).
async fn placement_advice(
    conn: &mut PgConnection,
    input: &NewNamespaceRequest,
) -> Result<Vec<berth_frontend::api::PlacementOption>> {
    let resolved = resolve_spec(
        &mut *conn,
        input.preset.as_deref(),
        input.quota.as_ref(),
        input.limits.as_ref(),
        Some(&input.storage_classes),
        None,
    )
    .await;
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
    crate::capacity::placement_options(conn, environment.as_deref(), sized.amounts(), shape).await
}

/// The environment the placement advisor ranks pools of: the one asked for, else the chosen
/// cluster's — never another, so "Use" cannot move a request across environments. None
/// (rank every cluster) only while neither is known.
async fn advice_environment(
    conn: &mut PgConnection,
    input: &NewNamespaceRequest,
) -> Result<Option<String>> {
    if let Some(e) = input
        .environment
        .as_deref()
        .map(str::trim)
        .filter(|e| ENVIRONMENTS.contains(e))
    {
        return Ok(Some(e.to_owned()));
    }
    Ok(sqlx::query_scalar!(
        "SELECT environment FROM clusters WHERE name = $1",
        input.cluster.trim()
    )
    .fetch_optional(conn)
    .await?)
}

/// Inserts a request row and its audit entry; auto-approves it when a policy says so.
#[allow(clippy::too_many_arguments)]
struct NewRow<'a> {
    kind: &'static str,
    team_id: Uuid,
    cluster_id: Uuid,
    namespace_id: Option<Uuid>,
    namespace_name: &'a str,
    node_pool: &'a str,
    environment: &'a str,
    preset: Option<&'a str>,
    purpose: &'a str,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    spec: &'a NamespaceSpec,
    over_budget: bool,
    matched_policy: Option<String>,
    auto_approve: bool,
}

async fn insert_request(tx: &mut PgConnection, ctx: &Ctx, row: NewRow<'_>) -> Result<Uuid> {
    let actor = ctx.actor()?;
    let id = Uuid::new_v4();
    let spec_json = serde_json::to_value(row.spec).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "INSERT INTO namespace_requests
           (id, kind, team_id, cluster_id, namespace_id, namespace_name, node_pool, environment, preset,
            purpose, expires_at, burst_until, requested_spec, spec, state, requested_by, matched_policy, over_budget)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, 'pending', $14, $15, $16)",
        id,
        row.kind,
        row.team_id,
        row.cluster_id,
        row.namespace_id,
        row.namespace_name,
        row.node_pool,
        row.environment,
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
    jobs::notify_webhooks(&mut *tx, "request.created", id).await?;
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

pub async fn create(app: &App, ctx: &Ctx, input: NewNamespaceRequest) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let c = check_new(&mut tx, actor, &input).await?;
    let (_, over_budget, matched_policy, auto_approve) = assess_new(&mut tx, &c).await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: "create",
            team_id: c.team.id,
            cluster_id: c.placement.cluster.id,
            namespace_id: None,
            namespace_name: c.name.as_str(),
            node_pool: &c.pool,
            environment: &c.environment,
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

async fn refuse_if_open_change(conn: &mut PgConnection, namespace_id: Uuid) -> Result<()> {
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
    let mut tx = app.db.begin().await?;
    let ns = super::access::namespace(&mut tx, actor, cluster, name).await?;
    if ns.state == "decommissioning" {
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
        resolve_spec(
            &mut tx,
            input.preset.as_deref(),
            input.quota.as_ref(),
            input.limits.as_ref(),
            input.storage_classes.as_ref(),
            Some(&ns.spec),
        )
        .await,
    );
    let placement = super::placement(&mut tx, &ns.cluster).await?;
    let current = super::stored_sized(&ns.spec)?;
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
    let impact = super::impact(
        &mut tx,
        &Change {
            team_id: ns.team.id,
            placement: &placement,
            pool: &ns.node_pool,
            after: sized.amounts(),
            previous: Some((current.amounts(), ns.node_pool.clone())),
        },
    )
    .await?;
    let over_budget = impact.budget.as_ref().is_some_and(|b| b.over_budget);
    let (matched_policy, auto_approve) = super::evaluate_policies(
        &mut tx,
        &PolicyInput {
            kind: "quota_change",
            environment: &ns.environment,
            sized: Some(&sized),
            current: Some(&current),
            is_burst: input.burst_until.is_some(),
            over_budget,
            // A quota change keeps the namespace's pool.
            same_pool: true,
        },
    )
    .await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: "quota_change",
            team_id: ns.team.id,
            cluster_id: placement.cluster.id,
            namespace_id: Some(ns.id),
            namespace_name: &ns.name,
            node_pool: &ns.node_pool,
            environment: &ns.environment,
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
    let ns = super::access::namespace(&mut tx, actor, cluster, name).await?;
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
    if ns.state == "decommissioning" {
        return Err(Error::conflict(
            "namespace",
            "this namespace is already being decommissioned",
        ));
    }
    refuse_if_open_change(&mut tx, ns.id).await?;
    let cluster_id = ns.cluster_id;
    let (matched_policy, auto_approve) = super::evaluate_policies(
        &mut tx,
        &PolicyInput {
            kind: "decommission",
            environment: &ns.environment,
            sized: None,
            current: None,
            is_burst: false,
            over_budget: false,
            same_pool: true,
        },
    )
    .await?;
    let id = insert_request(
        &mut tx,
        ctx,
        NewRow {
            kind: "decommission",
            team_id: ns.team.id,
            cluster_id,
            namespace_id: Some(ns.id),
            namespace_name: &ns.name,
            node_pool: &ns.node_pool,
            environment: &ns.environment,
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

/// The request row, locked, for a decision.
struct Locked {
    kind: String,
    team_id: Uuid,
    cluster_id: Uuid,
    namespace_id: Option<Uuid>,
    namespace_name: String,
    node_pool: String,
    environment: String,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    spec: Json<NamespaceSpec>,
    state: String,
    requested_by: Option<Uuid>,
}

async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Locked> {
    sqlx::query_as!(
        Locked,
        r#"SELECT kind, team_id, cluster_id, namespace_id, namespace_name, node_pool, environment, purpose,
                  expires_at, burst_until, spec AS "spec: Json<NamespaceSpec>", state, requested_by
           FROM namespace_requests WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("namespace request"))
}

fn must_be_pending(r: &Locked) -> Result<()> {
    if r.state != "pending" {
        return Err(Error::conflict(
            "state",
            format!("this request is already {}", r.state),
        ));
    }
    Ok(())
}

/// Approves a locked, pending request and starts carrying it out; answers the audit entry
/// for the caller to record last. `approver` is None when a policy approved it.
async fn approve_locked(
    tx: &mut PgConnection,
    id: Uuid,
    approver: Option<(Uuid, Option<String>)>,
    policy: Option<&str>,
) -> Result<audit::Entry> {
    let r = lock(&mut *tx, id).await?;
    must_be_pending(&r)?;
    let sized = super::stored_sized(&r.spec.0)?;
    let amounts = sized.amounts();
    let spec_json = serde_json::to_value(&r.spec.0).map_err(anyhow::Error::from)?;
    let namespace_id = match r.kind.as_str() {
        "create" => {
            let ns_id = Uuid::new_v4();
            sqlx::query!(
                "INSERT INTO namespaces (id, team_id, cluster_id, name, node_pool, state, quota_cpu_millis,
                                         quota_memory_bytes, quota_storage_bytes, environment, purpose, spec, expires_at)
                 VALUES ($1, $2, $3, $4, $5, 'provisioning', $6, $7, $8, $9, $10, $11, $12)",
                ns_id, r.team_id, r.cluster_id, r.namespace_name, r.node_pool, amounts.cpu_millis,
                amounts.memory_bytes, amounts.storage_bytes, r.environment, r.purpose, spec_json, r.expires_at
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_unique(e, "namespaces_live_name", "name", "a namespace of this name now exists on the cluster"))?;
            jobs::enqueue(
                &mut *tx,
                jobs::Kind::Apply,
                ns_id,
                Some(id),
                r.cluster_id,
                None,
            )
            .await?;
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
        "quota_change" => {
            let ns_id = r
                .namespace_id
                .ok_or_else(|| anyhow::anyhow!("quota change without namespace"))?;
            let current = sqlx::query!(
                r#"SELECT state, spec, base_spec FROM namespaces WHERE id = $1 FOR UPDATE"#,
                ns_id
            )
            .fetch_one(&mut *tx)
            .await?;
            if current.state == "decommissioning" || current.state == "decommissioned" {
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
            jobs::enqueue(
                &mut *tx,
                jobs::Kind::Apply,
                ns_id,
                Some(id),
                r.cluster_id,
                None,
            )
            .await?;
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
        _ => {
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
    jobs::notify_webhooks(&mut *tx, "request.approved", id).await?;
    Ok(audit::Entry::new("namespace_request.approved", "namespace_request", id)
        .team(r.team_id)
        .before(json!({"state": "pending"}))
        .after(json!({"state": "provisioning", "namespace": r.namespace_name, "kind": r.kind,
                      "by_policy": approver.is_none().then_some(policy).flatten(), "reason": reason})))
}

fn decider(ctx: &Ctx) -> Result<&Actor> {
    ctx.require_admin(Scope::Approve)
}

fn reason(field: &str, raw: Option<&str>, required: bool) -> Result<Option<String>> {
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
    super::access::decide(actor, r.requested_by)?;
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
    super::access::decide(actor, r.requested_by)?;
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
    jobs::notify_webhooks(&mut tx, "request.rejected", id).await?;
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
    super::access::decide(actor, r.requested_by)?;
    must_be_pending(&r)?;
    if r.kind == "decommission" {
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
    let placement = super::placement(&mut tx, &cluster_name).await?;
    let pool = match input
        .node_pool
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) if r.kind == "quota_change" && p != r.node_pool => {
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
        Some(e) if r.kind == "quota_change" && e != r.environment => {
            errors.insert(
                "environment".into(),
                "a quota change keeps the namespace's environment".into(),
            );
            None
        }
        Some(e) => collect(&mut errors, one_of("environment", e, &ENVIRONMENTS)),
        None => Some(r.environment.clone()),
    };
    let resolved = collect(
        &mut errors,
        resolve_spec(
            &mut tx,
            input.preset.as_deref(),
            input.quota.as_ref(),
            input.limits.as_ref(),
            input.storage_classes.as_ref(),
            Some(&r.spec.0),
        )
        .await,
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
    let impact = super::impact(
        &mut tx,
        &Change {
            team_id: r.team_id,
            placement: &placement,
            pool: &pool,
            after: sized.amounts(),
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
        environment
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

/// Members see their teams' requests; admins see all; anyone else is told there is none.
async fn visible(conn: &mut PgConnection, actor: &Actor, team_id: Uuid) -> Result<()> {
    let team = sqlx::query_scalar!("SELECT name FROM teams WHERE id = $1", team_id)
        .fetch_one(&mut *conn)
        .await?;
    if super::access::may_see_team(actor, &team) {
        Ok(())
    } else {
        Err(Error::NotFound("namespace request"))
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    team: String,
    team_id: Uuid,
    cluster: String,
    namespace_name: String,
    namespace_id: Option<Uuid>,
    node_pool: String,
    environment: String,
    preset: Option<String>,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    requested_spec: Json<NamespaceSpec>,
    spec: Json<NamespaceSpec>,
    amended_by: Option<String>,
    amendment_note: Option<String>,
    state: String,
    requested_by_id: Option<Uuid>,
    requested_by: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<OffsetDateTime>,
    decision_reason: Option<String>,
    matched_policy: Option<String>,
    over_budget: bool,
    last_error: Option<String>,
    attempts: i32,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const SELECT: &str = "SELECT r.id, r.kind, t.name AS team, r.team_id, c.name AS cluster, r.namespace_name, r.namespace_id,
        r.node_pool, r.environment, r.preset, r.purpose, r.expires_at, r.burst_until, r.requested_spec, r.spec,
        ua.email AS amended_by, r.amendment_note, r.state, r.requested_by AS requested_by_id, ur.email AS requested_by,
        ud.email AS decided_by, r.decided_at, r.decision_reason, r.matched_policy, r.over_budget, r.last_error,
        r.attempts, r.created_at, r.updated_at
    FROM namespace_requests r JOIN teams t ON t.id = r.team_id JOIN clusters c ON c.id = r.cluster_id
    LEFT JOIN users ua ON ua.id = r.amended_by LEFT JOIN users ur ON ur.id = r.requested_by
    LEFT JOIN users ud ON ud.id = r.decided_by";

impl From<Row> for NamespaceRequest {
    fn from(r: Row) -> Self {
        NamespaceRequest {
            id: r.id,
            kind: r.kind,
            team: r.team,
            cluster: r.cluster,
            namespace: r.namespace_name,
            node_pool: r.node_pool,
            environment: r.environment,
            preset: r.preset,
            purpose: r.purpose,
            expires_at: r.expires_at,
            burst_until: r.burst_until,
            requested_spec: r.requested_spec.0,
            spec: r.spec.0,
            amended_by: r.amended_by,
            amendment_note: r.amendment_note,
            state: r.state,
            requested_by: r.requested_by,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            matched_policy: r.matched_policy,
            over_budget: r.over_budget,
            last_error: r.last_error,
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub async fn get(app: &App, ctx: &Ctx, id: Uuid) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Read)?;
    let mut conn = app.db.acquire().await?;
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("namespace request"))?;
    visible(&mut conn, actor, row.team_id).await?;
    let mut cluster_pools = Vec::new();
    let impact = if row.state == "pending" && row.kind != "decommission" {
        let placement = super::placement(&mut conn, &row.cluster).await?;
        cluster_pools = placement
            .cluster
            .pools
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let sized = super::stored_sized(&row.spec.0)?;
        let previous = previous_quota(&mut conn, row.namespace_id, &row.node_pool).await?;
        Some(
            super::impact(
                &mut conn,
                &Change {
                    team_id: row.team_id,
                    placement: &placement,
                    pool: &row.node_pool,
                    after: sized.amounts(),
                    previous,
                },
            )
            .await?,
        )
    } else {
        None
    };
    let objects = match row.namespace_id {
        Some(ns) => super::namespaces::objects(&mut conn, ns).await?,
        None => vec![],
    };
    let pending = row.state == "pending";
    let can_decide = pending && super::access::may_decide(actor, row.requested_by_id);
    let can_cancel = pending && (actor.is_admin || row.requested_by_id == Some(actor.user_id));
    let evidence = sqlx::query_scalar!("SELECT evidence FROM namespace_requests WHERE id = $1", id)
        .fetch_one(&mut *conn)
        .await?
        .and_then(|e| serde_json::from_value(e).ok());
    Ok(RequestDetail {
        request: row.into(),
        impact,
        objects,
        can_decide,
        can_cancel,
        cluster_pools,
        evidence,
    })
}

pub async fn list(app: &App, ctx: &Ctx, query: RequestQuery) -> Result<Page<NamespaceRequest>> {
    let actor = ctx.require(Scope::Read)?;
    let mut errors = FieldErrors::new();
    let limit = crate::people::collect(&mut errors, audit::parse_limit(query.limit)).unwrap_or(0);
    let state = query
        .state
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(s) = state {
        let all = [
            "open",
            "pending",
            "approved",
            "rejected",
            "cancelled",
            "provisioning",
            "ready",
            "failed",
        ];
        if !all.contains(&s) {
            errors.insert("state".into(), format!("must be one of {}", all.join(", ")));
        }
    }
    let kind = query
        .kind
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(k) = kind {
        if !super::settings::KINDS.contains(&k) {
            errors.insert(
                "kind".into(),
                "must be create, quota_change or decommission".into(),
            );
        }
    }
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match parse_cursor(c) {
            Some(v) => Some(v),
            None => {
                errors.insert(
                    "cursor".into(),
                    "is not a cursor from a previous page".into(),
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let states: Vec<String> = match state {
        Some("open") => OPEN.iter().map(|s| s.to_string()).collect(),
        Some(s) => vec![s.to_owned()],
        None => vec![],
    };
    let my_teams: Vec<String> = actor.teams.iter().map(|t| t.team.clone()).collect();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 OR t.name = ANY($2))
           AND ($3::text IS NULL OR t.name = $3)
           AND ($4::text IS NULL OR c.name = $4)
           AND (cardinality($5::text[]) = 0 OR r.state = ANY($5))
           AND ($6::text IS NULL OR r.kind = $6)
           AND ($7::timestamptz IS NULL OR (r.created_at, r.id) < ($7, $8))
         ORDER BY r.created_at DESC, r.id DESC LIMIT $9"
    ))
    .bind(actor.is_admin)
    .bind(&my_teams)
    .bind(query.team.as_deref().filter(|t| !t.is_empty()))
    .bind(query.cluster.as_deref().filter(|c| !c.is_empty()))
    .bind(&states)
    .bind(kind)
    .bind(cursor.map(|c| c.0))
    .bind(cursor.map(|c| c.1))
    .bind(limit + 1)
    .fetch_all(&app.db)
    .await?;
    let mut items: Vec<NamespaceRequest> = rows.into_iter().map(Into::into).collect();
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|r| make_cursor(r.created_at, r.id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub(super) fn make_cursor(at: OffsetDateTime, id: Uuid) -> String {
    format!("{}_{}", at.unix_timestamp_nanos(), id)
}

pub(super) fn parse_cursor(raw: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = raw.split_once('_')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, Uuid::parse_str(id).ok()?))
}
