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
    auth::{Actor, Ctx},
    error::FieldErrors,
    fields::Sort,
    App, Error, Result,
};

/// `state=open`: every request still on its way.
const OPEN: [RequestState; 5] = [
    RequestState::Pending,
    RequestState::Approved,
    RequestState::Provisioning,
    RequestState::Held,
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
    git_commit: Option<String>,
    git_branch: Option<String>,
    git_review_url: Option<String>,
    held_by: Option<String>,
    held_until: Option<OffsetDateTime>,
    freeze_released_by: Option<String>,
    freeze_release_reason: Option<String>,
    cluster_id: Uuid,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// Which request rows to read: one by id, or a page of the visible ones.
#[derive(Default)]
struct Filter<'a> {
    id: Option<Uuid>,
    /// Every team's (admins, and `get`, which checks visibility itself).
    all_teams: bool,
    my_teams: Vec<String>,
    team: Option<&'a str>,
    cluster: Option<&'a str>,
    states: Vec<&'a str>,
    kind: Option<&'a str>,
    /// Part of the namespace's, the team's or the cluster's name.
    search: Option<String>,
    before: Option<(OffsetDateTime, Uuid)>,
    /// A column's order instead of the newest first, paged by `offset`.
    sort: Option<Sort>,
    offset: i64,
    limit: i64,
}

/// The columns the request list sorts by.
pub const SORT_COLUMNS: [&str; 7] = [
    "namespace",
    "cluster",
    "team",
    "kind",
    "state",
    "requested_by",
    "created",
];

