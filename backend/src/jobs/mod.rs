//! The durable job queue, above the domains: `queue` keeps the rows (enqueue, claim under a
//! lease, finish, backoff, bury) and `run` carries a claimed job out with one exhaustive
//! `match` on its kind — tenancy's provisioning and webhooks, drills' steps — then records
//! its end, leaving each domain its own bookkeeping.
//!
//! A worker claims a due job with `FOR UPDATE SKIP LOCKED` and a lease, runs it within the
//! lease, and finishes it only while it still holds the lease — so a crash hands the job to
//! another worker after the lease, and no two workers run one job at the same time. Every
//! job's effect is idempotent (server-side apply, delete of a name, a step that re-reads its
//! state), so a job that ran but could not be marked done is safe to run again.

mod queue;
mod run;

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

pub use queue::{
    backoff, bury, claim, enqueue, enqueue_with, finish, push, queue_depth, reschedule, NewJob,
    CHANNEL,
};
pub use run::{conclude, drain, execute, run, spawn_workers, Workers};

/// What a job does. The column holds the snake-case name; a CHECK constraint keeps it to
/// these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Kind {
    /// Server-side apply of a namespace's objects.
    Apply,
    /// A burst's end: the namespace's previous quota, then an apply.
    RevertBurst,
    /// A sandbox's end: its decommissioning.
    Expire,
    /// Deleting a namespace and waiting until the cluster has finalised it.
    Decommission,
    /// One webhook delivery.
    Webhook,
    /// One step of a disaster-recovery drill.
    Drill,
    /// Removing a cluster's shared objects that no namespace can use any more.
    Prune,
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
            Kind::Prune => "prune",
        }
    }
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
    /// A freeze holds the change: come back when it ends, without counting a failure.
    Held(crate::tenancy::freeze::Hold),
}
