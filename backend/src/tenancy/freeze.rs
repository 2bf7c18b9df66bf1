//! Change windows ("freezes"): while one holds a cluster, the jobs that would change it —
//! applies, decommissions and prunes — wait as "held by freeze <name>" and continue when it
//! ends. Requests are still filed and decided during a freeze; only the change waits. An
//! admin may let one held request through, with a reason. Drills are not held: they write
//! only to scratch namespaces and are how a team proves it can recover during a freeze.
//!
//! A window is dated (from, until) or recurring (a cron expression in a time zone, each
//! occurrence lasting a duration). It holds the clusters it names and every cluster of the
//! environments it names; naming neither, the whole fleet. A window must end: a dated one
//! within 90 days, a recurring one before its next occurrence.

use std::str::FromStr;

use berth_frontend::api::{
    Environment, FreezeCalendar, FreezeCalendarQuery, FreezeNotice, FreezeOccurrence,
    FreezeRelease, FreezeSpan, FreezeWindow, NewFreezeWindow, RequestDetail, Scope,
};
use serde_json::json;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, short_text, word},
    jobs::{self, Job, Kind},
    App, Error, Result,
};

/// The longest a dated window may last.
const LONGEST: Duration = Duration::days(90);
/// How far ahead the wizard and the request page look for freezes.
pub const HORIZON: Duration = Duration::days(14);

/// When a window holds.
#[derive(Debug, Clone)]
pub enum When {
    Dated {
        starts_at: OffsetDateTime,
        ends_at: OffsetDateTime,
    },
    Recurring {
        cron: Box<croner::Cron>,
        tz: chrono_tz::Tz,
        duration: Duration,
    },
}

/// A window as the rules read it.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: String,
    pub reason: String,
    pub environments: Vec<Environment>,
    pub clusters: Vec<Uuid>,
    pub when: When,
}

fn to_chrono(t: OffsetDateTime, tz: &chrono_tz::Tz) -> chrono::DateTime<chrono_tz::Tz> {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), 0)
        .unwrap_or_default()
        .with_timezone(tz)
}

fn from_chrono<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Window {
    /// Whether it holds a cluster of this id and environment.
    pub fn covers(&self, cluster: Uuid, environment: Environment) -> bool {
        (self.environments.is_empty() && self.clusters.is_empty())
            || self.clusters.contains(&cluster)
            || self.environments.contains(&environment)
    }

    /// The occurrence that holds `t`, if one does.
    pub fn at(&self, t: OffsetDateTime) -> Option<FreezeSpan> {
        match &self.when {
            When::Dated { starts_at, ends_at } => {
                (*starts_at <= t && t < *ends_at).then_some(FreezeSpan {
                    starts_at: *starts_at,
                    ends_at: *ends_at,
                })
            }
            When::Recurring { cron, tz, duration } => {
                let start = cron
                    .find_previous_occurrence(&to_chrono(t, tz), true)
                    .ok()?;
                let start = from_chrono(&start);
                (t < start + *duration).then_some(FreezeSpan {
                    starts_at: start,
                    ends_at: start + *duration,
                })
            }
        }
    }

    /// The occurrences that overlap `from..until`, in order (at most 500).
    pub fn spans(&self, from: OffsetDateTime, until: OffsetDateTime) -> Vec<FreezeSpan> {
        match &self.when {
            When::Dated { starts_at, ends_at } => {
                if *starts_at < until && *ends_at > from {
                    vec![FreezeSpan {
                        starts_at: *starts_at,
                        ends_at: *ends_at,
                    }]
                } else {
                    vec![]
                }
            }
            When::Recurring { cron, tz, duration } => cron
                .iter_after(to_chrono(from - *duration, tz))
                .map(|s| from_chrono(&s))
                .take_while(|s| *s < until)
                .filter(|s| *s + *duration > from)
                .take(500)
                .map(|s| FreezeSpan {
                    starts_at: s,
                    ends_at: s + *duration,
                })
                .collect(),
        }
    }

    /// The current occurrence, or the next one.
    pub fn next(&self, now: OffsetDateTime) -> Option<FreezeSpan> {
        self.at(now).or_else(|| match &self.when {
            When::Dated { starts_at, ends_at } => (*starts_at > now).then_some(FreezeSpan {
                starts_at: *starts_at,
                ends_at: *ends_at,
            }),
            When::Recurring { cron, tz, duration } => cron
                .find_next_occurrence(&to_chrono(now, tz), false)
                .ok()
                .map(|s| {
                    let s = from_chrono(&s);
                    FreezeSpan {
                        starts_at: s,
                        ends_at: s + *duration,
                    }
                }),
        })
    }
}

