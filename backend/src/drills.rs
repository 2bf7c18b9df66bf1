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

use std::time::Duration;

use berth_frontend::api::{
    Drill, DrillObjectives, DrillSchedule, DrillScheduleInput, DrillStep, NewDrill, ReadinessCheck,
    Scope,
};
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{Namespace, PersistentVolumeClaim},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    discovery::ApiResource,
    Client,
};
use serde_json::{json, Value};
use sqlx::{types::Json, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fleet::connect,
    tenancy::{jobs, jobs::Outcome, provision::describe},
    App, Error, Result,
};

pub const VELERO_NAMESPACE: &str = "velero";

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

fn resource(kind: &str) -> ApiResource {
    let plural = if kind == "Backup" {
        "backups"
    } else {
        "restores"
    };
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn velero(client: &Client, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), VELERO_NAMESPACE, &resource(kind))
}

struct Subject {
    namespace_id: Uuid,
    namespace: String,
    team_id: Uuid,
    cluster_id: Uuid,
    environment: String,
    dr_pair_id: Option<Uuid>,
    objectives: DrillObjectives,
}

async fn subject(conn: &mut PgConnection, ctx: &Ctx, cluster: &str, name: &str) -> Result<Subject> {
    let actor = ctx.require(Scope::Request)?;
    let ns = crate::tenancy::access::namespace(conn, actor, cluster, name).await?;
    subject_by_id(conn, ns.id).await
}

