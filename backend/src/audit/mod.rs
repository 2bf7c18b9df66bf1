//! The audit trail: every state change writes one row in the same transaction as the change.
//!
//! Rows are append-only and hash-chained by the database itself (see the audit migration);
//! this module writes them, reads them back for the people allowed to see them, exports
//! them, and verifies the chain — recomputing each hash here, not with the database's own
//! function, which whoever owns the schema could redefine. `checkpoint` signs the chain's
//! head outside the database, so a rewritten or truncated trail is caught even when every
//! hash in it was recomputed.

pub mod checkpoint;

use std::fmt::Display;

use berth_frontend::api::{AuditEvent, AuditQuery, Page, Scope};
use serde_json::Value;
use sqlx::PgConnection;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

use crate::{auth::Ctx, error::FieldErrors, fields, App, Error, Result};

/// What changed. Secrets never go in `before` or `after`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub team_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Entry {
    pub fn new(action: &'static str, target_type: &'static str, target_id: impl Display) -> Self {
        Entry {
            action,
            target_type,
            target_id: target_id.to_string(),
            team_id: None,
            before: None,
            after: None,
        }
    }

    pub fn team(mut self, team_id: Uuid) -> Self {
        self.team_id = Some(team_id);
        self
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }
}

/// Writes one audit row inside the caller's transaction.
pub async fn record(tx: &mut PgConnection, ctx: &Ctx, entry: Entry) -> Result<()> {
    let (user_id, token_id) = match &ctx.actor {
        Some(actor) => (
            Some(actor.user_id),
            match &actor.credential {
                crate::auth::Credential::Token { id, .. } => Some(*id),
                crate::auth::Credential::Session { .. } => None,
            },
        ),
        None => (None, None),
    };
    sqlx::query!(
        r#"INSERT INTO audit_events
             (actor_user_id, actor_token_id, actor_label, action, target_type, target_id, team_id,
              before, after, request_id, client_addr, user_agent, id, prev_hash, row_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, '', '')"#,
        user_id,
        token_id,
        ctx.label(),
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.team_id,
        entry.before,
        entry.after,
        ctx.meta.request_id,
        ctx.meta.client_addr,
        ctx.meta.user_agent,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A filter parsed from [`AuditQuery`]: times are times, the cursor is a row id.
struct Filter {
    actor: Option<String>,
    team_id: Option<Uuid>,
    action: Option<String>,
    action_prefix: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    namespace: Option<String>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    limit: i64,
    before_id: Option<i64>,
}

async fn parse_filter(app: &App, query: &AuditQuery) -> Result<Filter> {
    let mut errors = FieldErrors::new();
    let mut time = |field: &str, raw: &Option<String>| {
        raw.as_deref().filter(|s| !s.is_empty()).and_then(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| errors.insert(field.to_owned(), "must be an RFC 3339 time".into()))
                .ok()
        })
    };
    let since = time("since", &query.since);
    let until = time("until", &query.until);
    let before_id = fields::cursor(&mut errors, query.cursor.as_deref(), |raw| {
        raw.parse::<i64>().ok().filter(|id| *id > 0)
    });
    let limit = fields::collect(&mut errors, fields::parse_limit(query.limit))
        .unwrap_or(fields::DEFAULT_PAGE);
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let team_id = match non_empty(&query.team) {
        None => None,
        Some(name) => {
            let id = sqlx::query_scalar!("SELECT id FROM teams WHERE name = $1", name)
                .fetch_optional(&app.db)
                .await?;
            if id.is_none() {
                errors.insert("team".into(), "no team has this name".into());
            }
            id
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let (action, action_prefix) = match non_empty(&query.action) {
        Some(a) if a.ends_with('.') => (None, Some(a)),
        other => (other, None),
    };
    Ok(Filter {
        actor: non_empty(&query.actor).map(|a| a.to_lowercase()),
        team_id,
        action,
        action_prefix,
        target_type: non_empty(&query.target_type),
        target_id: non_empty(&query.target_id),
        namespace: non_empty(&query.namespace),
        since,
        until,
        limit,
        before_id,
    })
}

/// One page of the trail, newest first. Admins see every row; everyone else sees the rows
/// of their teams and their own actions.
pub async fn list(app: &App, ctx: &Ctx, query: &AuditQuery) -> Result<Page<AuditEvent>> {
    let actor = ctx.require(Scope::Read)?;
    let filter = parse_filter(app, query).await?;
    let rows = sqlx::query!(
        r#"SELECT e.id, e.occurred_at, e.actor_label, e.actor_user_id, e.actor_token_id, e.action,
                  e.target_type, e.target_id, e.team_id, t.name AS "team?", e.before, e.after,
                  e.request_id, e.client_addr, e.user_agent
           FROM audit_events e LEFT JOIN teams t ON t.id = e.team_id
           WHERE ($1 OR e.actor_user_id = $2
                  OR e.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2))
             AND ($3::text IS NULL OR e.actor_label = $3)
             AND ($4::uuid IS NULL OR e.team_id = $4)
             AND ($5::text IS NULL OR e.action = $5)
             AND ($6::text IS NULL OR starts_with(e.action, $6))
             AND ($7::text IS NULL OR e.target_type = $7)
             AND ($8::text IS NULL OR e.target_id = $8)
             AND ($9::timestamptz IS NULL OR e.occurred_at >= $9)
             AND ($10::timestamptz IS NULL OR e.occurred_at < $10)
             AND ($11::bigint IS NULL OR e.id < $11)
             AND ($13::text IS NULL OR e.after->>'namespace' = $13 OR e.before->>'namespace' = $13)
           ORDER BY e.id DESC
           LIMIT $12"#,
        actor.is_admin,
        actor.user_id,
        filter.actor,
        filter.team_id,
        filter.action,
        filter.action_prefix,
        filter.target_type,
        filter.target_id,
        filter.since,
        filter.until,
        filter.before_id,
        filter.limit + 1,
        filter.namespace,
    )
    .fetch_all(&app.db)
    .await?;
    let items: Vec<AuditEvent> = rows
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            occurred_at: r.occurred_at,
            actor: r.actor_label,
            actor_user_id: r.actor_user_id,
            actor_token_id: r.actor_token_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            team_id: r.team_id,
            team: r.team,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            client_addr: r.client_addr,
            user_agent: r.user_agent,
        })
        .collect();
    Ok(fields::page(items, filter.limit, |e| e.id))
}