/// Parses a recurring window's schedule; the duration must end before the next occurrence.
fn parse_recurring(
    errors: &mut FieldErrors,
    schedule: &str,
    duration_minutes: Option<i32>,
    timezone: &str,
) -> Option<When> {
    let cron = match croner::Cron::from_str(schedule.trim()) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.insert(
                "schedule".into(),
                format!("is not a cron expression (minute hour day month weekday): {e}"),
            );
            None
        }
    };
    let tz = match timezone.trim().parse::<chrono_tz::Tz>() {
        Ok(t) => Some(t),
        Err(_) => {
            errors.insert(
                "timezone".into(),
                "is not an IANA time zone such as UTC, Europe/Berlin or Asia/Shanghai".into(),
            );
            None
        }
    };
    let duration = match duration_minutes {
        None => {
            errors.insert(
                "duration_minutes".into(),
                "give how long each occurrence lasts; a freeze must end".into(),
            );
            None
        }
        Some(m) if !(1..=44_640).contains(&m) => {
            errors.insert(
                "duration_minutes".into(),
                "must be between 1 minute and 31 days (44640)".into(),
            );
            None
        }
        Some(m) => Some(Duration::minutes(m.into())),
    };
    let (cron, tz, duration) = (cron?, tz?, duration?);
    // Occurrences closer than the duration would overlap: the window would never end.
    let now = to_chrono(OffsetDateTime::now_utc(), &tz);
    let starts: Vec<OffsetDateTime> = cron
        .iter_after(now)
        .take(400)
        .map(|s| from_chrono(&s))
        .collect();
    if starts.is_empty() {
        errors.insert("schedule".into(), "never matches".into());
        return None;
    }
    if let Some(gap) = starts.windows(2).map(|w| w[1] - w[0]).min() {
        if gap <= duration {
            errors.insert(
                "duration_minutes".into(),
                format!(
                    "must be shorter than the time between occurrences ({} minutes), or the freeze never ends",
                    gap.whole_minutes()
                ),
            );
            return None;
        }
    }
    Some(When::Recurring {
        cron: Box::new(cron),
        tz,
        duration,
    })
}

fn parse_time(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<OffsetDateTime> {
    match OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339) {
        Ok(t) => Some(t),
        Err(_) => {
            errors.insert(
                field.into(),
                "must be an RFC 3339 time such as 2026-12-24T00:00:00Z".into(),
            );
            None
        }
    }
}

fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A new window, parsed: every problem named by its field.
async fn parse(conn: &mut PgConnection, input: &NewFreezeWindow) -> Result<(Window, Vec<String>)> {
    let mut errors = FieldErrors::new();
    let name = collect(&mut errors, short_text("name", &input.name, 100));
    let reason = collect(&mut errors, short_text("reason", &input.reason, 500));
    let mut environments = Vec::new();
    for (i, e) in input.environments.iter().enumerate() {
        if let Some(e) = collect(
            &mut errors,
            word::<Environment>(&format!("environments[{i}]"), e),
        ) {
            if !environments.contains(&e) {
                environments.push(e);
            }
        }
    }
    let mut clusters = Vec::new();
    let mut cluster_names = Vec::new();
    for (i, c) in input.clusters.iter().enumerate() {
        match sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", c.trim())
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(id) if !clusters.contains(&id) => {
                clusters.push(id);
                cluster_names.push(c.trim().to_owned());
            }
            Some(_) => {}
            None => {
                errors.insert(format!("clusters[{i}]"), "no cluster has this name".into());
            }
        }
    }
    let dated = filled(&input.starts_at).is_some() || filled(&input.ends_at).is_some();
    let recurring = filled(&input.schedule).is_some() || input.duration_minutes.is_some();
    let when = match (dated, recurring) {
        (true, true) => {
            errors.insert(
                "schedule".into(),
                "a window is dated (starts_at, ends_at) or recurring (schedule, duration), not both"
                    .into(),
            );
            None
        }
        (false, false) => {
            errors.insert(
                "starts_at".into(),
                "give starts_at and ends_at, or a schedule and a duration".into(),
            );
            None
        }
        (true, false) => {
            let starts = match filled(&input.starts_at) {
                Some(s) => parse_time(&mut errors, "starts_at", s),
                None => {
                    errors.insert("starts_at".into(), "is required for a dated window".into());
                    None
                }
            };
            let ends = match filled(&input.ends_at) {
                Some(s) => parse_time(&mut errors, "ends_at", s),
                None => {
                    errors.insert(
                        "ends_at".into(),
                        "is required: a freeze must end (at most 90 days after it starts)".into(),
                    );
                    None
                }
            };
            match (starts, ends) {
                (Some(s), Some(e)) if e <= s => {
                    errors.insert("ends_at".into(), "must be after starts_at".into());
                    None
                }
                (Some(s), Some(e)) if e - s > LONGEST => {
                    errors.insert(
                        "ends_at".into(),
                        "must be at most 90 days after starts_at".into(),
                    );
                    None
                }
                (Some(_), Some(e)) if e <= OffsetDateTime::now_utc() => {
                    errors.insert(
                        "ends_at".into(),
                        "is in the past: the window is over".into(),
                    );
                    None
                }
                (Some(starts_at), Some(ends_at)) => Some(When::Dated { starts_at, ends_at }),
                _ => None,
            }
        }
        (false, true) => match filled(&input.schedule) {
            None => {
                errors.insert(
                    "schedule".into(),
                    "is required for a recurring window".into(),
                );
                None
            }
            Some(s) => parse_recurring(
                &mut errors,
                s,
                input.duration_minutes,
                filled(&input.timezone).unwrap_or("UTC"),
            ),
        },
    };
    match (name, reason, when) {
        (Some(name), Some(reason), Some(when)) if errors.is_empty() => Ok((
            Window {
                name,
                reason,
                environments,
                clusters,
                when,
            },
            cluster_names,
        )),
        _ => Err(Error::Invalid(errors)),
    }
}

struct Row {
    id: Uuid,
    name: String,
    reason: String,
    environments: Vec<String>,
    clusters: Vec<Uuid>,
    cluster_names: Vec<String>,
    starts_at: Option<OffsetDateTime>,
    ends_at: Option<OffsetDateTime>,
    schedule: Option<String>,
    duration_minutes: Option<i32>,
    timezone: Option<String>,
    created_by: Option<String>,
}

async fn rows(conn: &mut PgConnection) -> Result<Vec<Row>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT f.id, f.name, f.reason, f.environments,
                  array(SELECT fc.cluster_id FROM freeze_window_clusters fc WHERE fc.freeze_id = f.id) AS "clusters!",
                  array(SELECT c.name FROM freeze_window_clusters fc JOIN clusters c ON c.id = fc.cluster_id
                        WHERE fc.freeze_id = f.id ORDER BY c.name) AS "cluster_names!",
                  f.starts_at, f.ends_at, f.schedule, f.duration_minutes, f.timezone, u.email AS "created_by?"
           FROM freeze_windows f LEFT JOIN users u ON u.id = f.created_by
           ORDER BY f.name"#
    )
    .fetch_all(&mut *conn)
    .await?)
}

