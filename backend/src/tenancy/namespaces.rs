//! The namespaces Berth manages: listing, detail with live usage, the quota ledger,
//! re-applying after drift, and namespaces found on clusters that Berth does not know.

use std::collections::BTreeMap;

use berth_frontend::api::{
    Amounts, DriftItem, Environment, LedgerRow, Namespace, NamespaceDetail, NamespaceQuery,
    NamespaceSpec, NamespaceState, ObjectOutcome, OutOfBand, Page, PinningProof, QuotaUsage,
    RequestQuery, Scope,
};
use serde_json::{json, Value};
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use super::spec::Amount;
use crate::{audit, auth::Ctx, error::FieldErrors, fields::Sort, App, Error, Result};

pub async fn objects(conn: &mut PgConnection, namespace_id: Uuid) -> Result<Vec<ObjectOutcome>> {
    Ok(sqlx::query_as!(
        ObjectOutcome,
        "SELECT kind, name, outcome, error, at FROM namespace_objects WHERE namespace_id = $1
         ORDER BY array_position(ARRAY['Namespace','ResourceQuota','LimitRange','NetworkPolicy','RoleBinding','ServiceAccount','Role'], kind), name",
        namespace_id
    )
    .fetch_all(conn)
    .await?)
}

/// A stored or live ResourceQuota status as the API shows it, with `used` in base units.
pub(crate) fn usage(raw: Option<Value>, at: Option<OffsetDateTime>) -> Option<QuotaUsage> {
    let raw = raw?;
    let map = |key: &str| -> BTreeMap<String, String> {
        raw.get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let used = map("used");
    let get = |k: &str, cpu: bool| {
        used.get(k)
            .and_then(|v| {
                if cpu {
                    Amount::cpu(k, v).ok()
                } else {
                    Amount::bytes(k, v).ok()
                }
            })
            .map_or(0, |a| a.0)
    };
    Some(QuotaUsage {
        hard: map("hard"),
        used_amounts: Amounts {
            cpu_millis: get("requests.cpu", true),
            memory_bytes: get("requests.memory", false),
            storage_bytes: get("requests.storage", false),
        },
        used,
        observed_at: at?,
    })
}

struct Row {
    id: Uuid,
    name: String,
    team: String,
    cluster: String,
    node_pool: String,
    environment: Environment,
    state: NamespaceState,
    purpose: String,
    spec: Json<NamespaceSpec>,
    quota_cpu_millis: i64,
    quota_memory_bytes: i64,
    quota_storage_bytes: i64,
    expires_at: Option<OffsetDateTime>,
    burst_until: Option<OffsetDateTime>,
    last_error: Option<String>,
    usage: Option<Value>,
    usage_at: Option<OffsetDateTime>,
    drift: Option<Json<Vec<DriftItem>>>,
    drift_checked_at: Option<OffsetDateTime>,
    pinning: Option<Json<PinningProof>>,
    git_repository: Option<String>,
    git_path: Option<String>,
    git_commit: Option<String>,
    git_branch: Option<String>,
    git_review_url: Option<String>,
    git_committed_at: Option<OffsetDateTime>,
    delivery_status: Option<String>,
    held_by: Option<String>,
    held_until: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

/// Which namespace rows to read: a page of the visible ones, or one name on one cluster.
#[derive(Default)]
struct Filter<'a> {
    all_teams: bool,
    my_teams: Vec<String>,
    team: Option<&'a str>,
    cluster: Option<&'a str>,
    name: Option<&'a str>,
    /// One state; `None` is every state but decommissioned, unless `any_state`.
    state: Option<NamespaceState>,
    any_state: bool,
    /// Part of the namespace's, the team's or the cluster's name.
    search: Option<String>,
    after: Option<(String, Uuid)>,
    /// A column's order instead of the name's, paged by `offset`.
    sort: Option<Sort>,
    offset: i64,
    limit: i64,
}

/// The columns the namespace list sorts by.
pub const SORT_COLUMNS: [&str; 8] = [
    "name", "cluster", "team", "pool", "state", "cpu", "drift", "pinning",
];

/// The one query every namespace read model comes from; checked against the schema at
/// compile time. Ordered by name and id, the cursor's order, which the index serves; or by
/// a column (`sort`: text, or a number for the CPU used and the drift), then name and id.
async fn rows(conn: &mut PgConnection, f: &Filter<'_>) -> Result<Vec<Row>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT n.id, n.name, t.name AS team, c.name AS cluster, n.node_pool,
                  n.environment AS "environment: Environment", n.state AS "state: NamespaceState",
                  n.purpose, n.spec AS "spec: Json<NamespaceSpec>", n.quota_cpu_millis, n.quota_memory_bytes,
                  n.quota_storage_bytes, n.expires_at, n.burst_until, n.last_error, n.usage, n.usage_at,
                  n.drift AS "drift: Json<Vec<DriftItem>>", n.drift_checked_at,
                  n.pinning AS "pinning: Json<PinningProof>", g.name AS "git_repository?", n.git_path, n.git_commit,
                  n.git_branch, n.git_review_url, n.git_committed_at, n.delivery_status, n.held_by, n.held_until,
                  n.created_at
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           LEFT JOIN git_repositories g ON g.id = c.git_repository_id
           CROSS JOIN LATERAL (SELECT n.usage->'used'->>'requests.cpu' AS cpu) u
           CROSS JOIN LATERAL (SELECT
               CASE $12::text WHEN 'name' THEN n.name WHEN 'cluster' THEN c.name WHEN 'team' THEN t.name
                   WHEN 'pool' THEN n.node_pool WHEN 'state' THEN n.state
                   WHEN 'pinning' THEN coalesce(n.pinning->>'verdict', '') END AS text,
               CASE $12::text
                   WHEN 'cpu' THEN coalesce(CASE WHEN u.cpu ~ '^[0-9]+m$' THEN rtrim(u.cpu, 'm')::numeric
                       WHEN u.cpu ~ '^[0-9]+(\.[0-9]+)?$' THEN u.cpu::numeric * 1000 END, 0)
                   WHEN 'drift' THEN coalesce(jsonb_array_length(n.drift) + 1, 0) END AS number) k
           WHERE ($1 OR t.name = ANY($2))
             AND ($3::text IS NULL OR t.name = $3)
             AND ($4::text IS NULL OR c.name = $4)
             AND ($5::text IS NULL OR n.name = $5)
             AND (CASE WHEN $6::text IS NULL THEN $7 OR n.state <> 'decommissioned' ELSE n.state = $6 END)
             AND ($8::text IS NULL OR (n.name, n.id) > ($8, $9))
             AND ($11::text IS NULL OR strpos(n.name, $11) > 0 OR strpos(t.name, $11) > 0
                  OR strpos(c.name, $11) > 0)
           ORDER BY CASE WHEN NOT $13 THEN k.number END, CASE WHEN $13 THEN k.number END DESC,
                    CASE WHEN NOT $13 THEN k.text END, CASE WHEN $13 THEN k.text END DESC,
                    n.name, n.id
           LIMIT $10 OFFSET $14"#,
        f.all_teams,
        &f.my_teams,
        f.team,
        f.cluster,
        f.name,
        f.state.map(NamespaceState::as_str),
        f.any_state,
        f.after.as_ref().map(|c| c.0.as_str()),
        f.after.as_ref().map(|c| c.1),
        f.limit,
        f.search.as_deref(),
        f.sort.map(|s| s.column),
        f.sort.is_some_and(|s| s.descending),
        f.offset
    )
    .fetch_all(conn)
    .await?)
}