/// The one query every request read model comes from, newest first or by the column `sort`
/// names (then newest first); checked against the schema at compile time.
async fn rows(conn: &mut PgConnection, f: &Filter<'_>) -> Result<Vec<Row>> {
    let states: Vec<String> = f.states.iter().map(|s| s.to_string()).collect();
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT r.id, r.kind AS "kind: RequestKind", t.name AS team, r.team_id, c.name AS cluster,
                  r.namespace_name, r.namespace_id, r.node_pool, r.environment AS "environment: Environment",
                  r.preset, r.purpose, r.expires_at, r.burst_until,
                  r.requested_spec AS "requested_spec: Json<NamespaceSpec>", r.spec AS "spec: Json<NamespaceSpec>",
                  ua.email AS "amended_by?", r.amendment_note, r.state AS "state: RequestState",
                  r.requested_by AS requested_by_id, ur.email AS "requested_by?", ud.email AS "decided_by?",
                  r.decided_at, r.decision_reason, r.matched_policy, r.over_budget, r.last_error,
                  r.attempts, r.git_commit, r.git_branch, r.git_review_url, r.held_by, r.held_until,
                  uf.email AS "freeze_released_by?", r.freeze_release_reason, r.cluster_id, r.created_at, r.updated_at
           FROM namespace_requests r JOIN teams t ON t.id = r.team_id JOIN clusters c ON c.id = r.cluster_id
           LEFT JOIN users ua ON ua.id = r.amended_by LEFT JOIN users ur ON ur.id = r.requested_by
           LEFT JOIN users ud ON ud.id = r.decided_by LEFT JOIN users uf ON uf.id = r.freeze_released_by
           CROSS JOIN LATERAL (SELECT CASE $12::text WHEN 'namespace' THEN r.namespace_name
               WHEN 'cluster' THEN c.name WHEN 'team' THEN t.name WHEN 'kind' THEN r.kind
               WHEN 'state' THEN r.state WHEN 'requested_by' THEN coalesce(ur.email, '')
               WHEN 'created' THEN to_char(r.created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') END AS text) k
           WHERE ($1::uuid IS NULL OR r.id = $1)
             AND ($2 OR t.name = ANY($3))
             AND ($4::text IS NULL OR t.name = $4)
             AND ($5::text IS NULL OR c.name = $5)
             AND (cardinality($6::text[]) = 0 OR r.state = ANY($6))
             AND ($7::text IS NULL OR r.kind = $7)
             AND ($8::timestamptz IS NULL OR (r.created_at, r.id) < ($8, $9))
             AND ($11::text IS NULL OR strpos(r.namespace_name, $11) > 0 OR strpos(t.name, $11) > 0
                  OR strpos(c.name, $11) > 0)
           ORDER BY CASE WHEN NOT $13 THEN k.text END, CASE WHEN $13 THEN k.text END DESC,
                    r.created_at DESC, r.id DESC
           LIMIT $10 OFFSET $14"#,
        f.id,
        f.all_teams,
        &f.my_teams,
        f.team,
        f.cluster,
        &states,
        f.kind,
        f.before.map(|c| c.0),
        f.before.map(|c| c.1),
        f.limit,
        f.search.as_deref(),
        f.sort.map(|s| s.column),
        f.sort.is_some_and(|s| s.descending),
        f.offset
    )
    .fetch_all(conn)
    .await?)
}

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
            git_commit: r.git_commit,
            git_branch: r.git_branch,
            git_review_url: r.git_review_url,
            held_by: r.held_by,
            held_until: r.held_until,
            freeze_released_by: r.freeze_released_by,
            freeze_release_reason: r.freeze_release_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub async fn get(app: &App, ctx: &Ctx, id: Uuid) -> Result<RequestDetail> {
    let actor = ctx.require(Scope::Read)?;
    let mut conn = app.db.acquire().await?;
    let filter = Filter {
        id: Some(id),
        all_teams: true,
        limit: 1,
        ..Default::default()
    };
    let row = rows(&mut conn, &filter)
        .await?
        .pop()
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
                    after: sized.takes(),
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
    let stored = sqlx::query!(
        "SELECT evidence, usage_evidence FROM namespace_requests WHERE id = $1",
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let evidence = stored.evidence.and_then(|e| serde_json::from_value(e).ok());
    let freezes = if row.state.is_open() {
        crate::tenancy::freeze::notices(&mut conn, row.cluster_id).await?
    } else {
        vec![]
    };
    let can_release = row.state == RequestState::Held && actor.is_admin;
    let usage = stored
        .usage_evidence
        .and_then(|e| serde_json::from_value(e).ok());
    Ok(RequestDetail {
        request: row.into(),
        impact,
        objects,
        can_decide,
        can_cancel,
        cluster_pools,
        evidence,
        usage,
        freezes,
        can_release,
    })
}

pub async fn list(app: &App, ctx: &Ctx, query: RequestQuery) -> Result<Page<NamespaceRequest>> {
    let actor = ctx.require(Scope::Read)?;
    let mut errors = FieldErrors::new();
    let limit =
        crate::fields::collect(&mut errors, crate::fields::parse_limit(query.limit)).unwrap_or(0);
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
    // A sorted list pages by position; the newest first by the last request shown.
    let mut paging = crate::fields::paging(
        &mut errors,
        query.sort.as_deref(),
        &SORT_COLUMNS,
        query.cursor.as_deref(),
        parse_cursor,
    );
    let search =
        crate::fields::collect(&mut errors, crate::fields::search(query.q.as_deref())).flatten();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let filter = Filter {
        id: None,
        all_teams: actor.is_admin,
        my_teams: actor.teams.iter().map(|t| t.team.clone()).collect(),
        team: query.team.as_deref().filter(|t| !t.is_empty()),
        cluster: query.cluster.as_deref().filter(|c| !c.is_empty()),
        states,
        kind,
        search,
        before: paging.after.take(),
        sort: paging.sort,
        offset: paging.offset,
        limit: limit + 1,
    };
    let items: Vec<NamespaceRequest> = rows(&mut *app.db.acquire().await?, &filter)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(paging.page(items, limit, |r| make_cursor(r.created_at, r.id)))
}

pub(crate) fn make_cursor(at: OffsetDateTime, id: Uuid) -> String {
    format!("{}_{}", at.unix_timestamp_nanos(), id)
}

pub(crate) fn parse_cursor(raw: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (nanos, id) = raw.split_once('_')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, Uuid::parse_str(id).ok()?))
}
