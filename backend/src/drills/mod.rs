//! Disaster-recovery drills that leave evidence.
//!
//! A restore drill picks the newest Completed Velero Backup covering the namespace on the
//! target cluster (the namespace's own or its DR pair), restores it into
//! `<namespace>-drill-<n>`, waits for a terminal phase, then for Deployments and
//! StatefulSets to be ready and PVCs Bound, and judges RTO (drill start → workloads ready)
//! and RPO (drill start − backup start) against the namespace's objectives. A readiness
//! check only reads. Drills are durable jobs: each run of the job takes one step and
//! records it, so a restart resumes where the drill was.
//!
//! Rules: team members start and cancel drills of their namespaces, admins any; one drill
//! per namespace at a time (a second is refused with 409); at most `BERTH_DRILL_CONCURRENCY`
//! restores per target cluster run at once (the rest wait, queued).

use berth_frontend::api::{
    Drill, DrillKind, DrillObjectives, DrillState, DrillStep, DrillStepName, NewDrill,
    ReadinessCheck, Scope, Verdict, Word,
};
use serde_json::json;
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{audit, auth::Ctx, error::FieldErrors, App, Error, Result};

mod readiness;
mod schedule;
pub mod steps;
mod velero;

pub use schedule::{
    next_run, remove_schedule, run_due_schedules, schedule, set_schedule, spawn_scheduler,
};
pub use velero::VELERO_NAMESPACE;

/// Objectives when a namespace has none of its own: (RTO, RPO) in seconds.
pub fn default_objectives(environment: &str) -> DrillObjectives {
    match environment {
        "prod" => DrillObjectives {
            rto_seconds: 1800,
            rpo_seconds: 86_400,
        },
        "staging" => DrillObjectives {
            rto_seconds: 3600,
            rpo_seconds: 2 * 86_400,
        },
        _ => DrillObjectives {
            rto_seconds: 4 * 3600,
            rpo_seconds: 7 * 86_400,
        },
    }
}

pub(super) struct Subject {
    namespace_id: Uuid,
    namespace: String,
    team_id: Uuid,
    cluster_id: Uuid,
    environment: String,
    dr_pair_id: Option<Uuid>,
    objectives: DrillObjectives,
}

pub(super) async fn subject(
    conn: &mut PgConnection,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
) -> Result<Subject> {
    let actor = ctx.require(Scope::Request)?;
    let ns = crate::tenancy::access::namespace(conn, actor, cluster, name).await?;
    subject_by_id(conn, ns.id).await
}