impl From<Row> for Namespace {
    fn from(r: Row) -> Self {
        Namespace {
            id: r.id,
            name: r.name,
            team: r.team,
            cluster: r.cluster,
            node_pool: r.node_pool,
            environment: r.environment,
            state: r.state,
            purpose: r.purpose,
            spec: r.spec.0,
            quota: Amounts {
                cpu_millis: r.quota_cpu_millis,
                memory_bytes: r.quota_memory_bytes,
                storage_bytes: r.quota_storage_bytes,
            },
            expires_at: r.expires_at,
            burst_until: r.burst_until,
            last_error: r.last_error,
            usage: usage(r.usage, r.usage_at),
            drift: r.drift.map(|d| d.0),
            drift_checked_at: r.drift_checked_at,
            pinning: r.pinning.map(|p| p.0),
            git: match (r.git_repository, r.git_path) {
                (Some(repository), Some(path)) => Some(berth_frontend::api::GitState {
                    repository,
                    path,
                    commit: r.git_commit,
                    branch: r.git_branch,
                    review_url: r.git_review_url,
                    committed_at: r.git_committed_at,
                }),
                _ => None,
            },
            delivery_status: r.delivery_status,
            held_by: r.held_by,
            held_until: r.held_until,
            created_at: r.created_at,
        }
    }
}