/// The namespace a drill is about, with its objectives (no permission check).
async fn subject_by_id(conn: &mut PgConnection, namespace_id: Uuid) -> Result<Subject> {
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

async fn velero_installed(conn: &mut PgConnection, cluster_id: Uuid) -> Result<(String, bool)> {
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
async fn begin(
    tx: &mut PgConnection,
    ctx: &Ctx,
    s: &Subject,
    input: &NewDrill,
    by: Option<(Uuid, String)>,
) -> Result<Uuid> {
    let mut errors = FieldErrors::new();
    let kind = input.kind.trim();
    if !["restore", "readiness"].contains(&kind) {
        errors.insert("kind".into(), "must be restore or readiness".into());
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
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let target = target.expect("checked above");
    if kind == "restore" {
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
        kind,
        (kind == "restore").then_some(target).or(s.dr_pair_id),
        requested_by,
        s.objectives.rto_seconds,
        s.objectives.rpo_seconds,
        keep_hours,
        timeout,
        json!([{"step": "queued", "at": now_text(), "detail": format!("{kind} drill requested by {requester}")}]),
        input.create_backup && kind == "restore"
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "drills_one_running", "namespace", "a drill of this namespace is already running; cancel it or wait"))?;
    sqlx::query!(
        "INSERT INTO jobs (kind, namespace_id, cluster_id, drill_id) VALUES ('drill', $1, $2, $3)",
        s.namespace_id,
        target,
        id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", jobs::CHANNEL)
        .execute(&mut *tx)
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

fn now_text() -> String {
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
    sqlx::query!("SELECT pg_notify($1, '')", jobs::CHANNEL)
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

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    namespace: String,
    cluster: String,
    team: String,
    kind: String,
    target_cluster: Option<String>,
    state: String,
    step: String,
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
    verdict: Option<String>,
    verdict_reason: Option<String>,
    checks: Option<Json<Vec<ReadinessCheck>>>,
    steps: Json<Vec<DrillStep>>,
    created_at: OffsetDateTime,
}

const SELECT: &str = "SELECT d.id, n.name AS namespace, c.name AS cluster, t.name AS team, d.kind, tc.name AS target_cluster,
        d.state, d.step, u.email AS requested_by, d.rto_seconds AS rto_objective, d.rpo_seconds AS rpo_objective,
        d.started_at, d.finished_at, d.backup_name, d.backup_started_at, d.restore_name, d.scratch_namespace,
        d.restore_completed_at, d.workloads_ready_at, d.items_restored, d.items_total, d.warnings, d.errors,
        d.verdict, d.verdict_reason, d.checks, d.steps, d.created_at
    FROM drills d JOIN namespaces n ON n.id = d.namespace_id JOIN clusters c ON c.id = n.cluster_id
    JOIN teams t ON t.id = n.team_id LEFT JOIN clusters tc ON tc.id = d.target_cluster_id
    LEFT JOIN users u ON u.id = d.requested_by";

fn secs(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<f64> {
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
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(&app.db)
        .await?
        .ok_or(Error::NotFound("drill"))?;
    if !crate::tenancy::access::may_see_team(actor, &row.team) {
        return Err(Error::NotFound("drill"));
    }
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
async fn visible(
    app: &App,
    ctx: &Ctx,
    namespace: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Drill>> {
    let actor = ctx.require(Scope::Read)?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1::text IS NULL OR (c.name = $1 AND n.name = $2)) AND ($3 OR t.name = ANY($4))
         ORDER BY d.created_at DESC LIMIT $5"
    ))
    .bind(namespace.map(|n| n.0))
    .bind(namespace.map(|n| n.1))
    .bind(actor.is_admin)
    .bind(actor.teams.iter().map(|t| t.team.clone()).collect::<Vec<_>>())
    .bind(limit)
    .fetch_all(&app.db)
    .await?;
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

struct State {
    id: Uuid,
    kind: String,
    state: String,
    step: String,
    namespace_id: Uuid,
    namespace: String,
    team_id: Uuid,
    source_cluster: Uuid,
    target_cluster: Option<Uuid>,
    rto_seconds: i32,
    rpo_seconds: i32,
    keep_hours: i32,
    ready_timeout_seconds: i32,
    started_at: Option<OffsetDateTime>,
    backup_started_at: Option<OffsetDateTime>,
    restore_name: Option<String>,
    scratch_namespace: Option<String>,
    restore_completed_at: Option<OffsetDateTime>,
    verdict: Option<String>,
    cancel_requested: bool,
    create_backup: bool,
    backup_name: Option<String>,
}

async fn load(conn: &mut PgConnection, id: Uuid) -> Result<State> {
    sqlx::query_as!(
        State,
        r#"SELECT d.id, d.kind, d.state, d.step, d.namespace_id, n.name AS namespace, n.team_id, n.cluster_id AS source_cluster,
                  d.target_cluster_id AS target_cluster, d.rto_seconds, d.rpo_seconds, d.keep_hours, d.ready_timeout_seconds,
                  d.started_at, d.backup_started_at, d.restore_name, d.scratch_namespace, d.restore_completed_at,
                  d.verdict, d.cancel_requested, d.create_backup, d.backup_name
           FROM drills d JOIN namespaces n ON n.id = d.namespace_id WHERE d.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("drill"))
}

/// What one step decided, recorded with the step in one transaction.
#[derive(Default)]
struct Progress {
    next_step: Option<&'static str>,
    detail: String,
    set: Vec<(&'static str, Value)>,
    verdict: Option<(&'static str, String)>,
    finish: Option<&'static str>,
    wait: Option<Duration>,
}

impl Progress {
    fn to(step: &'static str, detail: impl Into<String>) -> Self {
        Progress {
            next_step: Some(step),
            detail: detail.into(),
            ..Default::default()
        }
    }

    fn fail(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Progress {
            next_step: Some("cleanup"),
            detail: format!("verdict: fail — {reason}"),
            verdict: Some(("fail", reason)),
            ..Default::default()
        }
    }

    fn with(mut self, column: &'static str, value: Value) -> Self {
        self.set.push((column, value));
        self
    }

    fn waiting(detail: impl Into<String>, after: Duration) -> Self {
        Progress {
            detail: detail.into(),
            wait: Some(after),
            ..Default::default()
        }
    }
}

/// Runs the drill's next step; `Retry` when a cluster cannot be reached (the step is tried
/// again with backoff), `Wait` to come back for the next step.
pub async fn execute(app: &App, job: &jobs::Job) -> Result<Outcome> {
    let Some(id) = job.drill_id else {
        return Ok(Outcome::Done);
    };
    let d = load(&mut *app.db.acquire().await?, id).await?;
    if d.step == "done" {
        return Ok(Outcome::Done);
    }
    let progress = match step(app, &d).await {
        Ok(p) => p,
        Err(StepError::Unreachable(reason)) => return Ok(Outcome::Retry(reason)),
        Err(StepError::Berth(e)) => return Err(e),
    };
    record(app, &d, progress).await
}

enum StepError {
    Unreachable(String),
    Berth(Error),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Berth(e)
    }
}

fn unreachable(e: kube::Error) -> StepError {
    StepError::Unreachable(describe(&e))
}

async fn client_for(app: &App, cluster: Uuid) -> std::result::Result<Client, StepError> {
    connect::client(app, cluster)
        .await
        .map_err(|e| StepError::Unreachable(format!("cannot reach the cluster: {e}")))
}

async fn step(app: &App, d: &State) -> std::result::Result<Progress, StepError> {
    if d.cancel_requested && d.step != "cleanup" {
        return Ok(Progress {
            next_step: Some("cleanup"),
            detail: "cancelled; cleaning up what the drill created".into(),
            verdict: Some(("fail", "cancelled".into())),
            ..Default::default()
        });
    }
    let target = d.target_cluster.unwrap_or(d.source_cluster);
    match d.step.as_str() {
        "queued" => {
            if d.kind == "readiness" {
                return Ok(Progress::to("check", "readiness check started")
                    .with("started_at", json!(now_text())));
            }
            let running = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM drills WHERE target_cluster_id = $1 AND state = 'running' AND kind = 'restore'"#,
                target
            )
            .fetch_one(&app.db)
            .await
            .map_err(Error::from)?;
            if running >= app.config.drill_concurrency as i64 {
                return Ok(Progress::waiting(
                    format!("waiting: {running} restore drills already run on the target cluster"),
                    Duration::from_secs(5),
                ));
            }
            let next = if d.create_backup {
                "backup"
            } else {
                "find_backup"
            };
            Ok(Progress::to(next, "restore drill started").with("started_at", json!(now_text())))
        }
        "backup" => {
            // A fresh backup, taken where the namespace runs; Velero syncs it to the target.
            let client = client_for(app, d.source_cluster).await?;
            let name = format!("{}-drill-{}", d.namespace, &d.id.simple().to_string()[..8]);
            let backup = json!({
                "apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": VELERO_NAMESPACE,
                             "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/drill": d.id.to_string()}},
                "spec": {"includedNamespaces": [d.namespace], "ttl": "72h0m0s"},
            });
            velero(&client, "Backup")
                .patch(
                    &name,
                    &PatchParams::apply(crate::tenancy::objects::FIELD_MANAGER).force(),
                    &Patch::Apply(&backup),
                )
                .await
                .map_err(unreachable)?;
            Ok(
                Progress::to("wait_backup", format!("Backup {name} created"))
                    .with("backup_name", json!(name)),
            )
        }
        "wait_backup" => {
            let client = client_for(app, target).await?;
            let name = d.backup_name.clone().unwrap_or_default();
            let backup = velero(&client, "Backup")
                .get_opt(&name)
                .await
                .map_err(unreachable)?;
            let status = |pointer: &str| {
                backup
                    .as_ref()
                    .and_then(|b| b.data.pointer(pointer).and_then(Value::as_str))
                    .map(str::to_owned)
            };
            let phase = status("/status/phase").unwrap_or_else(|| "New".into());
            match phase.as_str() {
                "Completed" => {
                    let started = status("/status/startTimestamp").unwrap_or_else(now_text);
                    let scratch = scratch_name(app, d).await?;
                    Ok(Progress::to("restore", format!("backup {name} Completed"))
                        .with("backup_started_at", json!(started))
                        .with("restore_name", json!(scratch.clone()))
                        .with("scratch_namespace", json!(scratch)))
                }
                "Failed" | "PartiallyFailed" | "FailedValidation" => {
                    Ok(Progress::fail(format!("the backup ended {phase}")))
                }
                other => {
                    if timed_out(d.started_at, d.ready_timeout_seconds * 2) {
                        return Ok(Progress::fail(format!(
                            "the backup was still {other} after {} s",
                            d.ready_timeout_seconds * 2
                        )));
                    }
                    Ok(Progress::waiting(
                        format!("backup {other}"),
                        Duration::from_secs(2),
                    ))
                }
            }
        }
        "find_backup" => {
            let client = client_for(app, target).await?;
            let newest = newest_backup(&client, &d.namespace)
                .await
                .map_err(unreachable)?;
            match newest {
                None => Ok(Progress::fail(format!(
                    "no Completed Velero backup covers {}",
                    d.namespace
                ))),
                Some((at, name)) => {
                    let scratch = scratch_name(app, d).await?;
                    Ok(
                        Progress::to("restore", format!("newest completed backup: {name}"))
                            .with("backup_name", json!(name))
                            .with(
                                "backup_started_at",
                                json!(at
                                    .format(&time::format_description::well_known::Rfc3339)
                                    .unwrap_or_default()),
                            )
                            .with("restore_name", json!(scratch.clone()))
                            .with("scratch_namespace", json!(scratch)),
                    )
                }
            }
        }
        "restore" => {
            let client = client_for(app, target).await?;
            let name = d.restore_name.clone().unwrap_or_default();
            let backup = sqlx::query_scalar!("SELECT backup_name FROM drills WHERE id = $1", d.id)
                .fetch_one(&app.db)
                .await
                .map_err(Error::from)?
                .unwrap_or_default();
            let restore = json!({
                "apiVersion": "velero.io/v1", "kind": "Restore",
                "metadata": {"name": name, "namespace": VELERO_NAMESPACE,
                             "labels": {"app.kubernetes.io/managed-by": "berth", "berth.dev/drill": d.id.to_string()}},
                "spec": {"backupName": backup, "includedNamespaces": [d.namespace],
                         "namespaceMapping": {d.namespace.clone(): d.scratch_namespace.clone().unwrap_or_default()}},
            });
            velero(&client, "Restore")
                .patch(
                    &name,
                    &PatchParams::apply(crate::tenancy::objects::FIELD_MANAGER).force(),
                    &Patch::Apply(&restore),
                )
                .await
                .map_err(unreachable)?;
            Ok(Progress::to(
                "wait_restore",
                format!("Restore {name} created from {backup}"),
            ))
        }
        "wait_restore" => {
            let client = client_for(app, target).await?;
            let name = d.restore_name.clone().unwrap_or_default();
            let restore = velero(&client, "Restore")
                .get_opt(&name)
                .await
                .map_err(unreachable)?;
            let Some(restore) = restore else {
                return Ok(Progress::fail(format!("the Restore {name} disappeared")));
            };
            let status = restore.data.get("status").cloned().unwrap_or(Value::Null);
            let phase = status
                .get("phase")
                .and_then(Value::as_str)
                .unwrap_or("New")
                .to_owned();
            let int = |p: &str| {
                status
                    .pointer(p)
                    .and_then(Value::as_i64)
                    .map(|v| json!(v))
                    .unwrap_or(Value::Null)
            };
            let counts = |p: Progress| {
                p.with("items_restored", int("/progress/itemsRestored"))
                    .with("items_total", int("/progress/totalItems"))
                    .with("warnings", int("/warnings"))
                    .with("errors", int("/errors"))
                    .with("restore_completed_at", json!(now_text()))
            };
            match phase.as_str() {
                "Completed" => Ok(counts(Progress::to(
                    "wait_ready",
                    "restore Completed; waiting for workloads",
                ))),
                "PartiallyFailed" | "Failed" | "FailedValidation" => {
                    Ok(counts(Progress::fail(format!("the restore ended {phase}"))))
                }
                other => {
                    if timed_out(d.started_at, d.ready_timeout_seconds * 2) {
                        return Ok(Progress::fail(format!(
                            "the restore was still {other} after {} s",
                            d.ready_timeout_seconds * 2
                        )));
                    }
                    Ok(Progress::waiting(
                        format!("restore {other}"),
                        Duration::from_secs(2),
                    ))
                }
            }
        }
        "wait_ready" => {
            let client = client_for(app, target).await?;
            let scratch = d.scratch_namespace.clone().unwrap_or_default();
            let not_ready = unready_workloads(&client, &scratch)
                .await
                .map_err(unreachable)?;
            if not_ready.is_empty() {
                let now = OffsetDateTime::now_utc();
                let rto = d.started_at.map_or(0.0, |s| (now - s).as_seconds_f64());
                let rpo = match (d.started_at, d.backup_started_at) {
                    (Some(s), Some(b)) => (s - b).as_seconds_f64(),
                    _ => 0.0,
                };
                let mut problems = Vec::new();
                if rto > f64::from(d.rto_seconds) {
                    problems.push(format!(
                        "RTO {rto:.0} s exceeds the objective of {} s",
                        d.rto_seconds
                    ));
                }
                if rpo > f64::from(d.rpo_seconds) {
                    problems.push(format!(
                        "RPO {rpo:.0} s exceeds the objective of {} s",
                        d.rpo_seconds
                    ));
                }
                let p = if problems.is_empty() {
                    Progress {
                        next_step: Some("cleanup"),
                        detail: format!(
                            "workloads ready: RTO {rto:.0} s, RPO {rpo:.0} s — verdict: pass"
                        ),
                        verdict: Some((
                            "pass",
                            format!(
                                "RTO {rto:.0} s ≤ {} s and RPO {rpo:.0} s ≤ {} s",
                                d.rto_seconds, d.rpo_seconds
                            ),
                        )),
                        ..Default::default()
                    }
                } else {
                    Progress::fail(problems.join("; "))
                };
                return Ok(p.with("workloads_ready_at", json!(now_text())));
            }
            let since = d.restore_completed_at.or(d.started_at);
            if timed_out(since, d.ready_timeout_seconds) {
                return Ok(Progress::fail(format!(
                    "not ready within {} s: {}",
                    d.ready_timeout_seconds,
                    not_ready.join(", ")
                )));
            }
            Ok(Progress::waiting(
                format!("waiting for {}", not_ready.join(", ")),
                Duration::from_secs(2),
            ))
        }
        "check" => {
            let checks = readiness(app, d).await?;
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.clone())
                .collect();
            let verdict = if failed.is_empty() {
                ("pass", "every readiness check passed".to_owned())
            } else {
                ("fail", format!("failed: {}", failed.join(", ")))
            };
            Ok(Progress {
                next_step: Some("cleanup"),
                detail: format!("{} checks, {} failed", checks.len(), failed.len()),
                verdict: Some(verdict),
                set: vec![("checks", serde_json::to_value(&checks).unwrap_or_default())],
                ..Default::default()
            })
        }
        _ => {
            // cleanup: the scratch namespace and the Restore, now or after keep_hours.
            let Some(scratch) = d.scratch_namespace.clone().filter(|_| d.kind == "restore") else {
                return Ok(finish(d, "nothing to clean up"));
            };
            let keep_until = d
                .started_at
                .map(|s| s + time::Duration::hours(d.keep_hours.into()));
            if let Some(until) = keep_until.filter(|u| {
                d.keep_hours > 0 && !d.cancel_requested && *u > OffsetDateTime::now_utc()
            }) {
                // The verdict stands now; the same job deletes the namespace when the time is up.
                let mut p = finish(
                    d,
                    format!(
                        "keeping {scratch} until {}",
                        until
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    ),
                );
                p.next_step = Some("cleanup");
                p.wait = Some(Duration::from_secs(
                    (until - OffsetDateTime::now_utc()).whole_seconds().max(1) as u64,
                ));
                return Ok(p);
            }
            let client = client_for(app, target).await?;
            match Api::<Namespace>::all(client.clone())
                .delete(&scratch, &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 404) => {}
                Err(e) => return Err(unreachable(e)),
            }
            if let Some(name) = &d.restore_name {
                match velero(&client, "Restore")
                    .delete(name, &DeleteParams::default())
                    .await
                {
                    Ok(_) => {}
                    Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 404) => {}
                    Err(e) => return Err(unreachable(e)),
                }
            }
            Ok(finish(d, format!("deleted {scratch} and its Restore")))
        }
    }
}

