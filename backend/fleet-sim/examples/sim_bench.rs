//! Benchmark: a generated fleet (default 100 clusters × 500 nodes) in one process — start
//! time and RSS — then server-side applies from 64 concurrent kube clients across it.
//! Run by `bench/fleet-sim.sh`; prints one line per figure.

use std::time::Instant;

use berth_fleet_sim::{Fleet, FleetSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    api::{Api, Patch, PatchParams},
    Client, Config,
};
use serde_json::json;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clusters: usize = std::env::var("SIM_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let nodes: u32 = std::env::var("SIM_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let applies: usize = std::env::var("SIM_APPLIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);

    let started = Instant::now();
    let fleet = Fleet::start(FleetSpec::generated(clusters, nodes)).await?;
    let start_secs = started.elapsed().as_secs_f64();
    let start_rss = rss_mb();
    println!("fleet: {clusters} clusters x {nodes} nodes");
    println!("start: {start_secs:.2} s");
    println!("rss after start: {start_rss:.0} MB");

    let urls: Vec<String> = fleet.clusters().map(|c| c.url()).collect();
    let workers = 64;
    let per_worker = applies / workers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let url = urls[w % urls.len()].clone();
        tasks.push(tokio::spawn(async move {
            let client = Client::try_from(Config::new(url.parse().unwrap())).unwrap();
            let api = Api::<ConfigMap>::namespaced(client, "default");
            let params = PatchParams::apply("berth-bench");
            for i in 0..per_worker {
                // Half new objects, half changes to existing ones.
                let name = format!("w{w}-{}", i % (per_worker / 2).max(1));
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                  "data": {"round": i.to_string()}});
                api.patch(&name, &params, &Patch::Apply(body)).await.expect("apply succeeds");
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let done = per_worker * workers;
    println!(
        "applies: {done} in {secs:.2} s = {:.0} applies/s (64 concurrent clients, same process)",
        done as f64 / secs
    );
    println!("rss after applies: {:.0} MB", rss_mb());
    drop(fleet);
    Ok(())
}
