//! The durable job queue. Jobs are rows; a worker claims a due one with
//! `FOR UPDATE SKIP LOCKED` and a lease, runs it within the lease, and finishes it only
//! while it still holds the lease — so a crash hands the job to another worker after the
//! lease, and no two workers run one job at the same time. Failures come back with
//! exponential backoff. Every job's effect is idempotent (server-side apply, delete of a
//! name), so a job that ran but could not be marked done is safe to run again.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{auth::Ctx, App, Result};

pub const CHANNEL: &str = "berth_jobs";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Apply,
    RevertBurst,
    Expire,
    Decommission,
    Webhook,
    Drill,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Apply => "apply",
            Kind::RevertBurst => "revert_burst",
            Kind::Expire => "expire",
            Kind::Decommission => "decommission",
            Kind::Webhook => "webhook",
            Kind::Drill => "drill",
        }
    }

    fn parse(raw: &str) -> Option<Kind> {
        Some(match raw {
            "apply" => Kind::Apply,
            "revert_burst" => Kind::RevertBurst,
            "expire" => Kind::Expire,
            "decommission" => Kind::Decommission,
            "webhook" => Kind::Webhook,
            "drill" => Kind::Drill,
            _ => return None,
        })
    }
}

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

/// Queues a job in the caller's transaction; workers hear of it when that commits.
pub async fn enqueue_with(
    tx: &mut PgConnection,
    kind: Kind,
    namespace_id: Uuid,
    request_id: Option<Uuid>,
    cluster_id: Uuid,
    run_at: Option<OffsetDateTime>,
    payload: Value,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO jobs (kind, namespace_id, request_id, cluster_id, run_at, payload)
         VALUES ($1, $2, $3, $4, coalesce($5, now()), $6)",
        kind.as_str(),
        namespace_id,
        request_id,
        cluster_id,
        run_at,
        payload
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, '')", CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Queues one delivery per enabled webhook that subscribed to `event`, with the request as
/// it is in this transaction.
pub async fn notify_webhooks(tx: &mut PgConnection, event: &str, request_id: Uuid) -> Result<()> {
    let hooks = sqlx::query_scalar!(
        "SELECT id FROM webhooks WHERE enabled AND $1 = ANY(events)",
        event
    )
    .fetch_all(&mut *tx)
    .await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let r = sqlx::query!(
        r#"SELECT r.kind, r.state, r.namespace_name, r.node_pool, r.last_error, t.name AS team, c.name AS cluster
           FROM namespace_requests r JOIN teams t ON t.id = r.team_id JOIN clusters c ON c.id = r.cluster_id
           WHERE r.id = $1"#,
        request_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let body = json!({
        "event": event,
        "occurred_at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "request": {"id": request_id, "kind": r.kind, "state": r.state, "team": r.team, "cluster": r.cluster,
                    "namespace": r.namespace_name, "node_pool": r.node_pool, "error": r.last_error},
    });
    for hook in hooks {
        sqlx::query!(
            "INSERT INTO jobs (kind, request_id, payload) VALUES ('webhook', $1, $2)",
            request_id,
            json!({"webhook_id": hook, "body": body})
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!("SELECT pg_notify($1, '')", CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A claimed job.
#[derive(Debug)]
pub struct Job {
    pub id: i64,
    pub kind: Kind,
    pub namespace_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
    pub cluster_id: Option<Uuid>,
    pub payload: Value,
    pub attempts: i32,
    pub lease_owner: Uuid,
    pub drill_id: Option<Uuid>,
}

/// What running a job came to.
pub enum Outcome {
    Done,
    /// Try again later; the error is kept on the job.
    Retry(String),
    /// Come back after `Duration` without counting a failure (waiting on the cluster).
    Wait(Duration),
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
           RETURNING id, kind, namespace_id, request_id, cluster_id, payload, attempts, drill_id"#,
        owner,
        lease,
        per_cluster
    )
    .fetch_optional(&app.db)
    .await?;
    Ok(row.and_then(|r| {
        Some(Job {
            id: r.id,
            kind: Kind::parse(&r.kind)?,
            namespace_id: r.namespace_id,
            request_id: r.request_id,
            cluster_id: r.cluster_id,
            payload: r.payload,
            attempts: r.attempts,
            lease_owner: owner,
            drill_id: r.drill_id,
        })
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

/// Runs one claimed job to its outcome and records it.
pub async fn run(app: &App, job: Job) -> Result<()> {
    let ctx = Ctx::system("berth-worker");
    // Finish inside the lease, so no other worker can take the job while this one runs.
    let budget = Duration::from_secs(app.config.job_lease_seconds.saturating_sub(10).max(5));
    let outcome =
        match tokio::time::timeout(budget, super::provision::execute(app, &ctx, &job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(crate::Error::Internal(anyhow::anyhow!(
                "the job ran out of its lease"
            ))),
        };
    let label = if outcome.is_ok() { "ok" } else { "error" };
    metrics::counter!("berth_jobs_total", "kind" => job.kind.as_str(), "outcome" => label)
        .increment(1);
    super::provision::conclude(app, &ctx, &job, outcome).await
}

/// Runs due jobs until none is left: what tests and `berth` tools call instead of workers.
pub async fn drain(app: &App) -> Result<usize> {
    let owner = Uuid::new_v4();
    let mut ran = 0;
    while let Some(job) = claim(app, owner).await? {
        run(app, job).await?;
        ran += 1;
    }
    Ok(ran)
}

/// This process's workers, for a graceful stop.
pub struct Workers {
    stop: std::sync::Arc<Stop>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Stop {
    requested: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Workers {
    /// Stops claiming and waits, up to `grace`, for the jobs in hand to finish. A job still
    /// running then is abandoned with the process; its lease hands it to another worker.
    pub async fn stop(self, grace: Duration) {
        self.stop
            .requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop.wake.notify_waiters();
        let running = futures::future::join_all(self.handles);
        if tokio::time::timeout(grace, running).await.is_err() {
            tracing::warn!("jobs still running at shutdown; their leases will hand them back");
        }
    }
}

/// Starts this process's workers: each claims and runs jobs, waking on NOTIFY (after a
/// commit that queued work) and at least every second for jobs that come due.
pub fn spawn_workers(app: App) -> Workers {
    let workers = app.config.job_workers;
    let stop = std::sync::Arc::new(Stop::default());
    let mut handles = Vec::new();
    if workers == 0 {
        return Workers { stop, handles };
    }
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    {
        let app = app.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&app.db).await {
                    Ok(mut listener) => {
                        if listener.listen(CHANNEL).await.is_ok() {
                            // One notification, one worker: waking every idle worker
                            // for each queued job sent them all to claim what one takes.
                            while listener.recv().await.is_ok() {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "job listener cannot connect; polling only")
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    for _ in 0..workers {
        let app = app.clone();
        let wake = wake.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let owner = Uuid::new_v4();
            loop {
                if stop.requested.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let notified = wake.notified();
                match claim(&app, owner).await {
                    Ok(Some(job)) => {
                        // There may be more: let another idle worker look.
                        wake.notify_one();
                        let id = job.id;
                        if let Err(e) = run(&app, job).await {
                            tracing::warn!(job = id, error = %e, "job could not be recorded; its lease will hand it back");
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "claiming a job failed"),
                }
                tokio::select! {
                    _ = tokio::time::timeout(Duration::from_secs(1), notified) => {}
                    _ = stop.wake.notified() => {}
                }
            }
        }));
    }
    Workers { stop, handles }
}

/// Jobs waiting and the age of the oldest due one, for /metrics.
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