/// The newest Completed Velero backup that covers `namespace`: (start time, name).
async fn newest_backup(
    client: &Client,
    namespace: &str,
) -> std::result::Result<Option<(OffsetDateTime, String)>, kube::Error> {
    let backups = velero(client, "Backup")
        .list(&ListParams::default())
        .await?;
    Ok(backups
        .items
        .iter()
        .filter(|b| b.data.pointer("/status/phase").and_then(Value::as_str) == Some("Completed"))
        .filter(|b| {
            let included = b
                .data
                .pointer("/spec/includedNamespaces")
                .and_then(Value::as_array);
            included.is_none_or(|list| {
                list.is_empty()
                    || list
                        .iter()
                        .any(|n| n.as_str() == Some(namespace) || n.as_str() == Some("*"))
            })
        })
        .filter_map(|b| {
            let start = b
                .data
                .pointer("/status/startTimestamp")
                .and_then(Value::as_str)?;
            let at = OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                .ok()?;
            Some((at, b.metadata.name.clone()?))
        })
        .max())
}

/// `<namespace>-drill-<n>`, n counting the namespace's drills; shortened past 63 characters.
async fn scratch_name(app: &App, d: &State) -> std::result::Result<String, StepError> {
    let n = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM drills WHERE namespace_id = $1"#,
        d.namespace_id
    )
    .fetch_one(&app.db)
    .await
    .map_err(Error::from)?;
    let name = format!("{}-drill-{n}", d.namespace);
    Ok(if name.len() > 63 {
        format!("drill-{}", &d.id.simple().to_string()[..12])
    } else {
        name
    })
}

