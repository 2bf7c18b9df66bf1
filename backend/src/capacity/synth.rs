//! Usage series for a real Prometheus: written as OpenMetrics under cAdvisor's and
//! kube-state-metrics' names, turned into TSDB blocks by `promtool tsdb
//! create-blocks-from openmetrics`, and served by Debian's `prometheus` on a loopback port.
//! The tests, the capacity benchmark and the demo use it; nothing here runs in `berth serve`.

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

/// A value over time: CPU cores used in the scrape interval ending at `t`, or bytes.
pub type Curve = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

pub fn constant(v: f64) -> Curve {
    Arc::new(move |_| v)
}

/// One container of one pod, scraped every interval from `start` to `end` (inclusive).
#[derive(Clone)]
pub struct PodSeries {
    pub pod: String,
    pub container: String,
    pub start: f64,
    pub end: f64,
    pub cpu: Curve,
    pub memory: Curve,
    /// The container restarts at the first scrape at or after this time: its CPU counter
    /// starts again from zero.
    pub restart_at: Option<f64>,
    /// The restart starts new series, as cAdvisor's do after a real restart (their `id` is
    /// the new container's); without it the same series' counter starts again.
    pub new_series_on_restart: bool,
    /// Intervals with no samples at all (the scrape failed).
    pub gaps: Vec<(f64, f64)>,
    pub request_cpu: f64,
    pub request_memory: f64,
    pub limit_cpu: Option<f64>,
    pub limit_memory: Option<f64>,
    /// kube-state-metrics reports the container's last termination as OOMKilled from this
    /// time on.
    pub oom_killed_at: Option<f64>,
}

impl PodSeries {
    pub fn new(
        pod: &str,
        container: &str,
        start: f64,
        end: f64,
        cpu: Curve,
        memory: Curve,
    ) -> Self {
        PodSeries {
            pod: pod.into(),
            container: container.into(),
            start,
            end,
            cpu,
            memory,
            restart_at: None,
            new_series_on_restart: false,
            gaps: vec![],
            request_cpu: 0.5,
            request_memory: 512.0 * 1024.0 * 1024.0,
            limit_cpu: None,
            limit_memory: Some(1024.0 * 1024.0 * 1024.0),
            oom_killed_at: None,
        }
    }

    fn scraped(&self, t: f64) -> bool {
        !self.gaps.iter().any(|(a, b)| *a <= t && t <= *b)
    }

    /// The cAdvisor series' `id` at `t` where a restart starts new series.
    fn series_id(&self, t: f64) -> Option<String> {
        let restarted = self.restart_at.is_some_and(|r| t >= r);
        self.new_series_on_restart.then(|| {
            format!(
                "/kubepods/{}/{}-{}",
                self.pod, self.container, restarted as u8
            )
        })
    }
}

/// Deployment (through a ReplicaSet), StatefulSet, DaemonSet, CronJob (through a Job), Job,
/// or Pod (no owner).
#[derive(Clone)]
pub struct Workload {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    /// Metric names an HPA on this workload scales on (`cpu`, `memory`).
    pub hpa_metrics: Vec<String>,
    pub pods: Vec<PodSeries>,
}

struct Out<'a, W: Write> {
    w: &'a mut W,
    base: String,
    samples: u64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

impl<W: Write> Out<'_, W> {
    fn family(&mut self, name: &str, kind: &str) -> io::Result<()> {
        writeln!(self.w, "# TYPE {name} {kind}")
    }

    fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        t: f64,
    ) -> io::Result<()> {
        write!(self.w, "{name}{{{}", self.base)?;
        for (k, v) in labels {
            write!(self.w, ",{k}=\"{}\"", escape(v))?;
        }
        let value = if value.is_nan() {
            "NaN".to_owned()
        } else {
            format!("{value}")
        };
        writeln!(self.w, "}} {value} {t}")?;
        self.samples += 1;
        Ok(())
    }
}