impl Row {
    /// The stored window as the rules read it (None for one that no longer parses, which a
    /// CHECK and the parser above keep from existing).
    fn window(&self) -> Option<Window> {
        let when = match (&self.starts_at, &self.ends_at, &self.schedule) {
            (Some(s), Some(e), _) => When::Dated {
                starts_at: *s,
                ends_at: *e,
            },
            (_, _, Some(schedule)) => When::Recurring {
                cron: Box::new(croner::Cron::from_str(schedule).ok()?),
                tz: self.timezone.as_deref().unwrap_or("UTC").parse().ok()?,
                duration: Duration::minutes(self.duration_minutes?.into()),
            },
            _ => return None,
        };
        Some(Window {
            name: self.name.clone(),
            reason: self.reason.clone(),
            environments: self
                .environments
                .iter()
                .filter_map(|e| Environment::parse(e))
                .collect(),
            clusters: self.clusters.clone(),
            when,
        })
    }

    fn api(&self, now: OffsetDateTime) -> FreezeWindow {
        let window = self.window();
        FreezeWindow {
            id: self.id,
            name: self.name.clone(),
            reason: self.reason.clone(),
            environments: window
                .as_ref()
                .map(|w| w.environments.clone())
                .unwrap_or_default(),
            clusters: self.cluster_names.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            schedule: self.schedule.clone(),
            duration_minutes: self.duration_minutes,
            timezone: self.timezone.clone(),
            next: window.and_then(|w| w.next(now)),
            created_by: self.created_by.clone(),
        }
    }
}

/// Every window with its current or next occurrence. Anyone who may read sees them: a
/// developer plans around a freeze.
pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<FreezeWindow>> {
    ctx.require(Scope::Read)?;
    let now = OffsetDateTime::now_utc();
    Ok(rows(&mut *app.db.acquire().await?)
        .await?
        .iter()
        .map(|r| r.api(now))
        .collect())
}

