//! Benchmark: a full inventory sync of every cluster in `BERTH_KUBECONFIG` (registered by
//! kubeconfig context), timed, with this process's peak RSS. The simulator runs in its own
//! process (bench/fleet-sync.sh starts it), so the figures are Berth's alone.

use std::time::Instant;

use berth::{
    auth::{Actor, Credential, Ctx},
    config::Config,
    fleet, App,
};
use berth_frontend::api::{Connection, NewCluster};
use kube::config::Kubeconfig;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser;
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        config: Config,
    }
    let config = Args::parse_from(["bench"]).config;
    let path = config
        .kubeconfig
        .clone()
        .expect("BERTH_KUBECONFIG names the simulator's kubeconfig");
    App::create_database_if_missing(&config).await?;
    let app = App::connect(config).await?;
    app.migrate().await?;
    let admin = Ctx {
        actor: Some(Actor {
            user_id: uuid::Uuid::nil(),
            email: "bench@example.com".into(),
            display_name: "bench".into(),
            is_admin: true,
            created_at: time::OffsetDateTime::now_utc(),
            teams: Vec::new(),
            credential: Credential::Session {
                id_hash: vec![],
                csrf_token: String::new(),
            },
        }),
        meta: Default::default(),
        system: Some("bench"),
    };
    // testplane's `<cluster>-admin` contexts are for tests; Berth is the `<cluster>` one.
    let contexts: Vec<String> = Kubeconfig::read_from(&path)?
        .contexts
        .into_iter()
        .map(|c| c.name)
        .filter(|name| !name.ends_with("-admin"))
        .collect();
    for name in &contexts {
        let input = NewCluster {
            name: name.clone(),
            display_name: name.clone(),
            region: "bench".into(),
            environment: "prod".into(),
            layer: "online".into(),
            dr_pair: None,
            labels: Default::default(),
            connection: Connection::Kubeconfig {
                context: name.clone(),
            },
        };
        fleet::create(&app, &admin, input).await?;
    }
    let rss_before = peak_rss_mb();
    let started = Instant::now();
    let outcomes = fleet::inventory::sync_fleet(&app).await?;
    let secs = started.elapsed().as_secs_f64();
    let nodes: i32 = outcomes.iter().map(|o| o.node_count).sum();
    let reachable = outcomes.iter().filter(|o| o.reachable).count();
    println!(
        "clusters: {} ({reachable} reachable), nodes read: {nodes}",
        outcomes.len()
    );
    println!(
        "full sync wall time: {secs:.2} s (concurrency {})",
        app.config.sync_concurrency
    );
    println!(
        "peak RSS: {:.0} MB (before the sync: {rss_before:.0} MB)",
        peak_rss_mb()
    );
    Ok(())
}