/// Times from `start` to `end` every `step`, always including `end`.
fn times(start: f64, end: f64, step: f64) -> impl Iterator<Item = f64> {
    let n = ((end - start) / step).floor() as u64;
    (0..=n)
        .map(move |i| start + i as f64 * step)
        .chain(((start + n as f64 * step) < end).then_some(end))
}

/// The ReplicaSet a Deployment's pods belong to; the Job a CronJob's pods belong to.
fn intermediate(w: &Workload) -> Option<(&'static str, String)> {
    match w.kind.as_str() {
        "Deployment" => Some(("ReplicaSet", format!("{}-7d4b9c", w.name))),
        "CronJob" => Some(("Job", format!("{}-29000000", w.name))),
        _ => None,
    }
}

/// Writes every series of `workloads`; kube-state-metrics series every `ksm_step`. Answers
/// the number of samples written.
pub fn write_openmetrics<W: Write>(
    w: &mut W,
    cluster: Option<(&str, &str)>,
    workloads: &[Workload],
    scrape: f64,
    ksm_step: f64,
) -> io::Result<u64> {
    let mut out = Out {
        w,
        base: String::new(),
        samples: 0,
    };
    let base = |ns: &str| {
        let mut b = format!("namespace=\"{}\"", escape(ns));
        if let Some((k, v)) = cluster {
            b.push_str(&format!(",{k}=\"{}\"", escape(v)));
        }
        b
    };

    out.family("container_cpu_usage_seconds", "counter")?;
    for wl in workloads {
        out.base = base(&wl.namespace);
        for p in &wl.pods {
            let mut counter = 0.0;
            let mut restarted = false;
            for t in times(p.start, p.end, scrape) {
                if t > p.start {
                    let used = (p.cpu)(t) * scrape;
                    if p.restart_at.is_some_and(|r| t >= r) && !restarted {
                        restarted = true;
                        counter = used;
                    } else {
                        counter += used;
                    }
                }
                if p.scraped(t) {
                    let id = p.series_id(t);
                    let mut labels =
                        vec![("pod", p.pod.as_str()), ("container", p.container.as_str())];
                    labels.extend(id.as_deref().map(|id| ("id", id)));
                    out.sample("container_cpu_usage_seconds_total", &labels, counter, t)?;
                }
            }
        }
    }
    out.family("container_memory_working_set_bytes", "gauge")?;
    for wl in workloads {
        out.base = base(&wl.namespace);
        for p in &wl.pods {
            for t in times(p.start, p.end, scrape).filter(|t| p.scraped(*t)) {
                let id = p.series_id(t);
                let mut labels = vec![("pod", p.pod.as_str()), ("container", p.container.as_str())];
                labels.extend(id.as_deref().map(|id| ("id", id)));
                out.sample(
                    "container_memory_working_set_bytes",
                    &labels,
                    (p.memory)(t),
                    t,
                )?;
            }
        }
    }

    out.family("kube_pod_owner", "gauge")?;
    for wl in workloads {
        out.base = base(&wl.namespace);
        let (kind, name) = match intermediate(wl) {
            Some((k, n)) => (k.to_owned(), n),
            None if wl.kind == "Pod" => ("<none>".to_owned(), "<none>".to_owned()),
            None => (wl.kind.clone(), wl.name.clone()),
        };
        let mut seen = std::collections::BTreeSet::new();
        for p in wl.pods.iter().filter(|p| seen.insert(p.pod.clone())) {
            for t in times(p.start, p.end, ksm_step) {
                let labels = [
                    ("pod", p.pod.as_str()),
                    ("owner_kind", kind.as_str()),
                    ("owner_name", name.as_str()),
                    ("owner_is_controller", "true"),
                ];
                out.sample("kube_pod_owner", &labels, 1.0, t)?;
            }
        }
    }
    let span = |wl: &Workload| {
        let start = wl.pods.iter().map(|p| p.start).fold(f64::MAX, f64::min);
        let end = wl.pods.iter().map(|p| p.end).fold(f64::MIN, f64::max);
        (start, end)
    };
    for (family, owner_label, kind) in [
        ("kube_replicaset_owner", "replicaset", "ReplicaSet"),
        ("kube_job_owner", "job_name", "Job"),
    ] {
        out.family(family, "gauge")?;
        for wl in workloads {
            out.base = base(&wl.namespace);
            if let Some((_, n)) = intermediate(wl).filter(|(k, _)| *k == kind) {
                let (start, end) = span(wl);
                for t in times(start, end, ksm_step) {
                    let labels = [
                        (owner_label, n.as_str()),
                        ("owner_kind", wl.kind.as_str()),
                        ("owner_name", wl.name.as_str()),
                        ("owner_is_controller", "true"),
                    ];
                    out.sample(family, &labels, 1.0, t)?;
                }
            }
        }
    }
    for (family, limits) in [
        ("kube_pod_container_resource_requests", false),
        ("kube_pod_container_resource_limits", true),
    ] {
        out.family(family, "gauge")?;
        for wl in workloads {
            out.base = base(&wl.namespace);
            for p in &wl.pods {
                let values = if limits {
                    [
                        ("cpu", "core", p.limit_cpu),
                        ("memory", "byte", p.limit_memory),
                    ]
                } else {
                    [
                        ("cpu", "core", Some(p.request_cpu)),
                        ("memory", "byte", Some(p.request_memory)),
                    ]
                };
                for (resource, unit, v) in values {
                    let Some(v) = v else { continue };
                    for t in times(p.start, p.end, ksm_step) {
                        let labels = [
                            ("pod", p.pod.as_str()),
                            ("container", p.container.as_str()),
                            ("resource", resource),
                            ("unit", unit),
                        ];
                        out.sample(family, &labels, v, t)?;
                    }
                }
            }
        }
    }
    out.family("kube_pod_container_status_last_terminated_reason", "gauge")?;
    for wl in workloads {
        out.base = base(&wl.namespace);
        for p in &wl.pods {
            let Some(at) = p.oom_killed_at else { continue };
            for t in times(at.max(p.start), p.end, ksm_step) {
                let labels = [
                    ("pod", p.pod.as_str()),
                    ("container", p.container.as_str()),
                    ("reason", "OOMKilled"),
                ];
                out.sample(
                    "kube_pod_container_status_last_terminated_reason",
                    &labels,
                    1.0,
                    t,
                )?;
            }
        }
    }
    out.family("kube_horizontalpodautoscaler_info", "gauge")?;
    for wl in workloads.iter().filter(|w| !w.hpa_metrics.is_empty()) {
        out.base = base(&wl.namespace);
        let (start, end) = span(wl);
        for t in times(start, end, ksm_step) {
            let labels = [
                ("horizontalpodautoscaler", wl.name.as_str()),
                ("scaletargetref_kind", wl.kind.as_str()),
                ("scaletargetref_name", wl.name.as_str()),
            ];
            out.sample("kube_horizontalpodautoscaler_info", &labels, 1.0, t)?;
        }
    }
    out.family("kube_horizontalpodautoscaler_spec_target_metric", "gauge")?;
    for wl in workloads.iter().filter(|w| !w.hpa_metrics.is_empty()) {
        out.base = base(&wl.namespace);
        let (start, end) = span(wl);
        for metric in &wl.hpa_metrics {
            for t in times(start, end, ksm_step) {
                let labels = [
                    ("horizontalpodautoscaler", wl.name.as_str()),
                    ("metric_name", metric.as_str()),
                    ("metric_target_type", "utilization"),
                ];
                out.sample(
                    "kube_horizontalpodautoscaler_spec_target_metric",
                    &labels,
                    70.0,
                    t,
                )?;
            }
        }
    }
    writeln!(out.w, "# EOF")?;
    Ok(out.samples)
}

