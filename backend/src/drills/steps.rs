//! The drill's step machine: each run of its job takes one step — queue behind other restores,
//! take or find a backup, restore into a scratch namespace, wait for it and for the workloads,
//! check readiness, clean up — and records it with its time and an audit row, so a restart
//! resumes where the drill was.
//!
//! Longer than most modules on purpose: the step machine is one exhaustive `match` on
//! `DrillStepName`, read top to bottom as the drill runs; splitting its arms across files would
//! hide the order. Velero's resources are in `velero.rs`, the read-only checks in `readiness.rs`.

use std::time::Duration;

use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::{Namespace, PersistentVolumeClaim},
};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams},
    Client,
};
use serde_json::{json, Value};
use sqlx::PgConnection;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use uuid::Uuid;

use berth_frontend::api::{DrillKind, DrillState, DrillStepName, ReadinessCheck, Verdict};

use crate::{
    audit, auth::Ctx, fleet::connect, jobs::Outcome, tenancy::provision::describe, App, Error,
    Result,
};

use super::{
    now_text,
    readiness::readiness,
    velero::{newest_backup, velero, VELERO_NAMESPACE},
};

pub(super) struct State {
    pub(super) id: Uuid,
    pub(super) kind: DrillKind,
    pub(super) state: DrillState,
    pub(super) step: DrillStepName,
    pub(super) namespace_id: Uuid,
    pub(super) namespace: String,
    pub(super) team_id: Uuid,
    pub(super) source_cluster: Uuid,
    pub(super) target_cluster: Option<Uuid>,
    pub(super) rto_seconds: i32,
    pub(super) rpo_seconds: i32,
    pub(super) keep_hours: i32,
    pub(super) ready_timeout_seconds: i32,
    pub(super) started_at: Option<OffsetDateTime>,
    pub(super) backup_started_at: Option<OffsetDateTime>,
    pub(super) restore_name: Option<String>,
    pub(super) scratch_namespace: Option<String>,
    pub(super) restore_completed_at: Option<OffsetDateTime>,
    pub(super) verdict: Option<Verdict>,
    pub(super) cancel_requested: bool,
    pub(super) create_backup: bool,
    pub(super) backup_name: Option<String>,
}

pub(super) async fn load(conn: &mut PgConnection, id: Uuid) -> Result<State> {
    sqlx::query_as!(
        State,
        r#"SELECT d.id, d.kind AS "kind: DrillKind", d.state AS "state: DrillState", d.step AS "step: DrillStepName", d.namespace_id, n.name AS namespace, n.team_id, n.cluster_id AS source_cluster,
                  d.target_cluster_id AS target_cluster, d.rto_seconds, d.rpo_seconds, d.keep_hours, d.ready_timeout_seconds,
                  d.started_at, d.backup_started_at, d.restore_name, d.scratch_namespace, d.restore_completed_at,
                  d.verdict AS "verdict: Verdict", d.cancel_requested, d.create_backup, d.backup_name
           FROM drills d JOIN namespaces n ON n.id = d.namespace_id WHERE d.id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound("drill"))
}

/// What one step decided, recorded with the step in one transaction.
#[derive(Default)]
pub(super) struct Progress {
    next_step: Option<DrillStepName>,
    detail: String,
    set: Set,
    verdict: Option<(Verdict, String)>,
    finish: Option<DrillState>,
    wait: Option<Duration>,
}

/// The drill columns a step may set; what is `None` keeps its value. One checked UPDATE
/// writes them (see [`record`]).
#[derive(Default)]
pub(super) struct Set {
    started_at: Option<OffsetDateTime>,
    backup_started_at: Option<OffsetDateTime>,
    restore_completed_at: Option<OffsetDateTime>,
    workloads_ready_at: Option<OffsetDateTime>,
    backup_name: Option<String>,
    restore_name: Option<String>,
    scratch_namespace: Option<String>,
    items_restored: Option<i32>,
    items_total: Option<i32>,
    warnings: Option<i32>,
    errors: Option<i32>,
    checks: Option<Vec<ReadinessCheck>>,
}

impl Progress {
    fn to(step: DrillStepName, detail: impl Into<String>) -> Self {
        Progress {
            next_step: Some(step),
            detail: detail.into(),
            ..Default::default()
        }
    }

    fn fail(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Progress {
            next_step: Some(DrillStepName::Cleanup),
            detail: format!("verdict: fail — {reason}"),
            verdict: Some((Verdict::Fail, reason)),
            ..Default::default()
        }
    }