fn finish(d: &State, detail: impl Into<String>) -> Progress {
    let end = if d.cancel_requested {
        "cancelled"
    } else if d.verdict.as_deref() == Some("pass") {
        "passed"
    } else {
        "failed"
    };
    Progress {
        next_step: Some("done"),
        detail: detail.into(),
        finish: Some(end),
        ..Default::default()
    }
}

fn timed_out(since: Option<OffsetDateTime>, seconds: i32) -> bool {
    since.is_some_and(|s| (OffsetDateTime::now_utc() - s).whole_seconds() > i64::from(seconds))
}

/// Deployments and StatefulSets short of ready replicas, and PVCs not Bound.
async fn unready_workloads(
    client: &Client,
    namespace: &str,
) -> std::result::Result<Vec<String>, kube::Error> {
    let mut waiting = Vec::new();
    for d in Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
    {
        let want = d.spec.replicas.unwrap_or(1);
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready < want {
            waiting.push(format!(
                "Deployment {} ({ready}/{want})",
                d.metadata.name.unwrap_or_default()
            ));
        }
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
    {
        let want = s.spec.replicas.unwrap_or(1);
        let ready = s
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready < want {
            waiting.push(format!(
                "StatefulSet {} ({ready}/{want})",
                s.metadata.name.unwrap_or_default()
            ));
        }
    }
    for p in Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
    {
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase != "Bound" {
            waiting.push(format!(
                "PVC {} ({})",
                p.metadata.name.unwrap_or_default(),
                if phase.is_empty() { "Pending" } else { &phase }
            ));
        }
    }
    Ok(waiting)
}

/// The failover-readiness checks of a namespace and its DR pair. Reads only.
async fn readiness(app: &App, d: &State) -> std::result::Result<Vec<ReadinessCheck>, StepError> {
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(ReadinessCheck {
            name: name.into(),
            ok,
            detail,
        })
    };
    let facts = crate::tenancy::provision::facts(
        &mut *app.db.acquire().await.map_err(Error::from)?,
        d.namespace_id,
    )
    .await?;
    let pool_labels = sqlx::query_scalar!(
        "SELECT common_labels FROM node_pools WHERE cluster_id = $1 AND name = $2",
        d.source_cluster,
        facts.pool
    )
    .fetch_optional(&app.db)
    .await
    .map_err(Error::from)?;
    let workload_class = pool_labels
        .as_ref()
        .and_then(|l| l.get("workload"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match d.target_cluster {
        None => check(
            "dr_pair",
            false,
            "the namespace's cluster has no DR pair".into(),
        ),
        Some(dr) => {
            let dr_name = sqlx::query_scalar!("SELECT name FROM clusters WHERE id = $1", dr)
                .fetch_one(&app.db)
                .await
                .map_err(Error::from)?;
            check("dr_pair", true, format!("DR pair: {dr_name}"));
            let pools = sqlx::query!(
                r#"SELECT p.name, p.common_labels, p.cpu_millis, p.memory_bytes,
                          coalesce((SELECT sum(n.quota_cpu_millis) FROM namespaces n WHERE n.cluster_id = p.cluster_id
                                      AND n.node_pool = p.name AND n.state <> 'decommissioned'), 0)::bigint AS "cpu_committed!",
                          coalesce((SELECT sum(n.quota_memory_bytes) FROM namespaces n WHERE n.cluster_id = p.cluster_id
                                      AND n.node_pool = p.name AND n.state <> 'decommissioned'), 0)::bigint AS "memory_committed!"
                   FROM node_pools p WHERE p.cluster_id = $1"#,
                dr
            )
            .fetch_all(&app.db)
            .await
            .map_err(Error::from)?;
            let matching = pools.iter().find(|p| {
                p.name == facts.pool
                    || workload_class.as_deref().is_some_and(|w| {
                        p.common_labels.get("workload").and_then(Value::as_str) == Some(w)
                    })
            });
            match matching {
                None => check(
                    "pool_class",
                    false,
                    format!(
                        "{dr_name} has no pool like {} ({})",
                        facts.pool,
                        workload_class.clone().unwrap_or("no workload label".into())
                    ),
                ),
                Some(p) => {
                    check("pool_class", true, format!("pool {} on {dr_name}", p.name));
                    let quota = crate::tenancy::stored_sized(&facts.spec.0)?.amounts();
                    let free_cpu = p.cpu_millis - p.cpu_committed;
                    let free_memory = p.memory_bytes - p.memory_committed;
                    check(
                        "headroom",
                        free_cpu >= quota.cpu_millis && free_memory >= quota.memory_bytes,
                        format!(
                            "free {} mCPU / {} bytes; the quota needs {} mCPU / {} bytes",
                            free_cpu, free_memory, quota.cpu_millis, quota.memory_bytes
                        ),
                    );
                }
            }
            let dr_classes: Vec<String> =
                sqlx::query_scalar!("SELECT name FROM storage_classes WHERE cluster_id = $1", dr)
                    .fetch_all(&app.db)
                    .await
                    .map_err(Error::from)?;
            let missing: Vec<String> = facts
                .spec
                .0
                .storage_classes
                .iter()
                .map(|c| c.name.clone())
                .filter(|c| !dr_classes.contains(c))
                .collect();
            check(
                "storage_classes",
                missing.is_empty(),
                if missing.is_empty() {
                    "every allowed class exists on the DR pair".into()
                } else {
                    format!("missing on {dr_name}: {}", missing.join(", "))
                },
            );
        }
    }
    let client = client_for(app, d.source_cluster).await?;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), &d.namespace)
        .list(&ListParams::default())
        .await
        .map_err(unreachable)?;
    let mut unprotected = Vec::new();
    let mut unspread = Vec::new();
    for dep in Api::<Deployment>::namespaced(client.clone(), &d.namespace)
        .list(&ListParams::default())
        .await
        .map_err(unreachable)?
    {
        let spec = dep.spec;
        if spec.replicas.unwrap_or(1) < 2 {
            continue;
        }
        let name = dep.metadata.name.unwrap_or_default();
        let labels = spec
            .template
            .metadata
            .and_then(|m| m.labels)
            .unwrap_or_default();
        let covered = pdbs.items.iter().any(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        });
        if !covered {
            unprotected.push(name.clone());
        }
        let pod = spec.template.spec.unwrap_or_default();
        let spread = pod
            .topology_spread_constraints
            .is_some_and(|t| !t.is_empty())
            || pod.affinity.and_then(|a| a.pod_anti_affinity).is_some();
        if !spread {
            unspread.push(name);
        }
    }
    check(
        "pod_disruption_budgets",
        unprotected.is_empty(),
        if unprotected.is_empty() {
            "every multi-replica Deployment has a PDB".into()
        } else {
            format!("no PDB: {}", unprotected.join(", "))
        },
    );
    check(
        "zone_spread",
        unspread.is_empty(),
        if unspread.is_empty() {
            "every multi-replica Deployment spreads".into()
        } else {
            format!("no spread or anti-affinity: {}", unspread.join(", "))
        },
    );
    let (_, installed) = velero_installed(
        &mut *app.db.acquire().await.map_err(Error::from)?,
        d.source_cluster,
    )
    .await?;
    if installed {
        let newest = newest_backup(&client, &d.namespace)
            .await
            .map_err(unreachable)?
            .map(|(at, _)| at);
        match newest {
            None => check("backup_age", false, "no completed backup".into()),
            Some(at) => {
                let age = (OffsetDateTime::now_utc() - at).whole_seconds();
                check(
                    "backup_age",
                    age <= i64::from(d.rpo_seconds),
                    format!(
                        "newest backup is {age} s old; RPO objective {} s",
                        d.rpo_seconds
                    ),
                );
            }
        }
    } else {
        check(
            "backup_age",
            false,
            "Velero is not installed on the namespace's cluster".into(),
        );
    }
    Ok(checks)
}

