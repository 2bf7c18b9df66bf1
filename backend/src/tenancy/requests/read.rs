//! Requests as people read them: one with its impact and objects, and pages of them.

use berth_frontend::api::{
    Environment, NamespaceRequest, NamespaceSpec, Page, RequestDetail, RequestKind, RequestQuery,
    RequestState, Scope, Word,
};
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::tenancy::Change;
use crate::{
    audit,
    auth::{Actor, Ctx},
    error::FieldErrors,
    App, Error, Result,
};

/// `state=open`: every request still on its way.
const OPEN: [RequestState; 4] = [
    RequestState::Pending,
    RequestState::Approved,
    RequestState::Provisioning,
    RequestState::Failed,
];

use super::*;

/// Members see their teams' requests; admins see all; anyone else is told there is none.
pub(super) async fn visible(conn: &mut PgConnection, actor: &Actor, team_id: Uuid) -> Result<()> {
    let team = sqlx::query_scalar!("SELECT name FROM teams WHERE id = $1", team_id)
        .fetch_one(&mut *conn)
        .await?;
    if crate::tenancy::access::may_see_team(actor, &team) {
        Ok(())
    } else {
        Err(Error::NotFound("namespace request"))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: Uuid,
    kind: RequestKind,
    team: String,
    team_id: Uuid,
    cluster: String,
    namespace_name: String,
    namespace_id: Option<Uuid>,
    node_pool: String,
    environment: Environment,
    preset: Option<String>,
    purpose: String,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    requested_spec: Json<NamespaceSpec>,
    spec: Json<NamespaceSpec>,
    amended_by: Option<String>,
    amendment_note: Option<String>,
    state: RequestState,
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

pub(super) const SELECT: &str = "SELECT r.id, r.kind, t.name AS team, r.team_id, c.name AS cluster, r.namespace_name, r.namespace_id,
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
    let impact = if row.state == RequestState::Pending && row.kind != RequestKind::Decommission {
        let placement = crate::tenancy::placement(&mut conn, &row.cluster).await?;
        cluster_pools = placement
            .cluster
            .pools
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let sized = crate::tenancy::stored_sized(&row.spec.0)?;
        let previous = previous_quota(&mut conn, row.namespace_id, &row.node_pool).await?;
        Some(
            crate::tenancy::impact(
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
        Some(ns) => crate::tenancy::namespaces::objects(&mut conn, ns).await?,
        None => vec![],
    };
    let pending = row.state == RequestState::Pending;
    let can_decide = pending && crate::tenancy::access::may_decide(actor, row.requested_by_id);
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
    let states: Vec<&str> = match state {
        None => vec![],
        Some("open") => OPEN.iter().map(|s| s.as_str()).collect(),
        Some(s) => match RequestState::parse(s) {
            Some(s) => vec![s.as_str()],
            None => {
                errors.insert(
                    "state".into(),
                    format!("must be open, {}", RequestState::choices()),
                );
                vec![]
            }
        },
    };
    let kind = query
        .kind
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(k) = kind {
        if RequestKind::parse(k).is_none() {
            errors.insert("kind".into(), format!("must be {}", RequestKind::choices()));
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

pub(crate) fn make_cursor(at: OffsetDateTime, id: Uuid) -> String {
    format!("{}_{}", at.unix_timestamp_nanos(), id)
}

pub(crate) fn parse_cursor(raw: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = raw.split_once('_')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, Uuid::parse_str(id).ok()?))
}