/// Members see their teams' namespaces; admins see all. Ordered by name, or by the column
/// `sort` names, paged by cursor.
pub async fn list(app: &App, ctx: &Ctx, query: NamespaceQuery) -> Result<Page<Namespace>> {
    let actor = ctx.require(Scope::Read)?;
    let mut errors = FieldErrors::new();
    let limit =
        crate::fields::collect(&mut errors, crate::fields::parse_limit(query.limit)).unwrap_or(0);
    // A sorted list pages by position; the name's order by the last name shown.
    let mut paging = crate::fields::paging(
        &mut errors,
        query.sort.as_deref(),
        &SORT_COLUMNS,
        query.cursor.as_deref(),
        |c| {
            let (name, id) = c.split_once('/')?;
            Some((name.to_owned(), Uuid::parse_str(id).ok()?))
        },
    );
    let state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| crate::fields::collect(&mut errors, crate::fields::word("state", s)));
    let search =
        crate::fields::collect(&mut errors, crate::fields::search(query.q.as_deref())).flatten();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let filter = Filter {
        all_teams: actor.is_admin,
        my_teams: actor.teams.iter().map(|t| t.team.clone()).collect(),
        team: query.team.as_deref().filter(|t| !t.is_empty()),
        cluster: query.cluster.as_deref().filter(|c| !c.is_empty()),
        state,
        search,
        after: paging.after.take(),
        sort: paging.sort,
        offset: paging.offset,
        limit: limit + 1,
        ..Default::default()
    };
    let rows = rows(&mut *app.db.acquire().await?, &filter).await?;
    let items: Vec<Namespace> = rows.into_iter().map(Into::into).collect();
    Ok(paging.page(items, limit, |n| format!("{}/{}", n.name, n.id)))
}

/// A namespace with its objects and requests. Its quota usage is read live from the
/// cluster (within the sync timeout); when the cluster does not answer, the last reading
/// is shown with its time.
pub async fn get(app: &App, ctx: &Ctx, cluster: &str, name: &str) -> Result<NamespaceDetail> {
    let actor = ctx.require(Scope::Read)?;
    let mut conn = app.db.acquire().await?;
    // The live namespace of that name, else the newest decommissioned one (a name may be
    // reused after decommissioning, so there can be several).
    let filter = Filter {
        all_teams: true,
        cluster: Some(cluster),
        name: Some(name),
        any_state: true,
        limit: 1000,
        ..Default::default()
    };
    let row = rows(&mut conn, &filter)
        .await?
        .into_iter()
        .max_by_key(|r| (r.state != NamespaceState::Decommissioned, r.created_at))
        .ok_or(Error::NotFound("namespace"))?;
    if !super::access::may_see_team(actor, &row.team) {
        return Err(Error::NotFound("namespace"));
    }
    let id = row.id;
    let mut namespace: Namespace = row.into();
    if matches!(
        namespace.state,
        NamespaceState::Ready | NamespaceState::Failed
    ) {
        if let Some(live) = live_usage(app, &mut conn, id, &namespace.name).await {
            namespace.usage = Some(live);
        }
    }
    let objects = objects(&mut conn, id).await?;
    drop(conn);
    let requests = super::requests::list(
        app,
        ctx,
        RequestQuery {
            cluster: Some(namespace.cluster.clone()),
            limit: Some(500),
            ..Default::default()
        },
    )
    .await?
    .items
    .into_iter()
    .filter(|r| r.namespace == namespace.name)
    .collect();
    let can_request = !namespace.state.is_leaving();
    let presets = super::settings::load_presets(&mut *app.db.acquire().await?).await?;
    let connect = match namespace.state {
        NamespaceState::Decommissioned | NamespaceState::Decommissioning => None,
        NamespaceState::Provisioning | NamespaceState::Ready | NamespaceState::Failed => {
            Some(connect_hint(app, id, &namespace).await?)
        }
    };
    Ok(NamespaceDetail {
        namespace,
        objects,
        requests,
        can_request,
        presets,
        connect,
    })
}

