//! The PromQL Berth sends: per namespace, every usage statistic in one query, tagged and
//! joined with `or`, and every kube-state-metrics fact in another, each grouped
//! `by (namespace, pod, container)`.

use std::{collections::BTreeSet, time::Duration};

use super::prom::Source;

use super::*;

pub(super) fn dur(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Tags each part with `berth_stat` so one query answers many statistics.
pub(super) fn tagged(parts: &[(&str, String)]) -> String {
    parts
        .iter()
        .map(|(name, q)| format!(r#"label_replace({q}, "berth_stat", "{name}", "", "")"#))
        .collect::<Vec<_>>()
        .join(" or ")
}

pub(super) struct Promql {
    pub(super) cpu_rate: String,
    pub(super) memory: String,
}

pub(super) fn promql(source: &Source, namespace: &str, w: Window) -> (Promql, String, String) {
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

/// The per-container statistics `stats` names, over `cpu_rate`, `memory` and `cpu_raw`.
fn container_stats(
    stats: Stats,
    cpu_rate: &str,
    memory: &str,
    cpu_raw: &str,
    range: &str,
) -> Vec<(&'static str, String)> {
    let mut parts = vec![
        (
            "cpu_p95",
            format!("quantile_over_time(0.95, {cpu_rate}{range})"),
        ),
        ("cpu_n", format!("count_over_time({cpu_raw}{range})")),
        ("mem_max", format!("max_over_time({memory}{range})")),
        ("mem_n", format!("count_over_time({memory}{range})")),
    ];
    if stats == Stats::Chart {
        parts.extend([
            (
                "cpu_p50",
                format!("quantile_over_time(0.5, {cpu_rate}{range})"),
            ),
            (
                "cpu_p99",
                format!("quantile_over_time(0.99, {cpu_rate}{range})"),
            ),
            ("cpu_max", format!("max_over_time({cpu_rate}{range})")),
            (
                "mem_p50",
                format!("quantile_over_time(0.5, {memory}{range})"),
            ),
        ]);
    }
    parts
}

/// Whether a statistic of `usage_query` is one per container (as opposed to the namespace's
/// peaks and when each container was last seen).
pub(super) fn per_container(stat: &str) -> bool {
    !matches!(stat, "last_seen" | "ns_cpu_peak" | "ns_mem_peak")
}

/// One query for the usage statistics `stats` names of a namespace's containers.
///
/// The per-container statistics are evaluated on each raw series, not on KRR's
/// `max by (container, pod, job)` of them: where a container has one series per scrape job,
/// as it almost always does, the two are the same points and so the same answers, and
/// Prometheus spends most of such a subquery on the aggregation at every step (measured: 4–6×
/// the CPU of the raw subquery). The answers keep every label of their series, so the reader
/// sees a container that has several (a new cAdvisor series after a restart) and asks
/// `merged_usage_query` for its pods. They keep the scrape `job`, as KRR's queries do, so the
/// reader can prefer the kubelet's series as KRR does.
pub fn usage_query(source: &Source, namespace: &str, w: Window, stats: Stats, at: f64) -> String {
    let (q, _, sel) = promql(source, namespace, w);
    let range = format!("[{}:{}]", dur(w.history), dur(w.step));
    let by = "max by (namespace, pod, container)";
    let s = dur(w.step);
    let mut parts = container_stats(
        stats,
        &format!("rate(container_cpu_usage_seconds_total{{{sel}}}[{s}])"),
        &format!("container_memory_working_set_bytes{{{sel}}}"),
        &format!("container_cpu_usage_seconds_total{{{sel}}}"),
        &range,
    );
    // Which containers run at the end of the history, to the hour: their sample at the last
    // whole presence step before `at` (where a subquery at that step would end), one instant
    // read instead of a subquery over the history, which cost more than any statistic KRR
    // asks for.
    parts.push((
        "last_seen",
        format!(
            "{by} (timestamp(container_memory_working_set_bytes{{{sel}}} @ {}))",
            w.presence_end(at)
        ),
    ));
    if stats != Stats::Recommend {
        parts.push((
            "ns_cpu_peak",
            format!("max_over_time(sum by (namespace) ({}){range})", q.cpu_rate),
        ));
        parts.push((
            "ns_mem_peak",
            format!("max_over_time(sum by (namespace) ({}){range})", q.memory),
        ));
    }
    tagged(&parts)
}

/// The per-container statistics of `usage_query` for the containers of `pods` only, over KRR's
/// `max by (namespace, pod, container, job)` of their series at every step: for the pods
/// where some container had more than one series of a scrape job.
pub fn merged_usage_query(
    source: &Source,
    namespace: &str,
    pods: &BTreeSet<String>,
    w: Window,
    stats: Stats,
) -> String {
    let (_, _, sel) = promql(source, namespace, w);
    let pods = pods
        .iter()
        .map(|p| regex_syntax::escape(p))
        .collect::<Vec<_>>()
        .join("|");
    let sel = format!("{sel},pod=~{}", super::prom::quote(&pods));
    let range = format!("[{}:{}]", dur(w.history), dur(w.step));
    let by_job = "max by (namespace, pod, container, job)";
    let s = dur(w.step);
    tagged(&container_stats(
        stats,
        &format!("{by_job} (rate(container_cpu_usage_seconds_total{{{sel}}}[{s}]))"),
        &format!("{by_job} (container_memory_working_set_bytes{{{sel}}})"),
        &format!("{by_job} (container_cpu_usage_seconds_total{{{sel}}})"),
        &range,
    ))
}

/// One query for a namespace's summed CPU and memory use at p95 over the history: what a
/// usage-aware approval policy compares with the quota.
pub fn namespace_p95_query(source: &Source, namespace: &str, w: Window) -> String {
    let (q, ..) = promql(source, namespace, w);
    let range = format!("[{}:{}]", dur(w.history), dur(w.step));
    tagged(&[
        (
            "ns_cpu_p95",
            format!(
                "quantile_over_time(0.95, sum by (namespace) ({}){range})",
                q.cpu_rate
            ),
        ),
        (
            "ns_mem_p95",
            format!(
                "quantile_over_time(0.95, sum by (namespace) ({}){range})",
                q.memory
            ),
        ),
    ])
}

/// One query for what kube-state-metrics says: owners, requests, limits and HPAs, and with
/// `oom` the memory limit of every container whose last termination was an OOM kill, at
/// its highest over the history (KRR's MaxOOMKilledMemoryLoader).
pub fn spec_query(source: &Source, namespace: &str, w: Window, oom: bool) -> String {
    let ns = source.matchers(namespace);
    let h = dur(w.history);
    let mut parts = spec_parts(&ns, &h);
    if oom {
        let by = "max by (namespace, pod, container)";
        parts.push((
            "oom_limit",
            format!(
                r#"max_over_time(({by} (kube_pod_container_resource_limits{{{ns},resource="memory"}}) * on (namespace, pod, container) group_left() {by} (kube_pod_container_status_last_terminated_reason{{{ns},reason="OOMKilled"}}))[{h}:{step}])"#,
                step = dur(w.step)
            ),
        ));
    }
    tagged(&parts)
}

fn spec_parts(ns: &str, h: &str) -> Vec<(&'static str, String)> {
    vec![
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
    ]
}

// ---------------------------------------------------------------------------------------
// Reading the answers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_asks_only_for_the_statistics_its_caller_uses() {
        let source =
            Source::new("http://127.0.0.1:9090", Duration::from_secs(5), None, None).unwrap();
        let w = Window {
            history: Duration::from_secs(7 * 86_400),
            step: Duration::from_secs(300),
        };
        let stats = |s: Stats| -> (Vec<String>, usize) {
            let q = usage_query(&source, "payments-api", w, s, 1_700_000_000.0);
            let tags = q
                .split(r#""berth_stat", ""#)
                .skip(1)
                .map(|t| t.split('"').next().unwrap().to_owned())
                .collect();
            // Each rate subquery is evaluated on its own: the costly part of a reading.
            (
                tags,
                q.matches("rate(container_cpu_usage_seconds_total").count(),
            )
        };
        let (lean, lean_rates) = stats(Stats::Recommend);
        assert_eq!(lean, ["cpu_p95", "cpu_n", "mem_max", "mem_n", "last_seen"]);
        assert_eq!(lean_rates, 1);
        let (peaks, peak_rates) = stats(Stats::Peaks);
        assert_eq!(&peaks[5..], ["ns_cpu_peak", "ns_mem_peak"]);
        assert_eq!(peak_rates, 2);
        let (chart, chart_rates) = stats(Stats::Chart);
        assert_eq!(chart.len(), 11);
        assert_eq!(chart_rates, 5);
        // Presence is one instant read at the last whole hour, not a subquery.
        let q = usage_query(
            &source,
            "payments-api",
            w,
            Stats::Recommend,
            1_700_001_234.5,
        );
        assert!(q.contains("container_memory_working_set_bytes{namespace=\"payments-api\",container!=\"\",container!=\"POD\"} @ 1699999200)"), "{q}");
        // Each series on its own: no aggregation at every step of a subquery.
        assert!(
            !q.contains("max by (namespace, pod, container, job)"),
            "{q}"
        );
    }

    #[test]
    fn the_merged_reading_names_its_pods_exactly() {
        let source =
            Source::new("http://127.0.0.1:9090", Duration::from_secs(5), None, None).unwrap();
        let w = Window {
            history: Duration::from_secs(86_400),
            step: Duration::from_secs(60),
        };
        let pods = BTreeSet::from(["db-0".to_owned(), "web.v2-1".to_owned()]);
        let q = merged_usage_query(&source, "shop", &pods, w, Stats::Recommend);
        assert!(q.contains(r#"pod=~"db\\-0|web\\.v2\\-1""#), "{q}");
        assert_eq!(
            q.matches("max by (namespace, pod, container, job)").count(),
            4
        );
        assert!(!q.contains("last_seen"));
    }
}