    fn with(mut self, set: impl FnOnce(&mut Set)) -> Self {
        set(&mut self.set);
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
pub async fn run(app: &App, job: &crate::jobs::Job) -> Result<Outcome> {
    let Some(id) = job.drill_id else {
        return Ok(Outcome::Done);
    };
    let d = load(&mut *app.db.acquire().await?, id).await?;
    if d.step == DrillStepName::Done {
        return Ok(Outcome::Done);
    }
    let progress = match step(app, &d).await {
        Ok(p) => p,
        Err(StepError::Unreachable(reason)) => return Ok(Outcome::Retry(reason)),
        Err(StepError::Berth(e)) => return Err(e),
    };
    record(app, &d, progress).await
}

pub(super) enum StepError {
    Unreachable(String),
    Berth(Error),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Berth(e)
    }
}

pub(super) fn unreachable(e: kube::Error) -> StepError {
    StepError::Unreachable(describe(&e))
}

pub(super) async fn client_for(app: &App, cluster: Uuid) -> std::result::Result<Client, StepError> {
    connect::client(app, cluster)
        .await
        .map_err(|e| StepError::Unreachable(format!("cannot reach the cluster: {e}")))
}

pub(super) async fn step(app: &App, d: &State) -> std::result::Result<Progress, StepError> {
    if d.cancel_requested && d.step != DrillStepName::Cleanup {
        return Ok(Progress {
            next_step: Some(DrillStepName::Cleanup),
            detail: "cancelled; cleaning up what the drill created".into(),
            verdict: Some((Verdict::Fail, "cancelled".into())),
            ..Default::default()
        });
    }
    let target = d.target_cluster.unwrap_or(d.source_cluster);
    match d.step {
        DrillStepName::Queued => {
            if d.kind == DrillKind::Readiness {
                return Ok(
                    Progress::to(DrillStepName::Check, "readiness check started")
                        .with(|s| s.started_at = Some(OffsetDateTime::now_utc())),
                );
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
                DrillStepName::Backup
            } else {
                DrillStepName::FindBackup
            };
            Ok(Progress::to(next, "restore drill started")
                .with(|s| s.started_at = Some(OffsetDateTime::now_utc())))
        }
        DrillStepName::Backup => {
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
                Progress::to(DrillStepName::WaitBackup, format!("Backup {name} created"))
                    .with(|s| s.backup_name = Some(name)),
            )
        }
        DrillStepName::WaitBackup => {
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
                    let started = status("/status/startTimestamp")
                        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
                        .unwrap_or_else(OffsetDateTime::now_utc);
                    let scratch = scratch_name(app, d).await?;
                    Ok(
                        Progress::to(DrillStepName::Restore, format!("backup {name} Completed"))
                            .with(|s| {
                                s.backup_started_at = Some(started);
                                s.restore_name = Some(scratch.clone());
                                s.scratch_namespace = Some(scratch);
                            }),
                    )
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
        DrillStepName::FindBackup => {
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
                    Ok(Progress::to(
                        DrillStepName::Restore,
                        format!("newest completed backup: {name}"),
                    )
                    .with(|s| {
                        s.backup_name = Some(name);
                        s.backup_started_at = Some(at);
                        s.restore_name = Some(scratch.clone());
                        s.scratch_namespace = Some(scratch);
                    }))
                }
            }
        }
        DrillStepName::Restore => {
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
                DrillStepName::WaitRestore,
                format!("Restore {name} created from {backup}"),
            ))
        }
        DrillStepName::WaitRestore => {
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
                    .and_then(|v| i32::try_from(v).ok())
            };
            let counts = |p: Progress| {
                p.with(|s| {
                    s.items_restored = int("/progress/itemsRestored");
                    s.items_total = int("/progress/totalItems");
                    s.warnings = int("/warnings");
                    s.errors = int("/errors");
                    s.restore_completed_at = Some(OffsetDateTime::now_utc());
                })
            };
            match phase.as_str() {
                "Completed" => Ok(counts(Progress::to(
                    DrillStepName::WaitReady,
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
        DrillStepName::WaitReady => {
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
                        next_step: Some(DrillStepName::Cleanup),
                        detail: format!(
                            "workloads ready: RTO {rto:.0} s, RPO {rpo:.0} s — verdict: pass"
                        ),
                        verdict: Some((
                            Verdict::Pass,
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
                return Ok(p.with(|s| s.workloads_ready_at = Some(OffsetDateTime::now_utc())));
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
        DrillStepName::Check => {
            let checks = readiness(app, d).await?;
            let failed: Vec<String> = checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.clone())
                .collect();
            let verdict = if failed.is_empty() {
                (Verdict::Pass, "every readiness check passed".to_owned())
            } else {
                (Verdict::Fail, format!("failed: {}", failed.join(", ")))
            };
            Ok(Progress {
                next_step: Some(DrillStepName::Cleanup),
                detail: format!("{} checks, {} failed", checks.len(), failed.len()),
                verdict: Some(verdict),
                set: Set {
                    checks: Some(checks),
                    ..Default::default()
                },
                ..Default::default()
            })
        }
        DrillStepName::Done => Ok(finish(d, "the drill is over")),
        DrillStepName::Cleanup => {
            // The scratch namespace and the Restore, now or after keep_hours.
            let Some(scratch) = d
                .scratch_namespace
                .clone()
                .filter(|_| d.kind == DrillKind::Restore)
            else {
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
                p.next_step = Some(DrillStepName::Cleanup);
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

/// `<namespace>-drill-<n>`, n counting the namespace's drills; shortened past 63 characters.
pub(super) async fn scratch_name(app: &App, d: &State) -> std::result::Result<String, StepError> {
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

pub(super) fn finish(d: &State, detail: impl Into<String>) -> Progress {
    let end = if d.cancel_requested {
        DrillState::Cancelled
    } else if d.verdict == Some(Verdict::Pass) {
        DrillState::Passed
    } else {
        DrillState::Failed
    };
    Progress {
        next_step: Some(DrillStepName::Done),
        detail: detail.into(),
        finish: Some(end),
        ..Default::default()
    }
}

pub(super) fn timed_out(since: Option<OffsetDateTime>, seconds: i32) -> bool {
    since.is_some_and(|s| (OffsetDateTime::now_utc() - s).whole_seconds() > i64::from(seconds))
}

/// Deployments and StatefulSets short of ready replicas, and PVCs not Bound.
pub(super) async fn unready_workloads(
    client: &Client,
    namespace: &str,
) -> std::result::Result<Vec<String>, kube::Error> {
    let mut waiting = Vec::new();
    let short = |kind: &str, name: Option<String>, want: i32, ready: Option<i32>| {
        let ready = ready.unwrap_or(0);
        (ready < want).then(|| format!("{kind} {} ({ready}/{want})", name.unwrap_or_default()))
    };
    for d in Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
    {
        let want = d.spec.replicas.unwrap_or(1);
        let ready = d.status.and_then(|s| s.ready_replicas);
        waiting.extend(short("Deployment", d.metadata.name, want, ready));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?
    {
        let want = s.spec.replicas.unwrap_or(1);
        let ready = s.status.and_then(|s| s.ready_replicas);
        waiting.extend(short("StatefulSet", s.metadata.name, want, ready));
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

/// Records a step: the drill's columns, the step with its time, the audit row; finishes the
/// drill when it is over. Then answers the job's outcome.
pub(super) async fn record(app: &App, d: &State, p: Progress) -> Result<Outcome> {
    let mut tx = app.db.begin().await?;
    let step_entry =
        json!([{"step": p.next_step.unwrap_or(d.step), "at": now_text(), "detail": p.detail}]);
    // A wait that reports what the last entry already says adds nothing to the evidence.
    sqlx::query!(
        "UPDATE drills SET steps = CASE WHEN $3::text IS NULL AND steps->-1->>'detail' = $4 THEN steps ELSE steps || $2 END,
                step = coalesce($3, step),
                state = CASE WHEN state = 'queued' AND $3::text IS NOT NULL THEN 'running' ELSE state END
         WHERE id = $1",
        d.id,
        step_entry,
        p.next_step.map(DrillStepName::as_str),
        p.detail
    )
    .execute(&mut *tx)
    .await?;
    let set = &p.set;
    sqlx::query!(
        "UPDATE drills SET started_at = coalesce($2, started_at),
                backup_started_at = coalesce($3, backup_started_at),
                restore_completed_at = coalesce($4, restore_completed_at),
                workloads_ready_at = coalesce($5, workloads_ready_at),
                backup_name = coalesce($6, backup_name), restore_name = coalesce($7, restore_name),
                scratch_namespace = coalesce($8, scratch_namespace),
                items_restored = coalesce($9, items_restored), items_total = coalesce($10, items_total),
                warnings = coalesce($11, warnings), errors = coalesce($12, errors),
                checks = coalesce($13, checks)
         WHERE id = $1",
        d.id,
        set.started_at,
        set.backup_started_at,
        set.restore_completed_at,
        set.workloads_ready_at,
        set.backup_name,
        set.restore_name,
        set.scratch_namespace,
        set.items_restored,
        set.items_total,
        set.warnings,
        set.errors,
        set.checks.as_ref().map(|c| json!(c)),
    )
    .execute(&mut *tx)
    .await?;
    if let Some((verdict, reason)) = &p.verdict {
        sqlx::query!(
            "UPDATE drills SET verdict = $2, verdict_reason = $3 WHERE id = $1",
            d.id,
            verdict.as_str(),
            reason
        )
        .execute(&mut *tx)
        .await?;
    }
    let outcome = match (p.finish, p.wait) {
        (Some(end), wait) => {
            if d.state != end {
                sqlx::query!("UPDATE drills SET state = $2, finished_at = coalesce(finished_at, now()) WHERE id = $1", d.id, end.as_str())
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
        metrics::counter!("berth_drills_total", "kind" => d.kind.as_str(), "verdict" => verdict.as_str())
            .increment(1);
    }
    Ok(outcome)
}

/// Every step lands in the audit trail.
pub(super) async fn audit_step(tx: &mut PgConnection, d: &State, p: &Progress) -> Result<()> {
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
