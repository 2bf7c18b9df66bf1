//! Right-sizing per container from the readings: KRR's `simple` strategy and the VPA-style
//! `decaying` one, per namespace and rolled up per team.

use std::collections::BTreeMap;

use berth_frontend::api::{
    ContainerRecommendation, ContainerResources, NamespaceRecommendations, NamespaceSizing,
    RecommendationQuery, Scope, SizingTotals, Strategy, TeamSizing, UsageSummary,
};
use futures::StreamExt;
use time::OffsetDateTime;

use super::{
    prom::Series,
    rightsizing::{DecayingHistogram, PodUsage, Proposal},
};
use crate::{
    auth::Ctx,
    error::{Error, Result},
    App,
};

use super::*;

pub struct Recommended {
    pub containers: Vec<ContainerRecommendation>,
    pub totals: SizingTotals,
    pub peak_cpu_cores: Option<f64>,
    pub peak_memory_bytes: Option<f64>,
}

pub(super) fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
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
                // The highest memory limit any of the workload's containers had when it was
                // OOMKilled (present only when the OOM option is on).
                let oom_limit = pods
                    .iter()
                    .filter_map(|p| r.spec.oom_limits.get(&((*p).to_owned(), container.clone())))
                    .copied()
                    .fold(None, |acc: Option<f64>, v| {
                        Some(acc.map_or(v, |a| a.max(v)))
                    });
                let memory =
                    rightsizing::simple_memory_with_oom(&per_pod, hpa_memory, allow_hpa, oom_limit);
                rec.cpu_request_millis = cpu.value();
                rec.memory_request_bytes = memory.value();
                rec.memory_limit_bytes = memory.value();
                cpu_info = cpu.info();
                memory_info = match (&memory, oom_limit) {
                    (Proposal::Value(_), Some(_)) => Some("OOMKill detected".to_owned()),
                    _ => memory.info(),
                };
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
pub(super) fn add_memory_peaks(h: &mut DecayingHistogram, points: &[(f64, f64)]) {
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

pub(super) fn now_secs() -> f64 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// Recommendations for one namespace (its team's members and admins), with every chart
/// statistic.
pub async fn recommendations(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    query: RecommendationQuery,
) -> Result<NamespaceRecommendations> {
    recommendations_with(app, ctx, cluster, name, query, Stats::Chart).await
}

/// Recommendations for one namespace, reading only the statistics `stats` names (the
/// others are left empty).
pub async fn recommendations_with(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    name: &str,
    query: RecommendationQuery,
    stats: Stats,
) -> Result<NamespaceRecommendations> {
    let s = subject(&mut *app.db.acquire().await?, ctx, cluster, name).await?;
    let strategy = query.strategy.unwrap_or_default();
    let w = Window::of(app);
    let source = source(app, &s.cluster, s.prometheus_url.as_deref())?;
    let at = now_secs();
    let reading = read(
        &source,
        name,
        strategy,
        w,
        at,
        query.use_oomkill.unwrap_or(false),
        stats,
    )
    .await?;
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
                match recommendations_with(
                    app,
                    ctx,
                    &row.cluster,
                    &row.name,
                    query,
                    Stats::Recommend,
                )
                .await
                {
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
