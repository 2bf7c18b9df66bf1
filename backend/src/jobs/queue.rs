//! The queue as rows: enqueue (in the caller's transaction), claim with `FOR UPDATE SKIP
//! LOCKED` under a lease, and the ends a job can come to — done, back later with backoff,
//! or buried. Knows nothing of what a job does; `run.rs` does.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Job, Kind};
use crate::{App, Result};

pub const CHANNEL: &str = "berth_jobs";

pub async fn enqueue(
    tx: &mut PgConnection,
    kind: Kind,
    namespace_id: Uuid,
    request_id: Option<Uuid>,
    cluster_id: Uuid,
    run_at: Option<OffsetDateTime>,
) -> Result<()> {
    enqueue_with(
        tx,
        kind,
        namespace_id,
        request_id,
        cluster_id,
        run_at,
        json!({}),
    )
    .await
}

/// Queues a namespace's job in the caller's transaction, with a payload.
pub async fn enqueue_with(
    tx: &mut PgConnection,
    kind: Kind,
    namespace_id: Uuid,
    request_id: Option<Uuid>,
    cluster_id: Uuid,
    run_at: Option<OffsetDateTime>,
    payload: Value,
) -> Result<()> {
    push(
        tx,
        NewJob {
            kind,
            namespace_id: Some(namespace_id),
            request_id,
            cluster_id: Some(cluster_id),
            drill_id: None,
            run_at,
            payload,
        },
    )
    .await
}

/// A job to queue: its kind, what it is about, and when it is due.
pub struct NewJob {
    pub kind: Kind,
    pub namespace_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
    /// The cluster it talks to; at most `BERTH_JOBS_PER_CLUSTER` of a cluster's jobs run at once.
    pub cluster_id: Option<Uuid>,
    pub drill_id: Option<Uuid>,
    /// None: now.
    pub run_at: Option<OffsetDateTime>,
    pub payload: Value,
}

/// Queues a job in the caller's transaction; workers hear of it when that commits.
pub async fn push(tx: &mut PgConnection, job: NewJob) -> Result<()> {
    sqlx::query!(
        "INSERT INTO jobs (kind, namespace_id, request_id, cluster_id, drill_id, run_at, payload)
         VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7)",
        job.kind as Kind,
        job.namespace_id,
        job.request_id,
        job.cluster_id,
        job.drill_id,
        job.run_at,
        job.payload
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Claims one due job. A job whose namespace has a job running under a live lease waits
/// (a namespace's jobs run in order), and so does one whose cluster already runs
/// `BERTH_JOBS_PER_CLUSTER` jobs, so a slow cluster occupies only that many workers.
pub async fn claim(app: &App, owner: Uuid) -> Result<Option<Job>> {
    let lease = app.config.job_lease_seconds as f64;
    let per_cluster = app.config.jobs_per_cluster as i64;
    let row = sqlx::query!(
        r#"UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = now() + make_interval(secs => $2),
                          attempts = attempts + 1
           WHERE id = (
             SELECT j.id FROM jobs j
             WHERE ((j.state = 'queued' AND j.run_at <= now()) OR (j.state = 'running' AND j.lease_until < now()))
               AND (j.namespace_id IS NULL OR NOT EXISTS (
                     SELECT 1 FROM jobs r WHERE r.namespace_id = j.namespace_id AND r.state = 'running'
                       AND r.lease_until >= now() AND r.id <> j.id))
               AND (j.cluster_id IS NULL OR (
                     SELECT count(*) FROM jobs r WHERE r.cluster_id = j.cluster_id AND r.state = 'running'
                       AND r.lease_until >= now() AND r.id <> j.id) < $3)
             ORDER BY j.run_at, j.id
             FOR UPDATE SKIP LOCKED LIMIT 1)
           RETURNING id, kind AS "kind: Kind", namespace_id, request_id, cluster_id, payload, attempts, drill_id"#,
        owner,
        lease,
        per_cluster
    )
    .fetch_optional(&app.db)
    .await?;
    Ok(row.map(|r| Job {
        id: r.id,
        kind: r.kind,
        namespace_id: r.namespace_id,
        request_id: r.request_id,
        cluster_id: r.cluster_id,
        payload: r.payload,
        attempts: r.attempts,
        lease_owner: owner,
        drill_id: r.drill_id,
    }))
}

/// Seconds before the next attempt: 2, 4, 8 … capped at 5 minutes.
pub fn backoff(attempts: i32) -> i64 {
    2_i64.saturating_pow(attempts.clamp(1, 20) as u32).min(300)
}

/// Marks the job done, in `tx`, if this worker still holds it. False: the lease was lost
/// and another worker owns the job now; the caller must roll back.
pub async fn finish(tx: &mut PgConnection, job: &Job) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE jobs SET state = 'done', finished_at = now(), lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        job.id,
        job.lease_owner
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts the job back for a later attempt (in `tx`, if this worker still holds it).
pub async fn reschedule(
    tx: &mut PgConnection,
    job: &Job,
    after: Duration,
    error: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE jobs SET state = 'queued', run_at = now() + make_interval(secs => $3), lease_owner = NULL,
                lease_until = NULL, last_error = coalesce($4, last_error),
                attempts = CASE WHEN $4::text IS NULL THEN attempts - 1 ELSE attempts END
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        job.id,
        job.lease_owner,
        after.as_secs_f64(),
        error
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up on a job (webhook deliveries only; provisioning retries until it succeeds).
pub async fn bury(tx: &mut PgConnection, job: &Job, error: &str) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE jobs SET state = 'dead', finished_at = now(), last_error = $3, lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        job.id,
        job.lease_owner,
        error
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Jobs waiting, jobs running, and how long the oldest due job has waited (seconds).
pub async fn queue_depth(app: &App) -> Result<(i64, i64, f64)> {
    let r = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'queued') AS "queued!",
                  count(*) FILTER (WHERE state = 'running') AS "running!",
                  coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now())), 0)::float8 AS "oldest!"
           FROM jobs WHERE state IN ('queued', 'running')"#
    )
    .fetch_one(&app.db)
    .await?;
    Ok((r.queued, r.running, r.oldest))
}
