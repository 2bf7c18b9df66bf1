//! Reading Prometheus's answers into per-pod usage and per-container specs (requests,
//! limits, owners, HPAs), tolerating NaN, gaps, counter resets and duplicate series.

use std::collections::{BTreeMap, BTreeSet};

use berth_frontend::api::Strategy;

use super::prom::{Labels, Sample, Series, Source};
use crate::error::{Error, Result};

use super::*;

#[derive(Debug, Default, Clone)]
pub(super) struct PodStats {
    pub(super) cpu_p50: Option<f64>,
    pub(super) cpu_p95: Option<f64>,
    pub(super) cpu_p99: Option<f64>,
    pub(super) cpu_max: Option<f64>,
    pub(super) cpu_n: u64,
    pub(super) mem_p50: Option<f64>,
    pub(super) mem_max: Option<f64>,
    pub(super) mem_n: u64,
    pub(super) last_seen: Option<f64>,
}

type Key = (String, String); // (pod, container)

pub(super) fn label<'a>(l: &'a Labels, k: &str) -> &'a str {
    l.get(k).map(String::as_str).unwrap_or("")
}

pub(super) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[derive(Default)]
pub(super) struct Usage {
    pub(super) pods: BTreeMap<Key, PodStats>,
    pub(super) peak_cpu: Option<f64>,
    pub(super) peak_memory: Option<f64>,
}

/// Whether a series of scrape job `job` replaces one of `current` for the same container
/// and statistic: KRR keeps the `kubelet` job's series, else the first job's by name.
fn preferred_job(job: &str, current: &str) -> bool {
    match (job == "kubelet", current == "kubelet") {
        (true, _) => true,
        (false, true) => false,
        (false, false) => job < current,
    }
}