/// The namespace a drill is about, with its objectives (no permission check).
pub(super) async fn subject_by_id(conn: &mut PgConnection, namespace_id: Uuid) -> Result<Subject> {
    let row = sqlx::query!(
        r#"SELECT n.name, n.team_id, n.environment, c.id AS cluster_id, c.dr_pair_id,
                  o.rto_seconds AS "rto?", o.rpo_seconds AS "rpo?"
           FROM namespaces n JOIN clusters c ON c.id = n.cluster_id
           LEFT JOIN drill_objectives o ON o.namespace_id = n.id WHERE n.id = $1"#,
        namespace_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let defaults = default_objectives(&row.environment);
    Ok(Subject {
        namespace_id,
        namespace: row.name,
        team_id: row.team_id,
        cluster_id: row.cluster_id,
        environment: row.environment,
        dr_pair_id: row.dr_pair_id,
        objectives: DrillObjectives {
            rto_seconds: row.rto.unwrap_or(defaults.rto_seconds),
            rpo_seconds: row.rpo.unwrap_or(defaults.rpo_seconds),
        },
    })
}

pub(super) async fn velero_installed(
    conn: &mut PgConnection,
    cluster_id: Uuid,
) -> Result<(String, bool)> {
    let r = sqlx::query!(
        r#"SELECT c.name, coalesce(i.velero_installed, false) AS "velero!" FROM clusters c
           LEFT JOIN cluster_inventory i ON i.cluster_id = c.id WHERE c.id = $1"#,
        cluster_id
    )
    .fetch_one(conn)
    .await?;
    Ok((r.name, r.velero))
}

/// Starts a drill: checked, stored and queued in one transaction with its audit row.
pub async fn start(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: NewDrill,
) -> Result<Drill> {
    let mut tx = app.db.begin().await?;
    let s = subject(&mut tx, ctx, cluster, name).await?;
    let actor = ctx.actor()?;
    let id = begin(
        &mut tx,
        ctx,
        &s,
        &input,
        Some((actor.user_id, actor.email.clone())),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

/// Checks a drill and stores it with its job and audit row, in the caller's transaction.
/// `by`: the requester; None for a scheduled drill.
pub(super) async fn begin(
    tx: &mut PgConnection,
    ctx: &Ctx,
    s: &Subject,
    input: &NewDrill,
    by: Option<(Uuid, String)>,
) -> Result<Uuid> {
    let mut errors = FieldErrors::new();
    let kind = DrillKind::parse(input.kind.trim());
    if kind.is_none() {
        errors.insert("kind".into(), format!("must be {}", DrillKind::choices()));
    }
    let keep_hours = input.keep_hours.unwrap_or(0);
    if !(0..=168).contains(&keep_hours) {
        errors.insert("keep_hours".into(), "must be between 0 and 168".into());
    }
    let timeout = input.ready_timeout_seconds.unwrap_or(600);
    if !(60..=7200).contains(&timeout) {
        errors.insert(
            "ready_timeout_seconds".into(),
            "must be between 60 and 7200".into(),
        );
    }
    let target = match input.target.as_deref().map(str::trim).unwrap_or("same") {
        "same" | "" => Some(s.cluster_id),
        "dr_pair" => {
            if s.dr_pair_id.is_none() {
                errors.insert(
                    "target".into(),
                    "this namespace's cluster has no DR pair".into(),
                );
            }
            s.dr_pair_id
        }
        _ => {
            errors.insert("target".into(), "must be same or dr_pair".into());
            None
        }
    };
    let (Some(kind), Some(target)) = (kind.filter(|_| errors.is_empty()), target) else {
        return Err(Error::Invalid(errors));
    };
    let restore = match kind {
        DrillKind::Restore => true,
        DrillKind::Readiness => false,
    };
    if restore {
        let (target_name, velero) = velero_installed(&mut *tx, target).await?;
        if !velero {
            return Err(Error::invalid(
                "target",
                format!("the velero.io API is not installed on {target_name}; restore drills cannot run there (a readiness check can)"),
            ));
        }
    }
    let (requested_by, requester) = match by {
        Some((id, email)) => (Some(id), email),
        None => (None, "the drill schedule".to_owned()),
    };
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO drills (id, namespace_id, kind, target_cluster_id, state, requested_by, rto_seconds, rpo_seconds,
                             keep_hours, ready_timeout_seconds, steps, create_backup)
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11)",
        id,
        s.namespace_id,
        kind.as_str(),
        restore.then_some(target).or(s.dr_pair_id),
        requested_by,
        s.objectives.rto_seconds,
        s.objectives.rpo_seconds,
        keep_hours,
        timeout,
        json!([{"step": DrillStepName::Queued, "at": now_text(), "detail": format!("{kind} drill requested by {requester}")}]),
        input.create_backup && restore
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "drills_one_running", "namespace", "a drill of this namespace is already running; cancel it or wait"))?;
    crate::jobs::push(
        &mut *tx,
        crate::jobs::NewJob {
            kind: crate::jobs::Kind::Drill,
            namespace_id: Some(s.namespace_id),
            request_id: None,
            cluster_id: Some(target),
            drill_id: Some(id),
            run_at: None,
            payload: json!({}),
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        ctx,
        audit::Entry::new("drill.started", "drill", id)
            .team(s.team_id)
            .after(json!({"namespace": s.namespace, "kind": kind, "environment": s.environment,
                          "rto_objective": s.objectives.rto_seconds, "rpo_objective": s.objectives.rpo_seconds})),
    )
    .await?;
    Ok(id)
}

pub(super) fn now_text() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Asks a running drill to stop; its job cleans up what it created and ends it `cancelled`.
pub async fn cancel(app: &App, ctx: &Ctx, id: Uuid) -> Result<Drill> {
    ctx.require(Scope::Request)?;
    let drill = get(app, &ctx.reading_back(), id).await?;
    let mut tx = app.db.begin().await?;
    let updated = sqlx::query!(
        "UPDATE drills SET cancel_requested = true WHERE id = $1 AND state IN ('queued', 'running') RETURNING namespace_id",
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(Error::conflict(
            "state",
            format!("this drill is already {}", drill.state),
        ));
    }
    sqlx::query!(
        "UPDATE jobs SET run_at = now() WHERE drill_id = $1 AND state = 'queued'",
        id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", crate::jobs::CHANNEL)
        .execute(&mut *tx)
        .await?;
    let team = sqlx::query_scalar!(
        "SELECT team_id FROM namespaces WHERE id = $1",
        updated.map(|u| u.namespace_id)
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("drill.cancel_requested", "drill", id).team(team),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), id).await
}

pub(super) struct Row {
    id: Uuid,
    namespace: String,
    cluster: String,
    team: String,
    kind: DrillKind,
    target_cluster: Option<String>,
    state: DrillState,
    step: DrillStepName,
    requested_by: Option<String>,
    rto_objective: i32,
    rpo_objective: i32,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
    backup_name: Option<String>,
    backup_started_at: Option<OffsetDateTime>,
    restore_name: Option<String>,
    scratch_namespace: Option<String>,
    restore_completed_at: Option<OffsetDateTime>,
    workloads_ready_at: Option<OffsetDateTime>,
    items_restored: Option<i32>,
    items_total: Option<i32>,
    warnings: Option<i32>,
    errors: Option<i32>,
    verdict: Option<Verdict>,
    verdict_reason: Option<String>,
    checks: Option<Json<Vec<ReadinessCheck>>>,
    steps: Json<Vec<DrillStep>>,
    created_at: OffsetDateTime,
}

/// The one query every drill read model comes from, newest first, of the teams the caller
/// may see; checked against the schema at compile time.
async fn rows(
    app: &App,
    actor: &crate::auth::Actor,
    id: Option<Uuid>,
    namespace: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Row>> {
    let my_teams: Vec<String> = actor.teams.iter().map(|t| t.team.clone()).collect();
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT d.id, n.name AS namespace, c.name AS cluster, t.name AS team, d.kind AS "kind: DrillKind",
                  tc.name AS "target_cluster?", d.state AS "state: DrillState", d.step AS "step: DrillStepName",
                  u.email AS "requested_by?", d.rto_seconds AS rto_objective, d.rpo_seconds AS rpo_objective,
                  d.started_at, d.finished_at, d.backup_name, d.backup_started_at, d.restore_name,
                  d.scratch_namespace, d.restore_completed_at, d.workloads_ready_at, d.items_restored,
                  d.items_total, d.warnings, d.errors, d.verdict AS "verdict: Verdict", d.verdict_reason,
                  d.checks AS "checks: Json<Vec<ReadinessCheck>>", d.steps AS "steps: Json<Vec<DrillStep>>",
                  d.created_at
           FROM drills d JOIN namespaces n ON n.id = d.namespace_id JOIN clusters c ON c.id = n.cluster_id
           JOIN teams t ON t.id = n.team_id LEFT JOIN clusters tc ON tc.id = d.target_cluster_id
           LEFT JOIN users u ON u.id = d.requested_by
           WHERE ($1::uuid IS NULL OR d.id = $1)
             AND ($2::text IS NULL OR (c.name = $2 AND n.name = $3))
             AND ($4 OR t.name = ANY($5))
           ORDER BY d.created_at DESC LIMIT $6"#,
        id,
        namespace.map(|n| n.0),
        namespace.map(|n| n.1),
        actor.is_admin,
        &my_teams,
        limit
    )
    .fetch_all(&app.db)
    .await?)
}