/// Every visible row matching the filter, oldest pages last (as the listing reads).
/// Pages through [`list`], so export sees exactly what the listing sees.
pub async fn export_all(app: &App, ctx: &Ctx, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
    let mut query = AuditQuery {
        limit: Some(fields::MAX_PAGE),
        ..query.clone()
    };
    let mut all = Vec::new();
    loop {
        let page = list(app, ctx, &query).await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
}

pub fn to_csv(events: &[AuditEvent]) -> Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "id",
            "occurred_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "team",
            "before",
            "after",
            "request_id",
            "client_addr",
            "user_agent",
        ])
        .map_err(|e| Error::Internal(e.into()))?;
    for e in events {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        writer
            .write_record([
                e.id.to_string(),
                e.occurred_at.format(&Rfc3339).unwrap_or_default(),
                e.actor.clone(),
                e.action.clone(),
                e.target_type.clone(),
                e.target_id.clone(),
                e.team.clone().unwrap_or_default(),
                json(&e.before),
                json(&e.after),
                e.request_id.clone().unwrap_or_default(),
                e.client_addr.clone().unwrap_or_default(),
                e.user_agent.clone().unwrap_or_default(),
            ])
            .map_err(|e| Error::Internal(e.into()))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(e.into()))
}

pub fn to_ndjson(events: &[AuditEvent]) -> Result<String> {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e).map_err(|e| Error::Internal(e.into()))?);
        out.push('\n');
    }
    Ok(out)
}

/// The result of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Verification {
    pub rows: i64,
    /// The first row whose hash, predecessor link or position is wrong, and why.
    pub first_broken: Option<(i64, &'static str)>,
}

/// The text the chain hashes for a row, built by Postgres's own built-ins (schema-qualified;
/// EXTRACT is syntax that always means the built-in), so no function of the schema's owner
/// takes part: the row's fields as a JSON array.
const CONTENT: &str = "pg_catalog.jsonb_build_array(
        e.id, extract(epoch FROM e.occurred_at)::text,
        e.actor_user_id, e.actor_token_id, e.actor_label,
        e.action, e.target_type, e.target_id, e.team_id,
        e.before, e.after,
        e.request_id, e.client_addr, e.user_agent)::text";

/// SHA-256 of the previous row's hash followed by this row's content, as the trigger chains.
pub fn row_hash(prev: &[u8], content: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(prev);
    h.update(content.as_bytes());
    h.finalize().to_vec()
}

/// Recomputes every row's hash in order (here, not in the database) and checks each row
/// links to the one before it.
pub async fn verify(db: &sqlx::PgPool) -> Result<Verification> {
    Ok(walk(db, |_, _| {}).await?.0)
}

/// Walks the chain as [`verify`] does, calling `seen(id, hash)` for each good row; answers
/// the verification and the last good row.
pub(crate) async fn walk(
    db: &sqlx::PgPool,
    mut seen: impl FnMut(i64, &[u8]),
) -> Result<(Verification, Option<(i64, Vec<u8>)>)> {
    use futures::TryStreamExt;
    let query = format!(
        "SELECT e.id, e.prev_hash, e.row_hash, {CONTENT} AS content FROM audit_events e ORDER BY e.id"
    );
    let mut rows = sqlx::query_as::<_, (i64, Vec<u8>, Vec<u8>, String)>(&query).fetch(db);
    let mut count = 0;
    let mut previous: Option<(i64, Vec<u8>)> = None;
    while let Some((id, prev_hash, stored, content)) = rows.try_next().await? {
        count += 1;
        let (expected_id, expected_prev) = match &previous {
            Some((id, hash)) => (id + 1, hash.clone()),
            None => (1, Vec::new()),
        };
        let broken = if id != expected_id {
            Some("a row before it is missing")
        } else if prev_hash != expected_prev {
            Some("its link to the previous row does not match")
        } else if row_hash(&prev_hash, &content) != stored {
            Some("its content does not match its hash")
        } else {
            None
        };
        if let Some(reason) = broken {
            return Ok((
                Verification {
                    rows: count,
                    first_broken: Some((id, reason)),
                },
                previous,
            ));
        }
        seen(id, &stored);
        previous = Some((id, stored));
    }
    Ok((
        Verification {
            rows: count,
            first_broken: None,
        },
        previous,
    ))
}
