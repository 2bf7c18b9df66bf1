//! Drill schedules: a cron expression in an IANA time zone per namespace, claimed with
//! SKIP LOCKED so that two Berth processes start a scheduled drill once.

use std::time::Duration;

use berth_frontend::api::{DrillKind, DrillSchedule, DrillScheduleInput, NewDrill, Scope};
use serde_json::json;
use time::OffsetDateTime;

use crate::{audit, auth::Ctx, error::FieldErrors, App, Error, Result};

use super::*;

/// The next time `cron` matches after `after`, read in `timezone`.
pub fn next_run(
    field: &str,
    cron: &str,
    timezone: &str,
    after: OffsetDateTime,
) -> Result<OffsetDateTime> {
    use std::str::FromStr;
    let pattern = croner::Cron::from_str(cron.trim())
        .map_err(|e| Error::invalid(field, format!("is not a cron expression: {e}")))?;
    let tz: chrono_tz::Tz = timezone.trim().parse().map_err(|_| {
        Error::invalid(
            "timezone",
            "is not an IANA time zone such as Europe/Berlin or Asia/Shanghai",
        )
    })?;
    let start = chrono::DateTime::from_timestamp(after.unix_timestamp(), 0)
        .ok_or_else(|| Error::invalid(field, "time out of range"))?
        .with_timezone(&tz);
    let next = pattern
        .find_next_occurrence(&start, false)
        .map_err(|e| Error::invalid(field, format!("never matches: {e}")))?;
    OffsetDateTime::from_unix_timestamp(next.timestamp())
        .map_err(|_| Error::invalid(field, "time out of range"))
}

pub async fn schedule(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
) -> Result<Option<DrillSchedule>> {
    let actor = ctx.require(Scope::Read)?;
    let ns = crate::tenancy::access::namespace(&mut *app.db.acquire().await?, actor, cluster, name)
        .await?;
    Ok(sqlx::query_as!(
        DrillSchedule,
        r#"SELECT cron, timezone, kind AS "kind: DrillKind", target, next_run_at, last_run_at, last_outcome
           FROM drill_schedules WHERE namespace_id = $1"#,
        ns.id
    )
    .fetch_optional(&app.db)
    .await?)
}

/// Sets (or replaces) a namespace's drill schedule (team members and admins).
pub async fn set_schedule(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: DrillScheduleInput,
) -> Result<DrillSchedule> {
    let mut tx = app.db.begin().await?;
    let s = subject(&mut tx, ctx, cluster, name).await?;
    let mut errors = FieldErrors::new();
    let timezone = input
        .timezone
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "UTC".into());
    let next = crate::fields::collect(
        &mut errors,
        next_run("cron", &input.cron, &timezone, OffsetDateTime::now_utc()),
    );
    let kind = DrillKind::parse(input.kind.trim());
    if kind.is_none() {
        errors.insert("kind".into(), "must be restore or readiness".into());
    }
    let target = input
        .target
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "same".into());
    if !["same", "dr_pair"].contains(&target.as_str()) {
        errors.insert("target".into(), "must be same or dr_pair".into());
    } else if target == "dr_pair" && s.dr_pair_id.is_none() {
        errors.insert(
            "target".into(),
            "this namespace's cluster has no DR pair".into(),
        );
    }
    let (Some(next), Some(kind)) = (next.filter(|_| errors.is_empty()), kind) else {
        return Err(Error::Invalid(errors));
    };
    let schedule = sqlx::query_as!(
        DrillSchedule,
        r#"INSERT INTO drill_schedules (namespace_id, cron, timezone, kind, target, next_run_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (namespace_id) DO UPDATE SET cron = $2, timezone = $3, kind = $4, target = $5, next_run_at = $6, updated_at = now()
         RETURNING cron, timezone, kind AS "kind: DrillKind", target, next_run_at, last_run_at, last_outcome"#,
        s.namespace_id,
        input.cron.trim(),
        timezone.trim(),
        kind.as_str(),
        target,
        next
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("drill.schedule_set", "namespace", s.namespace_id)
            .team(s.team_id)
            .after(json!({"cron": schedule.cron, "timezone": schedule.timezone, "kind": schedule.kind, "target": schedule.target})),
    )
    .await?;
    tx.commit().await?;
    Ok(schedule)
}

pub async fn remove_schedule(app: &App, ctx: &Ctx, cluster: &str, name: &str) -> Result<()> {
    let mut tx = app.db.begin().await?;
    let s = subject(&mut tx, ctx, cluster, name).await?;
    let removed = sqlx::query_scalar!(
        "DELETE FROM drill_schedules WHERE namespace_id = $1 RETURNING cron",
        s.namespace_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("drill schedule"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("drill.schedule_removed", "namespace", s.namespace_id)
            .team(s.team_id)
            .before(json!({"cron": removed})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts every due scheduled drill (skipping a namespace whose drill still runs) and moves
/// each schedule to its next time. Rows are claimed with SKIP LOCKED: two processes never
/// start the same drill.
pub async fn run_due_schedules(app: &App) -> Result<usize> {
    let ctx = Ctx::system("drill-scheduler");
    let mut tx = app.db.begin().await?;
    let due = sqlx::query!(
        r#"SELECT d.namespace_id, d.cron, d.timezone, d.kind, d.target
           FROM drill_schedules d JOIN namespaces n ON n.id = d.namespace_id
           WHERE d.next_run_at <= now() AND n.state = 'ready'
           ORDER BY d.next_run_at FOR UPDATE OF d SKIP LOCKED LIMIT 100"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut started = 0;
    for row in due {
        let running = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM drills WHERE namespace_id = $1 AND state IN ('queued', 'running')) AS "r!""#,
            row.namespace_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let s = subject_by_id(&mut tx, row.namespace_id).await?;
        let input = NewDrill {
            kind: row.kind.clone(),
            target: Some(row.target.clone()),
            keep_hours: None,
            ready_timeout_seconds: None,
            create_backup: false,
        };
        let outcome = if running {
            "skipped: a drill of this namespace was still running".to_owned()
        } else {
            match begin(&mut tx, &ctx, &s, &input, None).await {
                Ok(id) => {
                    started += 1;
                    format!("started drill {id}")
                }
                Err(Error::Invalid(fields)) => format!(
                    "not started: {}",
                    fields.values().cloned().collect::<Vec<_>>().join("; ")
                ),
                Err(e) => return Err(e),
            }
        };
        let next = next_run("cron", &row.cron, &row.timezone, OffsetDateTime::now_utc())?;
        sqlx::query!(
            "UPDATE drill_schedules SET next_run_at = $2, last_run_at = now(), last_outcome = $3 WHERE namespace_id = $1",
            row.namespace_id,
            next,
            outcome
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(started)
}

/// Looks for due drill schedules every 30 seconds.
pub fn spawn_scheduler(app: App) {
    if app.config.job_workers == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            if let Err(e) = run_due_schedules(&app).await {
                tracing::warn!(error = %e, "drill scheduler failed");
            }
        }
    });
}