/// A kubeconfig for the namespace: its cluster (address and CA as Berth reaches it), a
/// context on the namespace, and — with single sign-on — a user that signs in through the
/// same provider with kubelogin (`kubectl oidc-login`), whose groups the cluster maps onto
/// the team's group.
async fn connect_hint(
    app: &App,
    id: Uuid,
    n: &Namespace,
) -> Result<berth_frontend::api::ConnectHint> {
    let cluster_id = sqlx::query_scalar!("SELECT cluster_id FROM namespaces WHERE id = $1", id)
        .fetch_one(&app.db)
        .await?;
    let server = crate::fleet::connect::server(app, cluster_id).await;
    let group = super::objects::group_name(&app.config.team_group_pattern, &n.team);
    let mut cluster = serde_json::json!({
        "server": server.as_ref().map(|s| s.0.clone()).unwrap_or_else(|| "https://<the API server of this cluster: ask your platform team>".into()),
    });
    if let Some((_, Some(ca))) = &server {
        use base64::Engine;
        cluster["certificate-authority-data"] =
            base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    let user = match (&app.config.oidc_issuer, &app.config.oidc_client_id) {
        (Some(issuer), Some(client)) => serde_json::json!({"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "kubectl",
            "args": ["oidc-login", "get-token", format!("--oidc-issuer-url={issuer}"),
                     format!("--oidc-client-id={client}"), "--oidc-extra-scope=email", "--oidc-extra-scope=groups"],
            "interactiveMode": "IfAvailable",
        }}),
        _ => serde_json::json!({"token": "<your token for this cluster: ask your platform team>"}),
    };
    let context = format!("{}-{}", n.cluster, n.name);
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n.cluster, "cluster": cluster}],
        "users": [{"name": format!("{}-user", n.cluster), "user": user}],
        "contexts": [{"name": context, "context": {"cluster": n.cluster, "namespace": n.name, "user": format!("{}-user", n.cluster)}}],
        "current-context": context,
    });
    Ok(berth_frontend::api::ConnectHint {
        kubeconfig: serde_yaml_ng::to_string(&kubeconfig).map_err(anyhow::Error::from)?,
        group,
        server: server.map(|s| s.0),
    })
}

/// What Berth applies (or commits) for the namespace, as YAML documents: what a person can
/// read, diff or keep.
pub async fn manifests(app: &App, ctx: &Ctx, cluster: &str, name: &str) -> Result<String> {
    let actor = ctx.require(Scope::Read)?;
    let mut conn = app.db.acquire().await?;
    let ns = super::access::namespace(&mut conn, actor, cluster, name).await?;
    let facts = super::provision::facts(&mut conn, ns.id).await?;
    drop(conn);
    let manifests = super::provision::desired(app, &facts).map_err(|why| {
        Error::conflict(
            "namespace",
            format!("its objects cannot be built now: {why}"),
        )
    })?;
    let mut out = String::new();
    for (_, _, manifest) in manifests {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&manifest).map_err(anyhow::Error::from)?);
    }
    Ok(out)
}

async fn live_usage(
    app: &App,
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
) -> Option<QuotaUsage> {
    let cluster_id = sqlx::query_scalar!("SELECT cluster_id FROM namespaces WHERE id = $1", id)
        .fetch_one(&mut *conn)
        .await
        .ok()?;
    let client = crate::fleet::connect::client(app, cluster_id).await.ok()?;
    let quotas: kube::Api<k8s_openapi::api::core::v1::ResourceQuota> =
        kube::Api::namespaced(client, name);
    let rq = quotas.get_opt(super::objects::QUOTA_NAME).await.ok()??;
    let status = serde_json::to_value(rq.status?).ok()?;
    sqlx::query!(
        "UPDATE namespaces SET usage = $2, usage_at = now() WHERE id = $1",
        id,
        status
    )
    .execute(&mut *conn)
    .await
    .ok()?;
    usage(Some(status), Some(OffsetDateTime::now_utc()))
}