/// Records a step: the drill's columns, the step with its time, the audit row; finishes the
/// drill when it is over. Then answers the job's outcome.
async fn record(app: &App, d: &State, p: Progress) -> Result<Outcome> {
    let mut tx = app.db.begin().await?;
    let step_entry =
        json!([{"step": p.next_step.unwrap_or(&d.step), "at": now_text(), "detail": p.detail}]);
    // A wait that reports what the last entry already says adds nothing to the evidence.
    sqlx::query!(
        "UPDATE drills SET steps = CASE WHEN $3::text IS NULL AND steps->-1->>'detail' = $4 THEN steps ELSE steps || $2 END,
                step = coalesce($3, step),
                state = CASE WHEN state = 'queued' AND $3::text IS NOT NULL THEN 'running' ELSE state END
         WHERE id = $1",
        d.id,
        step_entry,
        p.next_step,
        p.detail
    )
    .execute(&mut *tx)
    .await?;
    for (column, value) in &p.set {
        // Columns come from this module's own step code, never from input.
        let sql = match *column {
            "started_at" => {
                "UPDATE drills SET started_at = ($2 #>> '{}')::timestamptz WHERE id = $1"
            }
            "backup_started_at" => {
                "UPDATE drills SET backup_started_at = ($2 #>> '{}')::timestamptz WHERE id = $1"
            }
            "restore_completed_at" => {
                "UPDATE drills SET restore_completed_at = ($2 #>> '{}')::timestamptz WHERE id = $1"
            }
            "workloads_ready_at" => {
                "UPDATE drills SET workloads_ready_at = ($2 #>> '{}')::timestamptz WHERE id = $1"
            }
            "backup_name" => "UPDATE drills SET backup_name = $2 #>> '{}' WHERE id = $1",
            "restore_name" => "UPDATE drills SET restore_name = $2 #>> '{}' WHERE id = $1",
            "scratch_namespace" => {
                "UPDATE drills SET scratch_namespace = $2 #>> '{}' WHERE id = $1"
            }
            "items_restored" => {
                "UPDATE drills SET items_restored = ($2 #>> '{}')::int WHERE id = $1"
            }
            "items_total" => "UPDATE drills SET items_total = ($2 #>> '{}')::int WHERE id = $1",
            "warnings" => "UPDATE drills SET warnings = ($2 #>> '{}')::int WHERE id = $1",
            "errors" => "UPDATE drills SET errors = ($2 #>> '{}')::int WHERE id = $1",
            _ => "UPDATE drills SET checks = $2 WHERE id = $1",
        };
        sqlx::query(sql)
            .bind(d.id)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    if let Some((verdict, reason)) = &p.verdict {
        sqlx::query!(
            "UPDATE drills SET verdict = $2, verdict_reason = $3 WHERE id = $1",
            d.id,
            verdict,
            reason
        )
        .execute(&mut *tx)
        .await?;
    }
    let outcome = match (p.finish, p.wait) {
        (Some(end), wait) => {
            if d.state != end {
                sqlx::query!("UPDATE drills SET state = $2, finished_at = coalesce(finished_at, now()) WHERE id = $1", d.id, end)
                    .execute(&mut *tx)
                    .await?;
                let verdict = sqlx::query!(
                    "SELECT verdict, verdict_reason FROM drills WHERE id = $1",
                    d.id
                )
                .fetch_one(&mut *tx)
                .await?;
                audit::record(
                    &mut tx,
                    &Ctx::system("berth-worker"),
                    audit::Entry::new("drill.finished", "drill", d.id)
                        .team(d.team_id)
                        .after(json!({"namespace": d.namespace, "state": end, "verdict": verdict.verdict, "reason": verdict.verdict_reason})),
                )
                .await?;
            }
            // A kept scratch namespace is cleaned up later by the same job.
            match wait {
                Some(after) => Outcome::Wait(after),
                None => Outcome::Done,
            }
        }
        (None, Some(after)) => Outcome::Wait(after),
        (None, None) => Outcome::Wait(Duration::ZERO),
    };
    audit_step(&mut tx, d, &p).await?;
    tx.commit().await?;
    if let Some((verdict, _)) = &p.verdict {
        metrics::counter!("berth_drills_total", "kind" => d.kind.clone(), "verdict" => *verdict)
            .increment(1);
    }
    Ok(outcome)
}

/// Every step lands in the audit trail.
async fn audit_step(tx: &mut PgConnection, d: &State, p: &Progress) -> Result<()> {
    if p.next_step.is_none() && p.finish.is_none() {
        return Ok(()); // still waiting: no new step
    }
    audit::record(
        tx,
        &Ctx::system("berth-worker"),
        audit::Entry::new("drill.step", "drill", d.id)
            .team(d.team_id)
            .after(json!({"namespace": d.namespace, "from": d.step, "to": p.next_step, "detail": p.detail})),
    )
    .await
}

// --- Schedules ----------------------------------------------------------------------------

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
        "SELECT cron, timezone, kind, target, next_run_at, last_run_at, last_outcome FROM drill_schedules WHERE namespace_id = $1",
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
    let next = crate::people::collect(
        &mut errors,
        next_run("cron", &input.cron, &timezone, OffsetDateTime::now_utc()),
    );
    let kind = input.kind.trim().to_owned();
    if !["restore", "readiness"].contains(&kind.as_str()) {
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
    let Some(next) = next.filter(|_| errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let schedule = sqlx::query_as!(
        DrillSchedule,
        "INSERT INTO drill_schedules (namespace_id, cron, timezone, kind, target, next_run_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (namespace_id) DO UPDATE SET cron = $2, timezone = $3, kind = $4, target = $5, next_run_at = $6, updated_at = now()
         RETURNING cron, timezone, kind, target, next_run_at, last_run_at, last_outcome",
        s.namespace_id,
        input.cron.trim(),
        timezone.trim(),
        kind,
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
