//! Capacity: workload right-sizing from Prometheus, quota suggestions that become quota
//! change requests with their evidence, replica planning, pool headroom and placement.
//!
//! Prometheus is asked a handful of queries per namespace, each grouped
//! `by (namespace, pod, container)` — never one per pod. A Prometheus that is down, slow or
//! answers garbage fails only the capacity view that needed it, with a message saying so.

pub mod headroom;
pub mod planner;
pub mod prom;
pub mod rightsizing;
pub mod synth;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use berth_frontend::api::{
    Amounts, ClusterHeadroom, ContainerRecommendation, ContainerResources,
    NamespaceRecommendations, NamespaceSizing, PlacementOption, PoolHeadroom, QuotaChange,
    QuotaSpec, QuotaSuggestion, RecommendationQuery, RequestDetail, RightSizeInput, Scope,
    ShapeQuery, SizingTotals, Strategy, TeamSizing, UsageSummary,
};
use futures::StreamExt;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use self::{
    headroom::{Free, Shape},
    prom::{Labels, Sample, Series, Source},
    rightsizing::{DecayingHistogram, PodUsage, Proposal},
};
use crate::{
    auth::Ctx,
    error::{Error, FieldErrors, Result},
    fleet::inventory::{amount, cpu_millis},
    App,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

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
    let row = sqlx::query!(
        r#"SELECT n.spec, n.usage, n.usage_at, t.name AS team, c.name AS cluster, c.prometheus_url
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           WHERE c.name = $1 AND n.name = $2 AND n.state <> 'decommissioned'"#,
        cluster,
        name
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(Error::NotFound("namespace"))?;
    if !crate::tenancy::access::may_see_team(actor, &row.team) {
        return Err(Error::NotFound("namespace"));
    }
    let spec: berth_frontend::api::NamespaceSpec = serde_json::from_value(row.spec)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored spec: {e}")))?;
    let used = crate::tenancy::namespaces::usage(row.usage, row.usage_at).map(|u| u.used_amounts);
    Ok(Subject {
        team: row.team,
        cluster: row.cluster,
        prometheus_url: row.prometheus_url,
        quota: spec.quota,
        used,
    })
}

// ---------------------------------------------------------------------------------------
// Queries

fn dur(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Tags each part with `berth_stat` so one query answers many statistics.
fn tagged(parts: &[(&str, String)]) -> String {
    parts
        .iter()
        .map(|(name, q)| format!(r#"label_replace({q}, "berth_stat", "{name}", "", "")"#))
        .collect::<Vec<_>>()
        .join(" or ")
}

struct Promql {
    cpu_rate: String,
    memory: String,
}

fn promql(source: &Source, namespace: &str, w: Window) -> (Promql, String, String) {
    let ns = source.matchers(namespace);
    let sel = format!(r#"{ns},container!="",container!="POD""#);
    let s = dur(w.step);
    let by = "max by (namespace, pod, container)";
    let q = Promql {
        cpu_rate: format!("{by} (rate(container_cpu_usage_seconds_total{{{sel}}}[{s}]))"),
        memory: format!("{by} (container_memory_working_set_bytes{{{sel}}})"),
    };
    (q, ns, sel)
}

/// One query for every usage statistic of a namespace's containers.
pub fn usage_query(source: &Source, namespace: &str, w: Window) -> String {
    let (q, _, sel) = promql(source, namespace, w);
    let range = format!("[{}:{}]", dur(w.history), dur(w.step));
    let by = "max by (namespace, pod, container)";
    let cpu_raw = format!("{by} (container_cpu_usage_seconds_total{{{sel}}})");
    tagged(&[
        ("cpu_p50", format!("quantile_over_time(0.5, {}{range})", q.cpu_rate)),
        ("cpu_p95", format!("quantile_over_time(0.95, {}{range})", q.cpu_rate)),
        ("cpu_p99", format!("quantile_over_time(0.99, {}{range})", q.cpu_rate)),
        ("cpu_max", format!("max_over_time({}{range})", q.cpu_rate)),
        ("cpu_n", format!("count_over_time({cpu_raw}{range})")),
        ("mem_p50", format!("quantile_over_time(0.5, {}{range})", q.memory)),
        ("mem_max", format!("max_over_time({}{range})", q.memory)),
        ("mem_n", format!("count_over_time({}{range})", q.memory)),
        // When each container was last seen, to the hour: `timestamp()` in a subquery costs a
        // step-by-step evaluation, so it runs at hour steps (0.1 s instead of 5 s for 14 days).
        (
            "last_seen",
            format!(
                "{by} (max_over_time(timestamp(container_memory_working_set_bytes{{{sel}}})[{}:{}]))",
                dur(w.history),
                dur(w.presence_step())
            ),
        ),
        (
            "ns_cpu_peak",
            format!("max_over_time(sum by (namespace) ({}){range})", q.cpu_rate),
        ),
        (
            "ns_mem_peak",
            format!("max_over_time(sum by (namespace) ({}){range})", q.memory),
        ),
    ])
}

/// One query for what kube-state-metrics says: owners, requests, limits and HPAs.
pub fn spec_query(source: &Source, namespace: &str, w: Window) -> String {
    let ns = source.matchers(namespace);
    let h = dur(w.history);
    tagged(&[
        (
            "pod_owner",
            format!("max_over_time(kube_pod_owner{{{ns}}}[{h}])"),
        ),
        (
            "rs_owner",
            format!("max_over_time(kube_replicaset_owner{{{ns}}}[{h}])"),
        ),
        (
            "job_owner",
            format!("max_over_time(kube_job_owner{{{ns}}}[{h}])"),
        ),
        (
            "request",
            format!(
                r#"last_over_time(kube_pod_container_resource_requests{{{ns},resource=~"cpu|memory"}}[{h}])"#
            ),
        ),
        (
            "limit",
            format!(
                r#"last_over_time(kube_pod_container_resource_limits{{{ns},resource=~"cpu|memory"}}[{h}])"#
            ),
        ),
        (
            "hpa_metric",
            format!("last_over_time(kube_horizontalpodautoscaler_spec_target_metric{{{ns}}}[{h}])"),
        ),
        (
            "hpa_info",
            format!("last_over_time(kube_horizontalpodautoscaler_info{{{ns}}}[{h}])"),
        ),
    ])
}

// ---------------------------------------------------------------------------------------
// Reading the answers

#[derive(Debug, Default, Clone)]
struct PodStats {
    cpu_p50: Option<f64>,
    cpu_p95: Option<f64>,
    cpu_p99: Option<f64>,
    cpu_max: Option<f64>,
    cpu_n: u64,
    mem_p50: Option<f64>,
    mem_max: Option<f64>,
    mem_n: u64,
    last_seen: Option<f64>,
}

type Key = (String, String); // (pod, container)

fn label<'a>(l: &'a Labels, k: &str) -> &'a str {
    l.get(k).map(String::as_str).unwrap_or("")
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[derive(Default)]
struct Usage {
    pods: BTreeMap<Key, PodStats>,
    peak_cpu: Option<f64>,
    peak_memory: Option<f64>,
}

fn read_usage(samples: Vec<Sample>) -> Usage {
    let mut u = Usage::default();
    for s in samples {
        let stat = label(&s.labels, "berth_stat");
        let v = finite(s.value);
        match stat {
            "ns_cpu_peak" => u.peak_cpu = v,
            "ns_mem_peak" => u.peak_memory = v,
            _ => {
                let key = (
                    label(&s.labels, "pod").to_owned(),
                    label(&s.labels, "container").to_owned(),
                );
                let p = u.pods.entry(key).or_default();
                match stat {
                    "cpu_p50" => p.cpu_p50 = v,
                    "cpu_p95" => p.cpu_p95 = v,
                    "cpu_p99" => p.cpu_p99 = v,
                    "cpu_max" => p.cpu_max = v,
                    "cpu_n" => p.cpu_n = v.unwrap_or(0.0) as u64,
                    "mem_p50" => p.mem_p50 = v,
                    "mem_max" => p.mem_max = v,
                    "mem_n" => p.mem_n = v.unwrap_or(0.0) as u64,
                    "last_seen" => p.last_seen = v,
                    _ => {}
                }
            }
        }
    }
    u
}

#[derive(Default)]
struct Spec {
    pod_owner: BTreeMap<String, (String, String)>,
    rs_owner: BTreeMap<String, (String, String)>,
    job_owner: BTreeMap<String, (String, String)>,
    /// (pod, container, resource) → value in cores or bytes.
    requests: BTreeMap<(String, String, String), f64>,
    limits: BTreeMap<(String, String, String), f64>,
    /// HPA name → (target kind, target name) and the metrics it scales on.
    hpa_target: BTreeMap<String, (String, String)>,
    hpa_metrics: BTreeMap<String, BTreeSet<String>>,
}

fn owner(l: &Labels) -> Option<(String, String)> {
    let kind = label(l, "owner_kind");
    (!kind.is_empty() && kind != "<none>")
        .then(|| (kind.to_owned(), label(l, "owner_name").to_owned()))
}

fn read_spec(samples: Vec<Sample>) -> Spec {
    let mut s = Spec::default();
    for x in samples {
        let l = &x.labels;
        let controller = label(l, "owner_is_controller") != "false";
        let put = |map: &mut BTreeMap<String, (String, String)>, key: &str| {
            if let Some(o) = owner(l) {
                if controller || !map.contains_key(key) {
                    map.insert(key.to_owned(), o);
                }
            }
        };
        match label(l, "berth_stat") {
            "pod_owner" => put(&mut s.pod_owner, label(l, "pod")),
            "rs_owner" => put(&mut s.rs_owner, label(l, "replicaset")),
            "job_owner" => put(&mut s.job_owner, label(l, "job_name")),
            stat @ ("request" | "limit") => {
                let key = (
                    label(l, "pod").to_owned(),
                    label(l, "container").to_owned(),
                    label(l, "resource").to_owned(),
                );
                if let Some(v) = finite(x.value) {
                    if stat == "request" {
                        &mut s.requests
                    } else {
                        &mut s.limits
                    }
                    .insert(key, v);
                }
            }
            "hpa_info" => {
                s.hpa_target.insert(
                    label(l, "horizontalpodautoscaler").to_owned(),
                    (
                        label(l, "scaletargetref_kind").to_owned(),
                        label(l, "scaletargetref_name").to_owned(),
                    ),
                );
            }
            "hpa_metric" => {
                s.hpa_metrics
                    .entry(label(l, "horizontalpodautoscaler").to_owned())
                    .or_default()
                    .insert(label(l, "metric_name").to_owned());
            }
            _ => {}
        }
    }
    s
}

impl Spec {
    /// The workload that owns a pod: through its ReplicaSet to a Deployment, through its Job
    /// to a CronJob; a pod without an owner stands for itself.
    fn workload(&self, pod: &str) -> (String, String) {
        match self.pod_owner.get(pod) {
            Some((kind, name)) if kind == "ReplicaSet" => self
                .rs_owner
                .get(name)
                .cloned()
                .unwrap_or_else(|| (kind.clone(), name.clone())),
            Some((kind, name)) if kind == "Job" => self
                .job_owner
                .get(name)
                .cloned()
                .unwrap_or_else(|| (kind.clone(), name.clone())),
            Some(o) => o.clone(),
            None => ("Pod".into(), pod.to_owned()),
        }
    }

    fn hpa_of(&self, kind: &str, name: &str) -> Option<(String, BTreeSet<String>)> {
        self.hpa_target
            .iter()
            .find(|(_, (k, n))| k == kind && n == name)
            .map(|(hpa, _)| {
                (
                    hpa.clone(),
                    self.hpa_metrics.get(hpa).cloned().unwrap_or_default(),
                )
            })
    }
}

fn to_millis(cores: f64) -> i64 {
    (cores * 1000.0 - 1e-6).ceil() as i64
}

// ---------------------------------------------------------------------------------------
// Right-sizing

/// Everything a namespace's recommendations need from Prometheus, read in 2 queries
/// (`simple`) or 4 (`decaying`: the usage points themselves too).
pub struct Reading {
    usage: Usage,
    spec: Spec,
    cpu_points: Vec<Series>,
    memory_points: Vec<Series>,
}

pub async fn read(
    source: &Source,
    namespace: &str,
    strategy: Strategy,
    w: Window,
    at: f64,
) -> Result<Reading> {
    let usage_q = usage_query(source, namespace, w);
    let spec_q = spec_query(source, namespace, w);
    let (usage, spec) = tokio::join!(source.vector(&usage_q, at), source.vector(&spec_q, at));
    let (usage, spec) = (
        usage.map_err(Error::Unavailable)?,
        spec.map_err(Error::Unavailable)?,
    );
    let (mut cpu_points, mut memory_points) = (Vec::new(), Vec::new());
    if strategy == Strategy::Decaying {
        let (q, ..) = promql(source, namespace, w);
        let range = format!("[{}:{}]", dur(w.history), dur(w.step));
        let (cpu_q, memory_q) = (
            format!("{}{range}", q.cpu_rate),
            format!("{}{range}", q.memory),
        );
        let (c, m) = tokio::join!(source.matrix(&cpu_q, at), source.matrix(&memory_q, at));
        cpu_points = c.map_err(Error::Unavailable)?;
        memory_points = m.map_err(Error::Unavailable)?;
    }
    Ok(Reading {
        usage: read_usage(usage),
        spec: read_spec(spec),
        cpu_points,
        memory_points,
    })
}

pub struct Recommended {
    pub containers: Vec<ContainerRecommendation>,
    pub totals: SizingTotals,
    pub peak_cpu_cores: Option<f64>,
    pub peak_memory_bytes: Option<f64>,
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

type CpuAndMemory<'a> = (Option<&'a Series>, Option<&'a Series>);

/// Turns a reading into per-container recommendations.
pub fn recommend(
    r: &Reading,
    strategy: Strategy,
    allow_hpa: bool,
    w: Window,
    at: f64,
) -> Recommended {
    // (kind, workload, container) → pods
    let mut groups: BTreeMap<(String, String, String), Vec<&str>> = BTreeMap::new();
    for (pod, container) in r.usage.pods.keys() {
        let (kind, name) = r.spec.workload(pod);
        groups
            .entry((kind, name, container.clone()))
            .or_default()
            .push(pod);
    }
    let newest = r
        .usage
        .pods
        .values()
        .filter_map(|p| p.last_seen)
        .fold(f64::MIN, f64::max);
    // Seen at the last presence step: running at the end of the history (to the hour).
    let live_after = newest - w.presence_step().as_secs_f64() + 1.0;
    // (pod, container) → its CPU and memory points (decaying strategy only).
    let mut points: BTreeMap<(&str, &str), CpuAndMemory> = BTreeMap::new();
    for s in &r.cpu_points {
        points
            .entry((label(&s.labels, "pod"), label(&s.labels, "container")))
            .or_default()
            .0 = Some(s);
    }
    for s in &r.memory_points {
        points
            .entry((label(&s.labels, "pod"), label(&s.labels, "container")))
            .or_default()
            .1 = Some(s);
    }

    let mut containers = Vec::new();
    let mut totals = SizingTotals::default();
    for ((kind, workload, container), pods) in groups {
        let stats: Vec<(&str, &PodStats)> = pods
            .iter()
            .map(|p| (*p, &r.usage.pods[&((*p).to_owned(), container.clone())]))
            .collect();
        let live: Vec<&str> = stats
            .iter()
            .filter(|(_, s)| s.last_seen.is_some_and(|t| t >= live_after))
            .map(|(p, _)| *p)
            .collect();
        let pick = |map: &BTreeMap<(String, String, String), f64>, resource: &str| {
            let from = |ps: &[&str]| {
                ps.iter()
                    .filter_map(|p| {
                        map.get(&((*p).to_owned(), container.clone(), resource.to_owned()))
                            .copied()
                    })
                    .fold(None, |acc: Option<f64>, v| {
                        Some(acc.map_or(v, |a| a.max(v)))
                    })
            };
            from(&live).or_else(|| from(&pods))
        };
        let current = ContainerResources {
            cpu_request_millis: pick(&r.spec.requests, "cpu").map(to_millis),
            cpu_limit_millis: pick(&r.spec.limits, "cpu").map(to_millis),
            memory_request_bytes: pick(&r.spec.requests, "memory").map(|b| b as i64),
            memory_limit_bytes: pick(&r.spec.limits, "memory").map(|b| b as i64),
        };
        let hpa = r.spec.hpa_of(&kind, &workload);
        let hpa_cpu = hpa.as_ref().is_some_and(|(_, m)| m.contains("cpu"));
        let hpa_memory = hpa.as_ref().is_some_and(|(_, m)| m.contains("memory"));
        let mut usage = UsageSummary::default();
        for (_, s) in &stats {
            usage.cpu_p50 = max_opt(usage.cpu_p50, s.cpu_p50.map(|c| c * 1000.0));
            usage.cpu_p95 = max_opt(usage.cpu_p95, s.cpu_p95.map(|c| c * 1000.0));
            usage.cpu_p99 = max_opt(usage.cpu_p99, s.cpu_p99.map(|c| c * 1000.0));
            usage.cpu_max = max_opt(usage.cpu_max, s.cpu_max.map(|c| c * 1000.0));
            usage.memory_p50 = max_opt(usage.memory_p50, s.mem_p50);
            usage.memory_max = max_opt(usage.memory_max, s.mem_max);
            usage.cpu_points += s.cpu_n;
            usage.memory_points += s.mem_n;
        }

        let mut rec = ContainerResources::default();
        let (mut cpu_bounds, mut memory_bounds) = (None, None);
        let (cpu_info, memory_info);
        match strategy {
            Strategy::Simple => {
                let per_pod: Vec<PodUsage> = stats
                    .iter()
                    .map(|(p, s)| PodUsage {
                        pod: (*p).to_owned(),
                        cpu_p95: s.cpu_p95,
                        cpu_points: s.cpu_n,
                        memory_max: s.mem_max,
                        memory_points: s.mem_n,
                    })
                    .collect();
                let cpu = rightsizing::simple_cpu(&per_pod, hpa_cpu, allow_hpa);
                let memory = rightsizing::simple_memory(&per_pod, hpa_memory, allow_hpa);
                rec.cpu_request_millis = cpu.value();
                rec.memory_request_bytes = memory.value();
                rec.memory_limit_bytes = memory.value();
                cpu_info = cpu.info();
                memory_info = memory.info();
            }
            Strategy::Decaying => {
                let mut cpu_h = DecayingHistogram::cpu(at);
                let mut mem_h = DecayingHistogram::memory(at);
                let weight = current
                    .cpu_request_millis
                    .map_or(0.0, |m| m as f64 / 1000.0)
                    .max(0.1);
                let (mut first, mut last, mut n) = (f64::MAX, f64::MIN, 0u64);
                for pod in &pods {
                    let (cpu, memory) = points
                        .get(&(*pod, container.as_str()))
                        .copied()
                        .unwrap_or_default();
                    for &(t, v) in cpu.map(|s| s.points.as_slice()).unwrap_or_default() {
                        if v.is_finite() {
                            cpu_h.add(v, weight, t);
                            first = first.min(t);
                            last = last.max(t);
                            n += 1;
                        }
                    }
                    if let Some(m) = memory {
                        add_memory_peaks(&mut mem_h, &m.points);
                    }
                }
                let confidence = rightsizing::confidence(first, last, n);
                let cpu = if hpa_cpu && !allow_hpa {
                    Proposal::Undefined("HPA detected")
                } else {
                    match rightsizing::estimate(&cpu_h, confidence) {
                        Some(e) => {
                            cpu_bounds = Some((to_millis(e.lower), to_millis(e.upper.min(1e6))));
                            Proposal::Value(
                                to_millis(e.target).max(rightsizing::VPA_CPU_FLOOR_MILLIS),
                            )
                        }
                        None => Proposal::Undefined("No data"),
                    }
                };
                let memory = if hpa_memory && !allow_hpa {
                    Proposal::Undefined("HPA detected")
                } else {
                    match rightsizing::estimate(&mem_h, confidence) {
                        Some(e) => {
                            memory_bounds =
                                Some((e.lower.ceil() as i64, e.upper.min(1e15).ceil() as i64));
                            Proposal::Value(
                                (e.target.ceil() as i64).max(rightsizing::VPA_MEMORY_FLOOR_BYTES),
                            )
                        }
                        None => Proposal::Undefined("No data"),
                    }
                };
                rec.cpu_request_millis = cpu.value();
                rec.memory_request_bytes = memory.value();
                cpu_info = cpu.info();
                memory_info = memory.info();
            }
        }
        let replicas = live.len() as u32;
        let cur_cpu = current.cpu_request_millis.unwrap_or(0) as f64 / 1000.0;
        let cur_mem = current.memory_request_bytes.unwrap_or(0) as f64 / GIB;
        totals.current_cpu_cores += replicas as f64 * cur_cpu;
        totals.current_memory_gib += replicas as f64 * cur_mem;
        totals.recommended_cpu_cores += replicas as f64
            * rec
                .cpu_request_millis
                .map_or(cur_cpu, |m| m as f64 / 1000.0);
        totals.recommended_memory_gib +=
            replicas as f64 * rec.memory_request_bytes.map_or(cur_mem, |b| b as f64 / GIB);
        containers.push(ContainerRecommendation {
            workload_kind: kind,
            workload,
            container,
            pods_seen: pods.len() as u32,
            replicas,
            cpu_delta_millis: rec
                .cpu_request_millis
                .map(|r| r - current.cpu_request_millis.unwrap_or(0)),
            memory_delta_bytes: rec
                .memory_request_bytes
                .map(|r| r - current.memory_request_bytes.unwrap_or(0)),
            current,
            recommended: rec,
            cpu_bounds_millis: cpu_bounds,
            memory_bounds_bytes: memory_bounds,
            cpu_info,
            memory_info,
            hpa: hpa.map(|(name, metrics)| {
                format!(
                    "{name} ({})",
                    metrics.into_iter().collect::<Vec<_>>().join(", ")
                )
            }),
            usage,
        });
    }
    Recommended {
        containers,
        totals,
        peak_cpu_cores: r.usage.peak_cpu,
        peak_memory_bytes: r.usage.peak_memory,
    }
}

/// The VPA feeds memory as the peak of each 24-hour interval, not every sample.
fn add_memory_peaks(h: &mut DecayingHistogram, points: &[(f64, f64)]) {
    let Some(start) = points.first().map(|p| p.0) else {
        return;
    };
    let mut peaks: BTreeMap<i64, f64> = BTreeMap::new();
    for &(t, v) in points.iter().filter(|p| p.1.is_finite()) {
        let window = ((t - start) / rightsizing::HALF_LIFE_SECONDS).floor() as i64;
        let e = peaks.entry(window).or_insert(v);
        *e = e.max(v);
    }
    for (window, peak) in peaks {
        h.add(
            peak,
            1.0,
            start + window as f64 * rightsizing::HALF_LIFE_SECONDS,
        );
    }
}

fn now_secs() -> f64 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// Recommendations for one namespace (its team's members and admins).
pub async fn recommendations(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    query: RecommendationQuery,
) -> Result<NamespaceRecommendations> {
    let s = subject(&mut *app.db.acquire().await?, ctx, cluster, name).await?;
    let strategy = query.strategy.unwrap_or_default();
    let w = Window::of(app);
    let source = source(app, &s.cluster, s.prometheus_url.as_deref())?;
    let at = now_secs();
    let reading = read(&source, name, strategy, w, at).await?;
    let r = recommend(&reading, strategy, query.allow_hpa.unwrap_or(false), w, at);
    Ok(NamespaceRecommendations {
        cluster: s.cluster,
        namespace: name.to_owned(),
        team: s.team,
        strategy,
        history_hours: w.history.as_secs() / 3600,
        step_seconds: w.step.as_secs(),
        generated_at: OffsetDateTime::now_utc(),
        queries: source.queries(),
        containers: r.containers,
        totals: r.totals,
        peak_cpu_cores: r.peak_cpu_cores,
        peak_memory_bytes: r.peak_memory_bytes,
    })
}

/// Totals for every namespace of a team, four namespaces at a time; a namespace whose
/// Prometheus fails says why and the others still answer.
pub async fn team_sizing(
    app: &App,
    ctx: &Ctx,
    team: &str,
    query: RecommendationQuery,
) -> Result<TeamSizing> {
    let actor = ctx.require(Scope::Read)?;
    if !crate::tenancy::access::may_see_team(actor, team) {
        return Err(Error::NotFound("team"));
    }
    let rows = sqlx::query!(
        r#"SELECT c.name AS cluster, n.name FROM namespaces n JOIN teams t ON t.id = n.team_id
           JOIN clusters c ON c.id = n.cluster_id
           WHERE t.name = $1 AND n.state NOT IN ('decommissioned', 'decommissioning') ORDER BY c.name, n.name"#,
        team
    )
    .fetch_all(&app.db)
    .await?;
    let namespaces: Vec<NamespaceSizing> = futures::stream::iter(rows)
        .map(|row| {
            let query = query.clone();
            async move {
                match recommendations(app, ctx, &row.cluster, &row.name, query).await {
                    Ok(r) => NamespaceSizing {
                        cluster: row.cluster,
                        namespace: row.name,
                        containers: r.containers.len() as u32,
                        totals: r.totals,
                        error: None,
                    },
                    Err(e) => NamespaceSizing {
                        cluster: row.cluster,
                        namespace: row.name,
                        containers: 0,
                        totals: SizingTotals::default(),
                        error: Some(e.detail().message),
                    },
                }
            }
        })
        .buffered(4)
        .collect()
        .await;
    let mut totals = SizingTotals::default();
    for n in &namespaces {
        totals.current_cpu_cores += n.totals.current_cpu_cores;
        totals.recommended_cpu_cores += n.totals.recommended_cpu_cores;
        totals.current_memory_gib += n.totals.current_memory_gib;
        totals.recommended_memory_gib += n.totals.recommended_memory_gib;
    }
    Ok(TeamSizing {
        team: team.to_owned(),
        strategy: query.strategy.unwrap_or_default(),
        namespaces,
        totals,
    })
}

// ---------------------------------------------------------------------------------------
// Quota suggestions

/// Room for a rolling update's surge (25%, Kubernetes' default maxSurge) over the need.
pub const QUOTA_HEADROOM: f64 = 1.25;
const CPU_STEP_MILLIS: i64 = 100;
const MEMORY_STEP_BYTES: i64 = 256 * 1024 * 1024;

fn round_up(v: f64, step: i64) -> i64 {
    (((v / step as f64) - 1e-9).ceil() as i64).max(1) * step
}

fn cpu_text(millis: i64) -> String {
    if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

fn memory_text(bytes: i64) -> String {
    let mi = bytes / (1024 * 1024);
    if mi % 1024 == 0 {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

/// The quota a namespace needs: the larger of its recommended requests (all replicas) and its
/// observed peak usage, plus 25% for rollouts; limits keep the current limits ÷ requests ratio.
pub async fn quota_suggestion(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
) -> Result<QuotaSuggestion> {
    let rec = recommendations(app, ctx, cluster, name, RecommendationQuery::default()).await?;
    let s = subject(&mut *app.db.acquire().await?, ctx, cluster, name).await?;
    Ok(suggest(&s.quota, s.used, &rec))
}

pub fn suggest(
    current: &QuotaSpec,
    used: Option<Amounts>,
    rec: &NamespaceRecommendations,
) -> QuotaSuggestion {
    let mut reasoning = Vec::new();
    let rec_cpu = rec.totals.recommended_cpu_cores;
    let rec_mem = rec.totals.recommended_memory_gib * GIB;
    let peak_cpu = rec.peak_cpu_cores.unwrap_or(0.0);
    let peak_mem = rec.peak_memory_bytes.unwrap_or(0.0);
    reasoning.push(format!(
        "Recommended requests over all running replicas ({} strategy, {} h): {:.2} cores, {:.2} GiB.",
        rec.strategy.as_str(),
        rec.history_hours,
        rec_cpu,
        rec_mem / GIB
    ));
    reasoning.push(format!(
        "Peak usage of the whole namespace: {:.2} cores, {:.2} GiB.",
        peak_cpu,
        peak_mem / GIB
    ));
    let need_cpu = rec_cpu.max(peak_cpu) * 1000.0;
    let need_mem = rec_mem.max(peak_mem);
    let requests_cpu = round_up(need_cpu * QUOTA_HEADROOM, CPU_STEP_MILLIS);
    let requests_memory = round_up(need_mem * QUOTA_HEADROOM, MEMORY_STEP_BYTES);
    reasoning.push(format!(
        "requests = the larger of the two × {QUOTA_HEADROOM} for a rolling update's surge, rounded up to 100m and 256Mi: {} and {}.",
        cpu_text(requests_cpu),
        memory_text(requests_memory)
    ));
    let ratio = |limit: Option<i64>, request: Option<i64>| match (limit, request) {
        (Some(l), Some(r)) if r > 0 => (l as f64 / r as f64).max(1.0),
        _ => 1.0,
    };
    let cpu_ratio = ratio(
        cpu_millis(&current.limits_cpu),
        cpu_millis(&current.requests_cpu),
    );
    let mem_ratio = ratio(
        amount(&current.limits_memory),
        amount(&current.requests_memory),
    );
    let limits_cpu = round_up(requests_cpu as f64 * cpu_ratio, CPU_STEP_MILLIS);
    let limits_memory = round_up(requests_memory as f64 * mem_ratio, MEMORY_STEP_BYTES);
    reasoning.push(format!(
        "limits keep today's limits ÷ requests ({cpu_ratio:.2} for CPU, {mem_ratio:.2} for memory): {} and {}.",
        cpu_text(limits_cpu),
        memory_text(limits_memory)
    ));
    if let Some(u) = used {
        if u.cpu_millis > requests_cpu || u.memory_bytes > requests_memory {
            reasoning.push(
                "The pods running now request more than this: right-size the workloads first, or new pods will be refused."
                    .into(),
            );
        }
    }
    QuotaSuggestion {
        cluster: rec.cluster.clone(),
        namespace: rec.namespace.clone(),
        current: current.clone(),
        suggested: QuotaSpec {
            requests_cpu: cpu_text(requests_cpu),
            requests_memory: memory_text(requests_memory),
            limits_cpu: cpu_text(limits_cpu),
            limits_memory: memory_text(limits_memory),
            ..current.clone()
        },
        used,
        peak_cpu_cores: rec.peak_cpu_cores,
        peak_memory_bytes: rec.peak_memory_bytes,
        recommended_cpu_cores: rec_cpu,
        recommended_memory_gib: rec_mem / GIB,
        reasoning,
        strategy: rec.strategy,
        history_hours: rec.history_hours,
        generated_at: rec.generated_at,
    }
}

/// Files a quota change with the given CPU and memory (prefilled from the suggestion) and
/// attaches the suggestion Berth computes now as the approver's evidence.
pub async fn request_right_size(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    input: RightSizeInput,
) -> Result<RequestDetail> {
    ctx.require(Scope::Request)?;
    let evidence = quota_suggestion(app, ctx, cluster, name).await?;
    let change = QuotaChange {
        quota: Some(QuotaSpec {
            requests_cpu: input.requests_cpu,
            requests_memory: input.requests_memory,
            limits_cpu: input.limits_cpu,
            limits_memory: input.limits_memory,
            ..evidence.current.clone()
        }),
        purpose: input.purpose,
        ..Default::default()
    };
    crate::tenancy::requests::quota_change_with_evidence(
        app,
        ctx,
        cluster,
        name,
        change,
        Some(evidence),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Planning, headroom and placement

pub fn plan(
    ctx: &Ctx,
    input: &berth_frontend::api::PlanInput,
) -> Result<berth_frontend::api::PlanOutput> {
    ctx.require(Scope::Read)?;
    planner::plan(input)
}

fn parse_shape(q: &ShapeQuery) -> Result<Shape> {
    let mut errors = FieldErrors::new();
    let cpu = q.cpu.as_deref().unwrap_or("500m").trim();
    let memory = q.memory.as_deref().unwrap_or("1Gi").trim();
    let cpu = match cpu_millis(cpu) {
        Some(v) if v > 0 => v,
        _ => {
            errors.insert(
                "cpu".into(),
                "must be a CPU quantity above 0, such as 500m or 2".into(),
            );
            0
        }
    };
    let memory = match amount(memory) {
        Some(v) if v > 0 => v,
        _ => {
            errors.insert(
                "memory".into(),
                "must be a memory quantity above 0, such as 512Mi or 4Gi".into(),
            );
            0
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Shape {
        cpu_millis: cpu,
        memory_bytes: memory,
    })
}

struct NodeRow {
    pool: String,
    cpu: i64,
    memory: i64,
    free: Free,
    schedulable: bool,
}

async fn nodes(
    conn: &mut PgConnection,
    cluster_id: Uuid,
) -> Result<(Vec<NodeRow>, Option<OffsetDateTime>)> {
    let rows = sqlx::query!(
        "SELECT pool, ready, unschedulable, cpu_millis, memory_bytes, pods, requested_cpu_millis,
                requested_memory_bytes, running_pods, observed_at
         FROM cluster_nodes WHERE cluster_id = $1 ORDER BY pool, name",
        cluster_id
    )
    .fetch_all(conn)
    .await?;
    let observed = rows.iter().map(|r| r.observed_at).max();
    Ok((
        rows.into_iter()
            .map(|r| NodeRow {
                pool: r.pool,
                cpu: r.cpu_millis,
                memory: r.memory_bytes,
                free: Free {
                    cpu_millis: r.cpu_millis - r.requested_cpu_millis,
                    memory_bytes: r.memory_bytes - r.requested_memory_bytes,
                    pods: r.pods - r.running_pods,
                },
                schedulable: r.ready && !r.unschedulable,
            })
            .collect(),
        observed,
    ))
}

/// Per pool: how many more pods of the shape fit now, and what is stranded.
pub async fn headroom(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    shape: ShapeQuery,
) -> Result<ClusterHeadroom> {
    ctx.require(Scope::Read)?;
    let shape = parse_shape(&shape)?;
    let mut conn = app.db.acquire().await?;
    let id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("cluster"))?;
    let (rows, observed_at) = nodes(&mut conn, id).await?;
    let mut pools: BTreeMap<String, Vec<NodeRow>> = BTreeMap::new();
    for r in rows {
        pools.entry(r.pool.clone()).or_default().push(r);
    }
    let pools = pools
        .into_iter()
        .map(|(pool, rows)| {
            let frees: Vec<Free> = rows
                .iter()
                .filter(|r| r.schedulable)
                .map(|r| r.free)
                .collect();
            let p = headroom::pack(&frees, shape);
            PoolHeadroom {
                pool,
                nodes: rows.len() as u32,
                allocatable: Amounts {
                    cpu_millis: rows.iter().map(|r| r.cpu).sum(),
                    memory_bytes: rows.iter().map(|r| r.memory).sum(),
                    storage_bytes: 0,
                },
                free: Amounts {
                    cpu_millis: p.free.cpu_millis,
                    memory_bytes: p.free.memory_bytes,
                    storage_bytes: 0,
                },
                fits: p.fits,
                stranded: Amounts {
                    cpu_millis: p.stranded.cpu_millis,
                    memory_bytes: p.stranded.memory_bytes,
                    storage_bytes: 0,
                },
                pods_per_node: p.per_node,
            }
        })
        .collect();
    Ok(ClusterHeadroom {
        cluster: cluster.to_owned(),
        shape_cpu_millis: shape.cpu_millis,
        shape_memory_bytes: shape.memory_bytes,
        observed_at,
        pools,
    })
}

/// Cluster × pool choices for a new namespace of `environment`, ranked by what stays
/// uncommitted after `quota` (the smaller of CPU and memory, as a share of allocatable), with
/// how many pods at the LimitRange's default request fit on the nodes now.
pub async fn placement_options(
    conn: &mut PgConnection,
    environment: Option<&str>,
    quota: Amounts,
    default_pod: Shape,
) -> Result<Vec<PlacementOption>> {
    let clusters = crate::fleet::load_all(&mut *conn).await?;
    let mut out = Vec::new();
    for c in clusters
        .iter()
        .filter(|c| !c.disabled && environment.is_none_or(|e| c.environment == e))
    {
        let (rows, _) = nodes(&mut *conn, c.id).await?;
        for p in &c.pools {
            let (alloc_cpu, alloc_mem) = (p.allocatable.cpu_millis, p.allocatable.memory_bytes);
            if alloc_cpu <= 0 || alloc_mem <= 0 {
                continue;
            }
            let cpu_left = alloc_cpu - p.committed.cpu_millis - quota.cpu_millis;
            let memory_left = alloc_mem - p.committed.memory_bytes - quota.memory_bytes;
            let share =
                (cpu_left as f64 / alloc_cpu as f64).min(memory_left as f64 / alloc_mem as f64);
            let frees: Vec<Free> = rows
                .iter()
                .filter(|r| r.pool == p.name && r.schedulable)
                .map(|r| r.free)
                .collect();
            let fits = cpu_left >= 0 && memory_left >= 0;
            let tainted = !p.taints.is_empty();
            out.push(PlacementOption {
                cluster: c.name.clone(),
                pool: p.name.clone(),
                environment: c.environment.clone(),
                headroom_after: share,
                cpu_left_millis: cpu_left,
                memory_left_bytes: memory_left,
                default_pods_fit: headroom::pack(&frees, default_pod).fits,
                fits,
                reason: if !fits {
                    Some("the quota would overcommit this pool".into())
                } else if tainted {
                    Some("tainted pool: only for workloads that tolerate its taints".into())
                } else {
                    None
                },
            });
        }
    }
    out.sort_by(|a, b| {
        (b.fits, b.reason.is_none())
            .cmp(&(a.fits, a.reason.is_none()))
            .then(b.headroom_after.total_cmp(&a.headroom_after))
    });
    out.truncate(8);
    Ok(out)
}