/// Applies the namespace's objects again (after drift), as a job. Team members and admins.
pub async fn reapply(app: &App, ctx: &Ctx, cluster: &str, name: &str) -> Result<NamespaceDetail> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let ns = super::access::namespace(&mut tx, actor, cluster, name).await?;
    if ns.state == NamespaceState::Decommissioning {
        return Err(Error::conflict(
            "namespace",
            "this namespace is being decommissioned",
        ));
    }
    let cluster_id = ns.cluster_id;
    let queued = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM jobs WHERE namespace_id = $1 AND kind = 'apply' AND state IN ('queued', 'running')) AS "q!""#,
        ns.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if !queued {
        crate::jobs::enqueue(
            &mut tx,
            crate::jobs::Kind::Apply,
            ns.id,
            None,
            cluster_id,
            None,
        )
        .await?;
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("namespace.reapply_requested", "namespace", ns.id)
            .team(ns.team.id)
            .after(json!({"namespace": ns.name, "cluster": ns.cluster})),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), cluster, name).await
}

/// Reads usage and drift of one cluster's namespaces now (admins; the periodic check does
/// the same for the whole fleet).
pub async fn check_now(app: &App, ctx: &Ctx, cluster: &str) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster)
        .fetch_optional(&app.db)
        .await?
        .ok_or(Error::NotFound("cluster"))?;
    super::drift::check_cluster(app, id)
        .await
        .map_err(|e| Error::conflict("cluster", format!("the cluster could not be checked: {e}")))
}

/// Per team and cluster: namespaces, quota allocated, usage last read, and the allocatable
/// capacity of the pools those namespaces use. Members see their teams' rows.
pub async fn ledger(app: &App, ctx: &Ctx) -> Result<Vec<LedgerRow>> {
    let actor = ctx.require(Scope::Read)?;
    let my_teams: Vec<String> = actor.teams.iter().map(|t| t.team.clone()).collect();
    let rows = sqlx::query!(
        r#"SELECT t.name AS team, c.name AS cluster, count(*) AS "namespaces!",
                  sum(n.quota_cpu_millis)::bigint AS "cpu!", sum(n.quota_memory_bytes)::bigint AS "memory!",
                  sum(n.quota_storage_bytes)::bigint AS "storage!",
                  array_agg(n.usage) FILTER (WHERE n.usage IS NOT NULL) AS "usages: Vec<Value>",
                  (SELECT coalesce(sum(p.cpu_millis), 0) FROM node_pools p WHERE p.cluster_id = c.id
                     AND p.name IN (SELECT DISTINCT n2.node_pool FROM namespaces n2 WHERE n2.team_id = t.id
                                      AND n2.cluster_id = c.id AND n2.state <> 'decommissioned'))::bigint AS "pool_cpu!",
                  (SELECT coalesce(sum(p.memory_bytes), 0) FROM node_pools p WHERE p.cluster_id = c.id
                     AND p.name IN (SELECT DISTINCT n2.node_pool FROM namespaces n2 WHERE n2.team_id = t.id
                                      AND n2.cluster_id = c.id AND n2.state <> 'decommissioned'))::bigint AS "pool_memory!"
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           WHERE n.state <> 'decommissioned' AND ($1 OR t.name = ANY($2))
           GROUP BY t.id, t.name, c.id, c.name ORDER BY t.name, c.name"#,
        actor.is_admin,
        &my_teams
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut used = Amounts::default();
            for u in r.usages.unwrap_or_default() {
                if let Some(q) = usage(Some(u), Some(OffsetDateTime::UNIX_EPOCH)) {
                    used.cpu_millis += q.used_amounts.cpu_millis;
                    used.memory_bytes += q.used_amounts.memory_bytes;
                    used.storage_bytes += q.used_amounts.storage_bytes;
                }
            }
            LedgerRow {
                team: r.team,
                cluster: r.cluster,
                namespaces: r.namespaces,
                allocated: Amounts {
                    cpu_millis: r.cpu,
                    memory_bytes: r.memory,
                    storage_bytes: r.storage,
                },
                used,
                capacity: Amounts {
                    cpu_millis: r.pool_cpu,
                    memory_bytes: r.pool_memory,
                    storage_bytes: 0,
                },
            }
        })
        .collect())
}

/// Namespaces labelled managed-by=berth that the last check found and Berth does not know
/// (admins).
pub async fn out_of_band(app: &App, ctx: &Ctx) -> Result<Vec<OutOfBand>> {
    ctx.require_admin(Scope::Read)?;
    Ok(sqlx::query_as!(
        OutOfBand,
        "SELECT c.name AS cluster, o.name AS namespace, o.team_label FROM out_of_band_namespaces o
         JOIN clusters c ON c.id = o.cluster_id ORDER BY c.name, o.name"
    )
    .fetch_all(&app.db)
    .await?)
}