/// Debian's `prometheus` on a free loopback port over blocks `promtool` built; stopped when
/// dropped.
pub struct LocalPrometheus {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("{cmd:?}: {e} (is Debian's prometheus package installed?)"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl LocalPrometheus {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Backfills `openmetrics` into `dir/data` and serves it. `dir` is emptied first.
    pub async fn start(openmetrics: &Path, dir: &Path) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let data = dir.join("data");
        run(Command::new("promtool")
            .args([
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
            ])
            .arg(openmetrics)
            .arg(&data))?;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n")?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=60d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--query.max-samples=200000000")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("prometheus: {e} (is Debian's prometheus package installed?)")
            })?;
        let mut p = LocalPrometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Some(status) = p.child.try_wait()? {
                anyhow::bail!(
                    "prometheus exited ({status}): {}",
                    std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
                );
            }
            if let Ok(r) = http.get(format!("{}/-/ready", p.url)).send().await {
                if r.status().is_success() {
                    return Ok(p);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = p.child.kill();
        anyhow::bail!("prometheus did not become ready at {}", p.url)
    }
}

impl Drop for LocalPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The demo namespace's workloads over the last `days`, ending at `end` (unix seconds),
/// scraped every 30 s: an API with an HPA on CPU and a daily peak, a worker, a database that
/// restarted once, and a nightly report.
pub fn demo_workloads(namespace: &str, end: f64, days: f64) -> Vec<Workload> {
    const MI: f64 = 1024.0 * 1024.0;
    let end = (end / 30.0).floor() * 30.0;
    let start = end - days * 86_400.0;
    let daily = |base: f64, peak: f64| -> Curve {
        Arc::new(move |t: f64| {
            let hour = (t / 3600.0).rem_euclid(24.0);
            if (12.0..14.0).contains(&hour) {
                peak
            } else {
                base + (t / 600.0).sin().abs() * base * 0.2
            }
        })
    };
    let mut api = Vec::new();
    for (i, pod) in [
        "checkout-api-7d4b9c-x2k9p",
        "checkout-api-7d4b9c-m4q7t",
        "checkout-api-7d4b9c-z8w3n",
    ]
    .iter()
    .enumerate()
    {
        let mut p = PodSeries::new(
            pod,
            "api",
            start,
            end,
            daily(0.18 + i as f64 * 0.01, 0.42),
            daily(310.0 * MI, 380.0 * MI),
        );
        p.request_cpu = 1.0;
        p.request_memory = 1024.0 * MI;
        p.limit_memory = Some(1536.0 * MI);
        api.push(p);
    }
    let mut worker = PodSeries::new(
        "checkout-worker-7d4b9c-q1a2b",
        "worker",
        start,
        end,
        daily(0.35, 0.6),
        constant(700.0 * MI),
    );
    worker.request_cpu = 0.25;
    worker.request_memory = 512.0 * MI;
    let mut db = PodSeries::new(
        "checkout-db-0",
        "postgres",
        start,
        end,
        daily(0.3, 0.45),
        daily(1800.0 * MI, 2100.0 * MI),
    );
    db.request_cpu = 2.0;
    db.request_memory = 4096.0 * MI;
    db.limit_memory = Some(4096.0 * MI);
    db.restart_at = Some(start + days * 0.6 * 86_400.0);
    let mut report = PodSeries::new(
        "nightly-report-29000000-abcde",
        "report",
        end - 3600.0 * 3.0,
        end,
        constant(0.9),
        constant(900.0 * MI),
    );
    report.request_cpu = 0.5;
    report.request_memory = 1024.0 * MI;
    vec![
        Workload {
            namespace: namespace.into(),
            kind: "Deployment".into(),
            name: "checkout-api".into(),
            hpa_metrics: vec!["cpu".into()],
            pods: api,
        },
        Workload {
            namespace: namespace.into(),
            kind: "Deployment".into(),
            name: "checkout-worker".into(),
            hpa_metrics: vec![],
            pods: vec![worker],
        },
        Workload {
            namespace: namespace.into(),
            kind: "StatefulSet".into(),
            name: "checkout-db".into(),
            hpa_metrics: vec![],
            pods: vec![db],
        },
        Workload {
            namespace: namespace.into(),
            kind: "CronJob".into(),
            name: "nightly-report".into(),
            hpa_metrics: vec![],
            pods: vec![report],
        },
    ]
}
