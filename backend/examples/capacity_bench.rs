//! Capacity benchmark: right-sizing for 2,000 containers (`BENCH_NAMESPACES` × 20) over 7
//! days of 5-minute samples, served by Debian's Prometheus from blocks `promtool` backfilled.
//! Measures wall time, Prometheus' own CPU time (its `process_cpu_seconds_total`), the
//! number of Prometheus queries and this process's peak RSS. Loopback only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use berth::capacity::{
    self,
    prom::Source,
    synth::{LocalPrometheus, PodSeries, Workload},
    Stats, Window,
};
use berth_frontend::api::Strategy;
use futures::StreamExt;

const WORKLOADS: usize = 10; // per namespace, 2 pods each: 20 containers
const DAYS: f64 = 7.0;
const SCRAPE: f64 = 300.0;

fn peak_rss_mib(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The CPU seconds Prometheus has used so far, from its own metrics.
async fn prometheus_cpu(url: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no process_cpu_seconds_total in Prometheus' metrics"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let namespaces: usize = std::env::var("BENCH_NAMESPACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let end = (time::OffsetDateTime::now_utc().unix_timestamp() as f64 / SCRAPE).floor() * SCRAPE;
    let start = end - DAYS * 86_400.0;
    let mut workloads = Vec::new();
    for n in 0..namespaces {
        for w in 0..WORKLOADS {
            let seed = (n * WORKLOADS + w) as f64;
            let pods = (0..2)
                .map(|p| {
                    let base = 0.05 + (seed % 17.0) * 0.03 + p as f64 * 0.01;
                    let cpu: capacity::synth::Curve = Arc::new(move |t: f64| {
                        base * (1.0 + 0.5 * ((t / 3600.0 + seed).sin()).abs())
                    });
                    let mem: capacity::synth::Curve = Arc::new(move |t: f64| {
                        (200.0 + (seed % 13.0) * 40.0)
                            * 1048576.0
                            * (1.0 + 0.2 * (t / 7200.0).cos().abs())
                    });
                    PodSeries::new(&format!("app{w}-7d4b9c-{p}"), "app", start, end, cpu, mem)
                })
                .collect();
            workloads.push(Workload {
                namespace: format!("bench-{n:03}"),
                kind: "Deployment".into(),
                name: format!("app{w}"),
                hpa_metrics: vec![],
                pods,
            });
        }
    }
    let krr = std::env::var("BENCH_KRR")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let manifests = krr.as_ref().map(|_| manifests(&workloads));
    let dir = std::env::temp_dir().join(format!("berth-capacity-bench-{}", std::process::id()));
    let file = dir.with_extension("om");
    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let samples = capacity::synth::write_openmetrics(&mut out, None, &workloads, SCRAPE, 3600.0)?;
    drop(out);
    drop(workloads);
    let written = t.elapsed();
    let t = Instant::now();
    let prometheus = LocalPrometheus::start(&file, &dir).await?;
    let backfilled = t.elapsed();

    let window = Window {
        history: Duration::from_secs((DAYS * 86_400.0) as u64),
        step: Duration::from_secs(SCRAPE as u64),
    };
    if let (Some(krr), Some(manifests)) = (krr, manifests) {
        side_by_side(&krr, &manifests, &prometheus.url, namespaces, window, &dir).await?;
        let _ = std::fs::remove_file(&file);
        return Ok(());
    }
    let mut rows = Vec::new();
    for (strategy, stats, what) in [
        (
            Strategy::Simple,
            Stats::Recommend,
            "what the recommendation and KRR use",
        ),
        (
            Strategy::Simple,
            Stats::Chart,
            "every chart statistic of the namespace page",
        ),
        (
            Strategy::Decaying,
            Stats::Recommend,
            "what the recommendation uses",
        ),
    ] {
        let source = Arc::new(
            Source::new(&prometheus.url, Duration::from_secs(120), None, None)
                .map_err(anyhow::Error::msg)?,
        );
        let at = end + 60.0;
        let cpu_before = prometheus_cpu(&prometheus.url).await?;
        let t = Instant::now();
        let results: Vec<usize> = futures::stream::iter(0..namespaces)
            .map(|n| {
                let source = source.clone();
                async move {
                    let ns = format!("bench-{n:03}");
                    let reading = capacity::read(&source, &ns, strategy, window, at, false, stats)
                        .await
                        .expect("reading");
                    let r = capacity::recommend(&reading, strategy, false, window, at);
                    r.containers
                        .iter()
                        .filter(|c| c.recommended.cpu_request_millis.is_some())
                        .count()
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let elapsed = t.elapsed();
        let cpu = prometheus_cpu(&prometheus.url).await? - cpu_before;
        let containers: usize = results.iter().sum();
        rows.push(format!(
            "{} strategy, {what}: {containers} workload containers (of 2 pods each) got a CPU recommendation in {:.1} s; Prometheus CPU {cpu:.1} s; {} Prometheus queries ({} per namespace)",
            strategy.as_str(),
            elapsed.as_secs_f64(),
            source.queries(),
            source.queries() as usize / namespaces
        ));
    }
    println!("input: {namespaces} namespaces × {WORKLOADS} Deployments × 2 pods = {} containers, {DAYS} days every {SCRAPE} s: {samples} samples written in {:.1} s, backfilled and served in {:.1} s",
        namespaces * WORKLOADS * 2, written.as_secs_f64(), backfilled.as_secs_f64());
    for r in rows {
        println!("{r}");
    }
    println!(
        "peak RSS of the recommending process: {:.0} MiB",
        peak_rss_mib("self")
    );
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// The bench's workloads as Kubernetes objects for KRR to discover: a Namespace each, and a
/// Deployment (no replicas: KRR finds the pods in Prometheus) whose container requests what
/// the series say.
fn manifests(workloads: &[Workload]) -> String {
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for w in workloads {
        if seen.insert(w.namespace.clone()) {
            out.push_str(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n---\n",
                w.namespace
            ));
        }
        let p = &w.pods[0];
        let mut limits = String::new();
        if let Some(c) = p.limit_cpu {
            limits.push_str(&format!("cpu: '{}m', ", (c * 1000.0).round()));
        }
        if let Some(m) = p.limit_memory {
            limits.push_str(&format!("memory: '{}', ", m.round()));
        }
        out.push_str(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n      - name: {container}\n        image: registry.invalid/app:1.0\n        resources: {{requests: {{cpu: '{cpu}m', memory: '{memory}'}}, limits: {{{limits}}}}}\n---\n",
            name = w.name,
            ns = w.namespace,
            container = p.container,
            cpu = (p.request_cpu * 1000.0).round(),
            memory = p.request_memory.round(),
        ));
    }
    out
}

/// Prometheus' count of the queries it has evaluated so far.
async fn prometheus_queries(url: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("prometheus_engine_query_duration_seconds_count{"))
        .filter(|l| l.contains("slice=\"inner_eval\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// KRR (`BENCH_KRR`: the command that runs it, e.g. `python3 krr.py`) and Berth on the same
/// Prometheus, one after the other: KRR discovers the workloads from the cluster of
/// `BENCH_KUBECONFIG`/`BENCH_CONTEXT` (where `BENCH_KUBECTL` applied them) and both read the same
/// series. Prints each one's wall time, Prometheus CPU and queries, and how many containers'
/// CPU and memory requests are exactly equal.
async fn side_by_side(
    krr: &str,
    manifests: &str,
    url: &str,
    namespaces: usize,
    window: Window,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} is not set"));
    let (kubeconfig, context, kubectl) = (
        env("BENCH_KUBECONFIG")?,
        env("BENCH_CONTEXT")?,
        env("BENCH_KUBECTL")?,
    );
    let file = dir.with_extension("yaml");
    std::fs::write(&file, manifests)?;
    let applied = std::process::Command::new(&kubectl)
        .args(["--kubeconfig", &kubeconfig, "--context", &context])
        .args(["apply", "--server-side", "-f"])
        .arg(&file)
        .output()?;
    anyhow::ensure!(
        applied.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // KRR and Berth alternate, round after round, in one sitting: the figures are each one's
    // median, and every round is printed.
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let mut runs: Vec<[f64; 6]> = Vec::new();
    let mut last = None;
    for round in 1..=rounds {
        let output = dir.with_extension("krr.json");
        let mut words = krr.split_whitespace();
        let program = words.next().unwrap_or("krr");
        let history_hours = (window.history.as_secs() / 3600).to_string();
        let step_minutes = (window.step.as_secs() as f64 / 60.0).to_string();
        let cpu_before = prometheus_cpu(url).await?;
        let queries_before = prometheus_queries(url).await?;
        let t = Instant::now();
        let ran = std::process::Command::new(program)
            .args(words)
            .args(["simple", "--kubeconfig", &kubeconfig, "--context", &context])
            .args(["-p", url, "--history_duration", &history_hours])
            .args(["--timeframe_duration", &step_minutes])
            .args(["--formatter", "json", "--fileoutput"])
            .arg(&output)
            .args(["--quiet"])
            .output()?;
        let krr_wall = t.elapsed();
        anyhow::ensure!(
            ran.status.success(),
            "KRR: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let krr_cpu = prometheus_cpu(url).await? - cpu_before;
        let krr_queries = prometheus_queries(url).await? - queries_before;
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&output)?)?;

        // Berth at the same moment's window.
        let at = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
        let source = Arc::new(
            Source::new(url, Duration::from_secs(120), None, None).map_err(anyhow::Error::msg)?,
        );
        let cpu_before = prometheus_cpu(url).await?;
        let queries_before = prometheus_queries(url).await?;
        let t = Instant::now();
        let berth: Vec<_> = futures::stream::iter(0..namespaces)
            .map(|n| {
                let source = source.clone();
                async move {
                    let ns = format!("bench-{n:03}");
                    let reading = capacity::read(
                        &source,
                        &ns,
                        Strategy::Simple,
                        window,
                        at,
                        false,
                        Stats::Recommend,
                    )
                    .await
                    .expect("reading");
                    let r = capacity::recommend(&reading, Strategy::Simple, false, window, at);
                    r.containers
                        .into_iter()
                        .map(|c| {
                            (
                                (ns.clone(), c.workload.clone(), c.container.clone()),
                                (
                                    c.recommended.cpu_request_millis,
                                    c.recommended.memory_request_bytes,
                                ),
                            )
                        })
                        .collect::<Vec<_>>()
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        let berth_wall = t.elapsed();
        let berth_cpu = prometheus_cpu(url).await? - cpu_before;
        let berth_queries = prometheus_queries(url).await? - queries_before;
        let berth: std::collections::BTreeMap<_, _> = berth.into_iter().flatten().collect();
        println!(
        "round {round}: KRR {:.1} s wall, Prometheus CPU {krr_cpu:.1} s, {krr_queries:.0} queries; Berth {:.1} s wall, Prometheus CPU {berth_cpu:.1} s, {berth_queries:.0} queries",
        krr_wall.as_secs_f64(),
        berth_wall.as_secs_f64()
    );
        runs.push([
            krr_wall.as_secs_f64(),
            krr_cpu,
            krr_queries,
            berth_wall.as_secs_f64(),
            berth_cpu,
            berth_queries,
        ]);
        last = Some((report, berth, source, at));
    }
    let (report, berth, source, at) = last.expect("at least one round");
    let median = |i: usize| {
        let mut v: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (krr_wall, krr_cpu, krr_queries, berth_wall, berth_cpu, berth_queries) = (
        median(0),
        median(1),
        median(2),
        median(3),
        median(4),
        median(5),
    );

    let (mut n, mut cpu_equal, mut memory_equal) = (0, 0, 0);
    let mut differing = Vec::new();
    for scan in report["scans"].as_array().into_iter().flatten() {
        let o = &scan["object"];
        let key = (
            o["namespace"].as_str().unwrap_or_default().to_owned(),
            o["name"].as_str().unwrap_or_default().to_owned(),
            o["container"].as_str().unwrap_or_default().to_owned(),
        );
        let Some((cpu, memory)) = berth.get(&key) else {
            continue;
        };
        n += 1;
        let value = |r: &str| scan["recommended"]["requests"][r]["value"].as_f64();
        let krr_cpu = value("cpu").map(|c| (c * 1000.0).round() as i64);
        let krr_memory = value("memory").map(|m| m.round() as i64);
        cpu_equal += usize::from(krr_cpu == *cpu);
        memory_equal += usize::from(krr_memory == *memory);
        if (krr_cpu != *cpu || krr_memory != *memory) && differing.len() < 5 {
            differing.push(format!(
                "{}/{}/{}: KRR {krr_cpu:?} m, {krr_memory:?} B; Berth {cpu:?} m, {memory:?} B",
                key.0, key.1, key.2
            ));
        }
    }
    println!(
        "KRR ({krr}) simple, median of {rounds}: {krr_wall:.1} s wall, Prometheus CPU {krr_cpu:.1} s, {krr_queries:.0} queries"
    );
    println!(
        "Berth simple, median of {rounds}: {berth_wall:.1} s wall, Prometheus CPU {berth_cpu:.1} s, {berth_queries:.0} queries ({} per namespace)",
        berth_queries as usize / namespaces.max(1)
    );
    println!(
        "KRR ÷ Berth: {:.1}× the wall time, {:.1}× the Prometheus CPU",
        krr_wall / berth_wall.max(1e-9),
        krr_cpu / berth_cpu.max(1e-9)
    );
    println!(
        "parity: CPU requests equal on {cpu_equal} of {n} containers, memory requests on {memory_equal} of {n}"
    );
    // Where Berth's Prometheus CPU goes: its usage query and its kube-state-metrics query, each
    // on its own over every namespace.
    for (what, spec) in [("usage", false), ("kube-state-metrics", true)] {
        let cpu_before = prometheus_cpu(url).await?;
        let t = Instant::now();
        futures::stream::iter(0..namespaces)
            .map(|n| {
                let source = source.clone();
                async move {
                    let ns = format!("bench-{n:03}");
                    let q = if spec {
                        capacity::spec_query(&source, &ns, window, false)
                    } else {
                        capacity::usage_query(&source, &ns, window, Stats::Recommend, at)
                    };
                    source.vector(&q, at).await.expect("query")
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        println!(
            "Berth's {what} query alone: {:.1} s wall, Prometheus CPU {:.1} s",
            t.elapsed().as_secs_f64(),
            prometheus_cpu(url).await? - cpu_before
        );
    }
    // And each statistic of the usage query on its own (the query is its parts joined by `or`).
    let parts: Vec<String> =
        capacity::usage_query(&source, "bench-000", window, Stats::Recommend, at)
            .split(" or label_replace(")
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    p.to_owned()
                } else {
                    format!("label_replace({p}")
                }
            })
            .collect();
    for part in parts {
        let name = part
            .rsplit("\"berth_stat\", \"")
            .next()
            .and_then(|r| r.split('"').next())
            .unwrap_or("?")
            .to_owned();
        let cpu_before = prometheus_cpu(url).await?;
        futures::stream::iter(0..namespaces)
            .map(|n| {
                let source = source.clone();
                let q = part.replace("bench-000", &format!("bench-{n:03}"));
                async move { source.vector(&q, at).await.expect("query") }
            })
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        println!(
            "Berth's {name} alone: Prometheus CPU {:.1} s",
            prometheus_cpu(url).await? - cpu_before
        );
    }
    for d in differing {
        println!("differs: {d}");
    }
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(dir.with_extension("krr.json"));
    Ok(())
}
