//! Capacity: workload right-sizing from Prometheus, quota suggestions that become quota
//! change requests with their evidence, replica planning, pool headroom and placement.
//!
//! Prometheus is asked a handful of queries per namespace, each grouped
//! `by (namespace, pod, container)` — never one per pod. A Prometheus that is down, slow or
//! answers garbage fails only the capacity view that needed it, with a message saying so.

pub mod headroom;
mod placement;
pub mod planner;
pub mod prom;
mod promql;
mod quota;
mod readings;
mod recommend;
pub mod rightsizing;
pub mod synth;

use self::{promql::*, readings::*, recommend::*};
pub use placement::{headroom, placement_options};
pub use promql::{spec_query, usage_query};
pub use quota::{quota_suggestion, request_right_size, suggest};
pub use readings::{read, Reading};
pub use recommend::{recommend, recommendations, recommendations_with, team_sizing, Recommended};

use std::time::Duration;

use berth_frontend::api::{Amounts, QuotaSpec, Scope};
use sqlx::PgConnection;

use self::prom::Source;
use crate::{
    auth::Ctx,
    error::{Error, Result},
    App,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Which usage statistics a reading asks Prometheus for. Prometheus evaluates the rate (or
/// memory) subquery once for every statistic that needs it, so a reading asks only for what
/// its caller uses: a team's totals and the fleet need what the recommendation does; a quota
/// suggestion adds the namespace's summed peaks; the namespace's right-sizing page shows
/// every chart statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stats {
    /// KRR's `simple` inputs: the CPU percentile and points, the memory peak and points, and
    /// when each container was last seen.
    Recommend,
    /// And the namespace's summed CPU and memory peaks.
    Peaks,
    /// And the CPU median, p99 and maximum and the memory median.
    Chart,
}

/// How far back and how finely recommendations read usage.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub history: Duration,
    pub step: Duration,
}

impl Window {
    /// The resolution of "still running at the end of the history".
    pub fn presence_step(&self) -> Duration {
        self.step.max(Duration::from_secs(3600))
    }

    /// The last whole presence step at or before `at`, in Unix seconds: where a subquery
    /// with that step evaluated at `at` would take its last point.
    pub fn presence_end(&self, at: f64) -> i64 {
        let step = self.presence_step().as_secs() as i64;
        (at.floor() as i64).div_euclid(step) * step
    }

    pub fn of(app: &App) -> Self {
        Window {
            history: Duration::from_secs(app.config.capacity_history_hours * 3600),
            step: Duration::from_secs(app.config.capacity_step_seconds),
        }
    }
}

/// The Prometheus holding a cluster's series: its own URL, else the central one with the
/// cluster label.
pub fn source(app: &App, cluster: &str, own_url: Option<&str>) -> Result<Source> {
    let timeout = Duration::from_secs(app.config.prometheus_timeout_seconds);
    let auth = app.config.prometheus_authorization.clone();
    let (url, matcher) = match (own_url, &app.config.prometheus_url) {
        (Some(url), _) => (url.to_owned(), None),
        (None, Some(url)) => (
            url.clone(),
            Some((app.config.prometheus_cluster_label.clone(), cluster.to_owned())),
        ),
        (None, None) => {
            return Err(Error::Unavailable(format!(
                "no Prometheus is configured for cluster {cluster}: set BERTH_PROMETHEUS_URL, or the cluster's prometheus_url"
            )))
        }
    };
    Source::new(&url, timeout, auth, matcher).map_err(Error::Unavailable)
}

/// A namespace the caller may see, with what capacity needs of it.
struct Subject {
    team: String,
    cluster: String,
    prometheus_url: Option<String>,
    quota: QuotaSpec,
    used: Option<Amounts>,
}

async fn subject(conn: &mut PgConnection, ctx: &Ctx, cluster: &str, name: &str) -> Result<Subject> {
    let actor = ctx.require(Scope::Read)?;
    let ns = crate::tenancy::access::namespace(&mut *conn, actor, cluster, name).await?;
    let row = sqlx::query!(
        "SELECT n.usage, n.usage_at, c.prometheus_url
         FROM namespaces n JOIN clusters c ON c.id = n.cluster_id WHERE n.id = $1",
        ns.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let used = crate::tenancy::namespaces::usage(row.usage, row.usage_at).map(|u| u.used_amounts);
    Ok(Subject {
        team: ns.team.name,
        cluster: ns.cluster,
        prometheus_url: row.prometheus_url,
        quota: ns.spec.quota,
        used,
    })
}

/// A namespace's measured use against its quota's requests, for a usage-aware approval
/// policy and its approver. Never fails: what went wrong is the evidence's `error`.
pub async fn usage_evidence(
    app: &App,
    cluster: &str,
    prometheus_url: Option<&str>,
    namespace: &str,
    quota: Amounts,
) -> berth_frontend::api::UsageEvidence {
    let w = Window::of(app);
    let mut evidence = berth_frontend::api::UsageEvidence {
        history_hours: w.history.as_secs() / 3600,
        cpu_p95_cores: None,
        memory_p95_bytes: None,
        quota_cpu_millis: quota.cpu_millis,
        quota_memory_bytes: quota.memory_bytes,
        cpu_percent: None,
        memory_percent: None,
        error: None,
    };
    let source = match source(app, cluster, prometheus_url) {
        Ok(s) => s,
        Err(e) => {
            evidence.error = Some(e.detail().message);
            return evidence;
        }
    };
    let query = promql::namespace_p95_query(&source, namespace, w);
    match source.vector(&query, recommend::now_secs()).await {
        Ok(samples) => {
            for s in samples {
                let v = readings::finite(s.value);
                match readings::label(&s.labels, "berth_stat") {
                    "ns_cpu_p95" => evidence.cpu_p95_cores = v,
                    "ns_mem_p95" => evidence.memory_p95_bytes = v,
                    _ => {}
                }
            }
            let percent = |used: f64, quota: f64| (quota > 0.0).then(|| used / quota * 100.0);
            evidence.cpu_percent = evidence
                .cpu_p95_cores
                .and_then(|c| percent(c * 1000.0, quota.cpu_millis as f64));
            evidence.memory_percent = evidence
                .memory_p95_bytes
                .and_then(|m| percent(m, quota.memory_bytes as f64));
            if evidence.cpu_p95_cores.is_none() && evidence.memory_p95_bytes.is_none() {
                evidence.error = Some(format!(
                    "Prometheus has no usage series for namespace {namespace}"
                ));
            }
        }
        Err(e) => evidence.error = Some(e),
    }
    evidence
}

// ---------------------------------------------------------------------------------------
// Queries

pub fn plan(
    ctx: &Ctx,
    input: &berth_frontend::api::PlanInput,
) -> Result<berth_frontend::api::PlanOutput> {
    ctx.require(Scope::Read)?;
    planner::plan(input)
}
