//! Carrying a claimed job out: one exhaustive `match` on its kind, then its end recorded;
//! and this process's workers, which claim and run jobs until asked to stop.

use std::time::Duration;

use uuid::Uuid;

use super::{queue, queue::claim, Job, Kind, Outcome, CHANNEL};
use crate::{
    auth::Ctx,
    drills,
    tenancy::{provision, shared, webhooks},
    App, Result,
};

/// The part of a job that talks to the outside; state changes happen in [`conclude`].
pub async fn execute(app: &App, job: &Job) -> Result<Outcome> {
    match job.kind {
        Kind::Apply => provision::apply(app, job).await,
        Kind::Decommission => provision::delete(app, job).await,
        // Their whole effect is a state change and a follow-up job, made when they conclude.
        Kind::RevertBurst | Kind::Expire => Ok(Outcome::Done),
        Kind::Webhook => webhooks::deliver(app, job).await,
        Kind::Drill => drills::steps::run(app, job).await,
        Kind::Prune => shared::prune(app, job).await,
    }
}

/// Runs one claimed job to its outcome and records it.
pub async fn run(app: &App, job: Job) -> Result<()> {
    let ctx = Ctx::system("berth-worker");
    if let Some(hold) = crate::tenancy::freeze::holding(app, &job).await? {
        return conclude(app, &ctx, &job, Ok(Outcome::Held(hold))).await;
    }
    // Finish inside the lease, so no other worker can take the job while this one runs.
    let budget = Duration::from_secs(app.config.job_lease_seconds.saturating_sub(10).max(5));
    let outcome = match tokio::time::timeout(budget, execute(app, &job)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(crate::Error::Internal(anyhow::anyhow!(
            "the job ran out of its lease"
        ))),
    };
    let label = if outcome.is_ok() { "ok" } else { "error" };
    metrics::counter!("berth_jobs_total", "kind" => job.kind.as_str(), "outcome" => label)
        .increment(1);
    conclude(app, &ctx, &job, outcome).await
}

/// Records a job's end — done, back later, or buried — with its domain's bookkeeping (the
/// namespace's and request's new state, the audit row, follow-up jobs) in one transaction,
/// if the lease still holds.
pub async fn conclude(app: &App, ctx: &Ctx, job: &Job, outcome: Result<Outcome>) -> Result<()> {
    let mut tx = app.db.begin().await?;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => Outcome::Retry(e.to_string()),
    };
    let held = match outcome {
        Outcome::Wait(after) => queue::reschedule(&mut tx, job, after, None).await?,
        Outcome::Held(hold) => {
            let after = (hold.until - time::OffsetDateTime::now_utc())
                .max(time::Duration::ZERO)
                .unsigned_abs()
                + Duration::from_secs(1);
            let held = queue::reschedule(&mut tx, job, after, None).await?;
            if held {
                crate::tenancy::freeze::record_hold(&mut tx, ctx, job, &hold).await?;
            }
            held
        }
        Outcome::Retry(reason) => {
            let gives_up = match job.kind {
                Kind::Webhook => webhooks::gives_up(job.attempts),
                // Provisioning, decommissioning, drills and prunes retry until they succeed.
                Kind::Apply
                | Kind::Decommission
                | Kind::RevertBurst
                | Kind::Expire
                | Kind::Drill
                | Kind::Prune => false,
            };
            if gives_up {
                queue::bury(&mut tx, job, &reason).await?
            } else {
                let after = Duration::from_secs(queue::backoff(job.attempts) as u64);
                let held = queue::reschedule(&mut tx, job, after, Some(&reason)).await?;
                if held {
                    match job.kind {
                        Kind::Apply | Kind::Decommission => {
                            provision::failed(&mut tx, ctx, job, &reason, after).await?
                        }
                        Kind::RevertBurst
                        | Kind::Expire
                        | Kind::Webhook
                        | Kind::Drill
                        | Kind::Prune => {}
                    }
                }
                held
            }
        }
        Outcome::Done => {
            let held = queue::finish(&mut tx, job).await?;
            if held {
                match job.kind {
                    Kind::Apply | Kind::Decommission | Kind::RevertBurst | Kind::Expire => {
                        provision::succeeded(&mut tx, ctx, job).await?
                    }
                    // A webhook has nothing more to record; a drill records each step itself,
                    // a prune what it removed.
                    Kind::Webhook | Kind::Drill | Kind::Prune => {}
                }
            }
            held
        }
    };
    if held {
        tx.commit().await?;
    } else {
        tracing::warn!(job = job.id, "lost the job's lease; another worker has it");
    }
    Ok(())
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