pub(super) fn secs(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<f64> {
    Some((b? - a?).as_seconds_f64())
}

impl From<Row> for Drill {
    fn from(r: Row) -> Self {
        Drill {
            rto_seconds: secs(r.started_at, r.workloads_ready_at),
            restore_seconds: secs(
                r.started_at.max(r.backup_started_at),
                r.restore_completed_at,
            )
            .filter(|_| r.restore_completed_at.is_some()),
            rpo_seconds: secs(r.backup_started_at, r.started_at),
            id: r.id,
            namespace: r.namespace,
            cluster: r.cluster,
            team: r.team,
            kind: r.kind,
            target_cluster: r.target_cluster,
            state: r.state,
            step: r.step,
            requested_by: r.requested_by,
            rto_objective_seconds: r.rto_objective,
            rpo_objective_seconds: r.rpo_objective,
            started_at: r.started_at,
            finished_at: r.finished_at,
            backup_name: r.backup_name,
            restore_name: r.restore_name,
            scratch_namespace: r.scratch_namespace,
            items_restored: r.items_restored,
            items_total: r.items_total,
            warnings: r.warnings,
            errors: r.errors,
            verdict: r.verdict,
            verdict_reason: r.verdict_reason,
            checks: r.checks.map(|c| c.0).unwrap_or_default(),
            steps: r.steps.0,
            created_at: r.created_at,
        }
    }
}

pub async fn get(app: &App, ctx: &Ctx, id: Uuid) -> Result<Drill> {
    let actor = ctx.require(Scope::Read)?;
    // A drill of another team is as absent as one that never was.
    let row = rows(app, actor, Some(id), None, 1)
        .await?
        .pop()
        .ok_or(Error::NotFound("drill"))?;
    Ok(row.into())
}

/// Every drill the caller may see (admins: the fleet; members: their teams'), newest first.
pub async fn fleet_history(app: &App, ctx: &Ctx) -> Result<Vec<Drill>> {
    visible(app, ctx, None, 500).await
}

/// A namespace's drills, newest first.
pub async fn history(app: &App, ctx: &Ctx, cluster: &str, name: &str) -> Result<Vec<Drill>> {
    visible(app, ctx, Some((cluster, name)), 200).await
}

/// The drills the caller may see, of one namespace or all, newest first.
pub(super) async fn visible(
    app: &App,
    ctx: &Ctx,
    namespace: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Drill>> {
    let actor = ctx.require(Scope::Read)?;
    let rows = rows(app, actor, None, namespace, limit).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Sets a namespace's RTO and RPO objectives (team members and admins).
pub async fn set_objectives(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: DrillObjectives,
) -> Result<DrillObjectives> {
    let mut tx = app.db.begin().await?;
    let s = subject(&mut tx, ctx, cluster, name).await?;
    let mut errors = FieldErrors::new();
    if !(60..=7 * 86_400).contains(&input.rto_seconds) {
        errors.insert(
            "rto_seconds".into(),
            "must be between 60 s and 7 days".into(),
        );
    }
    if !(60..=30 * 86_400).contains(&input.rpo_seconds) {
        errors.insert(
            "rpo_seconds".into(),
            "must be between 60 s and 30 days".into(),
        );
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    sqlx::query!(
        "INSERT INTO drill_objectives (namespace_id, rto_seconds, rpo_seconds) VALUES ($1, $2, $3)
         ON CONFLICT (namespace_id) DO UPDATE SET rto_seconds = $2, rpo_seconds = $3, updated_at = now()",
        s.namespace_id,
        input.rto_seconds,
        input.rpo_seconds
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("drill.objectives_set", "namespace", s.namespace_id)
            .team(s.team_id)
            .before(json!({"rto_seconds": s.objectives.rto_seconds, "rpo_seconds": s.objectives.rpo_seconds}))
            .after(json!({"rto_seconds": input.rto_seconds, "rpo_seconds": input.rpo_seconds})),
    )
    .await?;
    tx.commit().await?;
    Ok(input)
}

// --- Carrying a drill out, one step per job run -----------------------------------------