pub(super) fn read_usage(samples: Vec<Sample>) -> Usage {
    let mut u = Usage::default();
    // (pod, container, statistic) → the job whose series was taken.
    let mut taken: BTreeMap<(String, String, String), String> = BTreeMap::new();
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
                let job = label(&s.labels, "job");
                let which = (key.0.clone(), key.1.clone(), stat.to_owned());
                match taken.get(&which) {
                    Some(current) if !preferred_job(job, current) => continue,
                    _ => {
                        taken.insert(which, job.to_owned());
                    }
                }
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
pub(super) struct Spec {
    pub(super) pod_owner: BTreeMap<String, (String, String)>,
    pub(super) rs_owner: BTreeMap<String, (String, String)>,
    pub(super) job_owner: BTreeMap<String, (String, String)>,
    /// (pod, container, resource) → value in cores or bytes.
    pub(super) requests: BTreeMap<(String, String, String), f64>,
    pub(super) limits: BTreeMap<(String, String, String), f64>,
    /// HPA name → (target kind, target name) and the metrics it scales on.
    pub(super) hpa_target: BTreeMap<String, (String, String)>,
    pub(super) hpa_metrics: BTreeMap<String, BTreeSet<String>>,
    /// (pod, container) → the memory limit it had when it was OOMKilled (read only when
    /// asked for).
    pub(super) oom_limits: BTreeMap<(String, String), f64>,
}

pub(super) fn owner(l: &Labels) -> Option<(String, String)> {
    let kind = label(l, "owner_kind");
    (!kind.is_empty() && kind != "<none>")
        .then(|| (kind.to_owned(), label(l, "owner_name").to_owned()))
}

pub(super) fn read_spec(samples: Vec<Sample>) -> Spec {
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
            "oom_limit" => {
                if let Some(v) = finite(x.value).filter(|v| *v > 0.0) {
                    s.oom_limits.insert(
                        (label(l, "pod").to_owned(), label(l, "container").to_owned()),
                        v,
                    );
                }
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
    pub(super) fn workload(&self, pod: &str) -> (String, String) {
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

    pub(super) fn hpa_of(&self, kind: &str, name: &str) -> Option<(String, BTreeSet<String>)> {
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

pub(super) fn to_millis(cores: f64) -> i64 {
    (cores * 1000.0 - 1e-6).ceil() as i64
}

// ---------------------------------------------------------------------------------------
// Right-sizing

/// Everything a namespace's recommendations need from Prometheus, read in 2 queries
/// (`simple`) or 4 (`decaying`: the usage points themselves too), and one more where a
/// container has several series of one scrape job.
pub struct Reading {
    pub(super) usage: Usage,
    pub(super) spec: Spec,
    pub(super) cpu_points: Vec<Series>,
    pub(super) memory_points: Vec<Series>,
}

/// With `oom`, the spec query also reads the memory limits of OOMKilled containers.
pub async fn read(
    source: &Source,
    namespace: &str,
    strategy: Strategy,
    w: Window,
    at: f64,
    oom: bool,
    stats: Stats,
) -> Result<Reading> {
    let usage_q = usage_query(source, namespace, w, stats, at);
    let spec_q = spec_query(source, namespace, w, oom && strategy == Strategy::Simple);
    let (usage, spec) = tokio::join!(source.vector(&usage_q, at), source.vector(&spec_q, at));
    let (mut usage, spec) = (
        usage.map_err(Error::Unavailable)?,
        spec.map_err(Error::Unavailable)?,
    );
    let merged = pods_with_several_series(&usage);
    if !merged.is_empty() {
        let q = merged_usage_query(source, namespace, &merged, w, stats);
        let answers = source.vector(&q, at).await.map_err(Error::Unavailable)?;
        usage.retain(|s| {
            !(per_container(label(&s.labels, "berth_stat"))
                && merged.contains(label(&s.labels, "pod")))
        });
        usage.extend(answers);
    }
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

/// The pods where a container has more than one series of one scrape job for some
/// per-container statistic: there, the statistic of each series is not the container's.
pub(super) fn pods_with_several_series(usage: &[Sample]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pods = BTreeSet::new();
    for s in usage {
        let stat = label(&s.labels, "berth_stat");
        if !per_container(stat) {
            continue;
        }
        let [pod, container, job] = ["pod", "container", "job"].map(|k| label(&s.labels, k));
        if !seen.insert((stat, pod, container, job)) {
            pods.insert(pod.to_owned());
        }
    }
    pods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(job: &str, stat: &str, value: f64) -> Sample {
        let labels: Labels = [
            ("pod", "api-1"),
            ("container", "api"),
            ("job", job),
            ("berth_stat", stat),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Sample { labels, value }
    }

    #[test]
    fn a_container_with_two_series_of_one_job_marks_its_pod_for_merging() {
        let mut restarted = sample("kubelet", "cpu_p95", 0.5);
        restarted.labels.insert("id".into(), "/kubepods/a".into());
        let mut again = sample("kubelet", "cpu_p95", 0.1);
        again.labels.insert("id".into(), "/kubepods/b".into());
        // Two jobs, or a statistic per namespace, are not two series of one container.
        let mut peak = sample("kubelet", "ns_cpu_peak", 1.0);
        peak.labels.insert("id".into(), "/kubepods/c".into());
        let one_each = vec![
            sample("kubelet", "cpu_p95", 0.5),
            sample("cadvisor", "cpu_p95", 0.5),
            sample("kubelet", "mem_max", 1e8),
            sample("kubelet", "last_seen", 1.0),
            sample("kubelet", "last_seen", 1.0),
            sample("kubelet", "ns_cpu_peak", 1.0),
            peak,
        ];
        assert!(pods_with_several_series(&one_each).is_empty());
        let mut two = one_each;
        two.extend([restarted, again]);
        assert_eq!(
            pods_with_several_series(&two),
            BTreeSet::from(["api-1".to_owned()])
        );
    }

    #[test]
    fn the_kubelets_series_win_else_the_first_job_by_name_as_in_krr() {
        // cAdvisor scraped twice: KRR takes the kubelet job's figures, not the higher ones.
        let u = read_usage(vec![
            sample("cadvisor", "cpu_p95", 0.9),
            sample("kubelet", "cpu_p95", 0.3),
            sample("zz-extra", "cpu_p95", 1.5),
            sample("b-job", "mem_max", 2e8),
            sample("a-job", "mem_max", 1e8),
        ]);
        let p = &u.pods[&("api-1".to_owned(), "api".to_owned())];
        assert_eq!(p.cpu_p95, Some(0.3));
        assert_eq!(p.mem_max, Some(1e8));
    }
}
