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