pub async fn create(app: &App, ctx: &Ctx, input: NewFreezeWindow) -> Result<FreezeWindow> {
    let actor = ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let (w, cluster_names) = parse(&mut tx, &input).await?;
    let id = Uuid::new_v4();
    let (starts_at, ends_at, schedule, duration, timezone) = match &w.when {
        When::Dated { starts_at, ends_at } => (Some(*starts_at), Some(*ends_at), None, None, None),
        When::Recurring { tz, duration, .. } => (
            None,
            None,
            filled(&input.schedule).map(str::to_owned),
            Some(duration.whole_minutes() as i32),
            Some(tz.name().to_owned()),
        ),
    };
    let environments: Vec<&str> = w.environments.iter().map(|e| e.as_str()).collect();
    sqlx::query!(
        "INSERT INTO freeze_windows (id, name, reason, environments, starts_at, ends_at, schedule, duration_minutes,
                                     timezone, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        w.name,
        w.reason,
        &environments as &[&str],
        starts_at,
        ends_at,
        schedule,
        duration,
        timezone,
        actor.user_id
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "freeze_windows_name_key", "name", "a freeze of this name exists"))?;
    sqlx::query!(
        "INSERT INTO freeze_window_clusters (freeze_id, cluster_id) SELECT $1, unnest($2::uuid[])",
        id,
        &w.clusters
    )
    .execute(&mut *tx)
    .await?;
    let created = rows(&mut tx)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| r.api(OffsetDateTime::now_utc()))
        .ok_or_else(|| anyhow::anyhow!("the new freeze is gone"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("freeze.created", "freeze", &w.name).after(json!({
            "reason": w.reason, "environments": environments, "clusters": cluster_names,
            "starts_at": starts_at, "ends_at": ends_at, "schedule": created.schedule,
            "duration_minutes": duration, "timezone": created.timezone})),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Removes a window; what it held runs now.
pub async fn remove(app: &App, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let name = sqlx::query_scalar!(
        "DELETE FROM freeze_windows WHERE id = $1 RETURNING name",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("freeze"))?;
    wake_held(&mut tx, Some(&name)).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("freeze.removed", "freeze", &name),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes the jobs a freeze held (all held ones for None) due now.
async fn wake_held(tx: &mut PgConnection, freeze: Option<&str>) -> Result<()> {
    sqlx::query!(
        "UPDATE jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()
           AND (kind = 'prune' OR namespace_id IN (SELECT id FROM namespaces
                WHERE held_by IS NOT NULL AND ($1::text IS NULL OR held_by = $1)))",
        freeze
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", jobs::CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The windows over a period, each occurrence with the clusters it holds.
pub async fn calendar(app: &App, ctx: &Ctx, query: FreezeCalendarQuery) -> Result<FreezeCalendar> {
    ctx.require(Scope::Read)?;
    let mut errors = FieldErrors::new();
    let from = match filled(&query.from) {
        Some(f) => parse_time(&mut errors, "from", f),
        None => Some(OffsetDateTime::now_utc()),
    };
    let days = query.days.unwrap_or(28);
    if !(1..=366).contains(&days) {
        errors.insert("days".into(), "must be between 1 and 366".into());
    }
    let (Some(from), true) = (from, errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let until = from + Duration::days(days);
    let mut conn = app.db.acquire().await?;
    let clusters = sqlx::query!(
        r#"SELECT id, name, environment AS "environment: Environment" FROM clusters ORDER BY name"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut entries = Vec::new();
    for row in rows(&mut conn).await? {
        let Some(w) = row.window() else { continue };
        let held: Vec<String> = clusters
            .iter()
            .filter(|c| w.covers(c.id, c.environment))
            .map(|c| c.name.clone())
            .collect();
        for span in w.spans(from, until) {
            entries.push(FreezeOccurrence {
                freeze: w.name.clone(),
                reason: w.reason.clone(),
                clusters: held.clone(),
                starts_at: span.starts_at,
                ends_at: span.ends_at,
            });
        }
    }
    entries.sort_by_key(|e| (e.starts_at, e.freeze.clone()));
    Ok(FreezeCalendar {
        from,
        until,
        entries,
    })
}

/// The windows that hold a cluster now or start within [`HORIZON`].
pub async fn notices(conn: &mut PgConnection, cluster: Uuid) -> Result<Vec<FreezeNotice>> {
    let environment = sqlx::query_scalar!(
        r#"SELECT environment AS "environment: Environment" FROM clusters WHERE id = $1"#,
        cluster
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(environment) = environment else {
        return Ok(vec![]);
    };
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for row in rows(conn).await? {
        let Some(w) = row.window() else { continue };
        if !w.covers(cluster, environment) {
            continue;
        }
        if let Some(span) = w.spans(now, now + HORIZON).into_iter().next() {
            out.push(FreezeNotice {
                freeze: w.name.clone(),
                reason: w.reason.clone(),
                active: span.starts_at <= now,
                starts_at: span.starts_at,
                ends_at: span.ends_at,
            });
        }
    }
    out.sort_by_key(|n| n.starts_at);
    Ok(out)
}

/// A freeze holding a job: its name and when it ends.
#[derive(Debug, Clone)]
pub struct Hold {
    pub freeze: String,
    pub until: OffsetDateTime,
}

/// The freeze that holds a job now (the one that ends last, when several do), unless the
/// job does not change a cluster or an admin released its request. A job that runs again
/// after a hold clears it.
pub async fn holding(app: &App, job: &Job) -> Result<Option<Hold>> {
    let changes_cluster = match job.kind {
        Kind::Apply | Kind::Decommission | Kind::Prune => true,
        Kind::RevertBurst | Kind::Expire | Kind::Webhook | Kind::Drill => false,
    };
    let Some(cluster) = job.cluster_id.filter(|_| changes_cluster) else {
        return Ok(None);
    };
    let mut conn = app.db.acquire().await?;
    // One round trip for the common case: no window at all, nothing held before.
    let facts = sqlx::query!(
        r#"SELECT (SELECT environment FROM clusters WHERE id = $1) AS "environment?: Environment",
                  coalesce((SELECT freeze_released_at IS NOT NULL FROM namespace_requests WHERE id = $2), false) AS "released!",
                  coalesce((SELECT held_by IS NOT NULL FROM namespaces WHERE id = $3), false) AS "was_held!",
                  EXISTS (SELECT 1 FROM freeze_windows) AS "any_window!""#,
        cluster,
        job.request_id,
        job.namespace_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let now = OffsetDateTime::now_utc();
    let mut hold: Option<Hold> = None;
    if let (false, true, Some(environment)) = (facts.released, facts.any_window, facts.environment)
    {
        for row in rows(&mut conn).await? {
            let Some(w) = row.window() else { continue };
            if !w.covers(cluster, environment) {
                continue;
            }
            if let Some(span) = w.at(now) {
                if hold.as_ref().is_none_or(|h| span.ends_at > h.until) {
                    hold = Some(Hold {
                        freeze: w.name.clone(),
                        until: span.ends_at,
                    });
                }
            }
        }
    }
    if hold.is_none() && facts.was_held {
        // Running again: whatever held it has ended (or let it through).
        sqlx::query!(
            "UPDATE namespaces SET held_by = NULL, held_until = NULL WHERE id = $1",
            job.namespace_id
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "UPDATE namespace_requests SET state = 'provisioning', held_by = NULL, held_until = NULL, updated_at = now()
             WHERE id = $1 AND state = 'held'",
            job.request_id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(hold)
}

/// Records that a freeze holds a job's namespace and request (in the job's concluding
/// transaction); the first hold of each is audited.
pub async fn record_hold(tx: &mut PgConnection, ctx: &Ctx, job: &Job, hold: &Hold) -> Result<()> {
    if let Some(ns) = job.namespace_id {
        let first = sqlx::query!(
            r#"UPDATE namespaces n SET held_by = $2, held_until = $3 FROM namespaces old
               WHERE n.id = $1 AND old.id = n.id RETURNING old.held_by AS "was?", n.team_id, n.name"#,
            ns,
            hold.freeze,
            hold.until
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut audited = false;
        if let Some(request) = job.request_id {
            let was = sqlx::query_scalar!(
                "UPDATE namespace_requests r SET state = 'held', held_by = $2, held_until = $3, updated_at = now()
                 FROM namespace_requests old WHERE r.id = $1 AND old.id = r.id
                   AND r.state IN ('approved', 'provisioning', 'failed', 'held')
                 RETURNING old.state",
                request,
                hold.freeze,
                hold.until
            )
            .fetch_optional(&mut *tx)
            .await?;
            if was.as_deref().is_some_and(|w| w != "held") {
                audit::record(
                    &mut *tx,
                    ctx,
                    audit::Entry::new("namespace_request.held", "namespace_request", request)
                        .team(first.team_id)
                        .after(json!({"namespace": first.name, "freeze": hold.freeze, "until": hold.until})),
                )
                .await?;
                audited = true;
            }
        }
        if !audited && first.was.as_deref() != Some(hold.freeze.as_str()) {
            audit::record(
                &mut *tx,
                ctx,
                audit::Entry::new("namespace.held", "namespace", ns)
                    .team(first.team_id)
                    .after(
                        json!({"namespace": first.name, "freeze": hold.freeze, "until": hold.until,
                                  "job": job.kind.as_str()}),
                    ),
            )
            .await?;
        }
    }
    Ok(())
}

/// An admin lets one held request through its freeze, with a reason.
pub async fn release(
    app: &App,
    ctx: &Ctx,
    request: Uuid,
    input: FreezeRelease,
) -> Result<RequestDetail> {
    let actor = ctx.require_admin(Scope::Approve)?;
    let reason = short_text("reason", &input.reason, 1000)?;
    let mut tx = app.db.begin().await?;
    let r = sqlx::query!(
        "SELECT state, held_by, team_id, namespace_name, namespace_id FROM namespace_requests WHERE id = $1 FOR UPDATE",
        request
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("namespace request"))?;
    if r.state != "held" {
        return Err(Error::conflict(
            "state",
            format!("this request is {}, not held by a freeze", r.state),
        ));
    }
    sqlx::query!(
        "UPDATE namespace_requests SET freeze_released_by = $2, freeze_released_at = now(),
                freeze_release_reason = $3, updated_at = now() WHERE id = $1",
        request,
        actor.user_id,
        reason
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE jobs SET run_at = now() WHERE request_id = $1 AND state = 'queued'",
        request
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", jobs::CHANNEL)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new(
            "namespace_request.freeze_released",
            "namespace_request",
            request,
        )
        .team(r.team_id)
        .before(json!({"state": "held", "freeze": r.held_by}))
        .after(json!({"namespace": r.namespace_name, "reason": reason})),
    )
    .await?;
    tx.commit().await?;
    super::requests::get(app, &ctx.reading_back(), request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn recurring(schedule: &str, minutes: i64, tz: &str) -> Window {
        Window {
            name: "w".into(),
            reason: "r".into(),
            environments: vec![Environment::Prod],
            clusters: vec![],
            when: When::Recurring {
                cron: Box::new(croner::Cron::from_str(schedule).unwrap()),
                tz: tz.parse().unwrap(),
                duration: Duration::minutes(minutes),
            },
        }
    }

    #[test]
    fn a_recurring_window_holds_from_each_occurrence_for_its_duration() {
        // Fridays 18:00 Berlin for 60 hours: the weekend.
        let w = recurring("0 18 * * 5", 60 * 60, "Europe/Berlin");
        let friday_evening = datetime!(2026-12-11 17:30 UTC); // 18:30 in Berlin
        let span = w.at(friday_evening).expect("held on Friday evening");
        assert_eq!(span.starts_at, datetime!(2026-12-11 17:00 UTC));
        assert_eq!(span.ends_at, datetime!(2026-12-14 05:00 UTC));
        assert!(
            w.at(datetime!(2026-12-14 05:00 UTC)).is_none(),
            "ends on Monday 06:00"
        );
        assert!(w.at(datetime!(2026-12-10 12:00 UTC)).is_none());
        // The weekend of December 4 still holds early on December 7, then two more.
        let spans = w.spans(
            datetime!(2026-12-07 00:00 UTC),
            datetime!(2026-12-21 00:00 UTC),
        );
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].ends_at, datetime!(2026-12-07 05:00 UTC));
        // An occurrence that started before the period still shows.
        assert_eq!(
            w.spans(
                datetime!(2026-12-13 00:00 UTC),
                datetime!(2026-12-13 01:00 UTC)
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_window_covers_what_it_names_or_everything() {
        let mut w = recurring("0 0 * * *", 60, "UTC");
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(w.covers(a, Environment::Prod));
        assert!(!w.covers(a, Environment::Dev));
        w.clusters = vec![b];
        assert!(w.covers(b, Environment::Dev));
        w.environments.clear();
        w.clusters.clear();
        assert!(
            w.covers(a, Environment::Dev),
            "naming nothing holds the fleet"
        );
    }

    #[test]
    fn a_recurring_window_that_never_ends_is_refused() {
        let mut errors = FieldErrors::new();
        assert!(parse_recurring(&mut errors, "0 * * * *", Some(60), "UTC").is_none());
        assert!(
            errors["duration_minutes"].contains("never ends"),
            "{errors:?}"
        );
        let mut errors = FieldErrors::new();
        assert!(parse_recurring(&mut errors, "0 * * * *", Some(59), "UTC").is_some());
        let mut errors = FieldErrors::new();
        assert!(parse_recurring(&mut errors, "nope", Some(10), "Mars/Olympus").is_none());
        assert!(errors.contains_key("schedule") && errors.contains_key("timezone"));
    }
}
