//! The reliability suites (bench/reliability.sh runs them; figures go to docs/reliability.md).
//!
//! `setup`: a fresh database with an admin, a team and the simulator's clusters as `dev`
//! clusters (the default policy approves size S at once); prints a `request`+`read` token.
//! `load`: connections × seconds of mixed reads and writes against one or more Berth URLs
//! (round robin); every write answered 2xx is written to `--ledger`.
//! `check`: waits until every answered request is provisioned, then checks each has exactly
//! one `namespace.provisioned` audit row and one done apply job: nothing lost, nothing doubled.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use berth::{
    auth::{password::NewPassword, Ctx},
    config::Config,
    fleet,
    people::{self, DisplayName, Email},
    App,
};
use berth_frontend::api::{Connection, NewCluster, NewTeam, NewToken, Scope};
use clap::{Parser, Subcommand};
use kube::config::Kubeconfig;
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Setup,
    Load {
        #[arg(long, value_delimiter = ',')]
        urls: Vec<String>,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Share of requests that write (create a namespace request), in percent.
        #[arg(long, default_value_t = 10)]
        write_percent: u32,
        #[arg(long)]
        ledger: std::path::PathBuf,
        /// Requests per second over all connections (0: as fast as they answer, a closed loop).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// Namespace names start `rel-<prefix>-`, so runs do not collide.
        #[arg(long, default_value = "a")]
        prefix: String,
    },
    /// Suite c, against a Berth that runs the demo fleet in-process: one cluster's API fails
    /// (every call answered 500) while namespaces are provisioned there and on a healthy
    /// cluster; then it recovers.
    ClusterFault {
        #[arg(long)]
        url: String,
        #[arg(long)]
        admin_token: String,
        #[arg(long)]
        dev_token: String,
        #[arg(long, default_value_t = 10)]
        per_cluster: usize,
        #[arg(long, default_value_t = 60)]
        fail_seconds: u64,
    },
    Check {
        #[arg(long)]
        ledger: std::path::PathBuf,
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
    },
}

fn config() -> Config {
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        config: Config,
    }
    Args::parse_from(["reliability"]).config
}

async fn setup() -> anyhow::Result<()> {
    let config = config();
    let path = config
        .kubeconfig
        .clone()
        .expect("BERTH_KUBECONFIG names the simulator's kubeconfig");
    App::create_database_if_missing(&config).await?;
    let app = App::connect(config).await?;
    app.migrate().await?;
    let system = Ctx::system("reliability");
    let password = NewPassword::parse("password", "a reliability password of some length")?;
    people::insert(
        &app,
        &system,
        &Email::parse("e", "admin@rel.local")?,
        &DisplayName::parse("n", "admin")?,
        true,
        &password,
    )
    .await?;
    let admin = berth::auth::sessions::acting_as(&app, "admin@rel.local", "reliability")
        .await?
        .expect("the admin");
    berth::teams::create(
        &app,
        &admin,
        NewTeam {
            name: "rel".into(),
            display_name: "Rel".into(),
            owner_email: None,
        },
    )
    .await?;
    for c in Kubeconfig::read_from(&path)?.contexts {
        let input = NewCluster {
            name: c.name.clone(),
            display_name: c.name.clone(),
            region: "loopback".into(),
            environment: "dev".into(),
            layer: "online".into(),
            dr_pair: None,
            labels: Default::default(),
            connection: Connection::Kubeconfig { context: c.name },
        };
        fleet::create(&app, &admin, input).await?;
    }
    fleet::inventory::sync_fleet(&app).await?;
    let token = berth::tokens::create(
        &app,
        &admin,
        NewToken {
            name: "reliability".into(),
            scopes: vec![Scope::Read, Scope::Request],
            expires_in_days: 1,
        },
    )
    .await?;
    println!("{}", token.secret);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Default)]
struct Tally {
    reads: Vec<f64>,
    writes: Vec<f64>,
    errors: Vec<String>,
    /// Seconds since the start at which a write failed, and at which one succeeded.
    failed_writes: Vec<f64>,
    error_times: Vec<f64>,
    answered: Vec<(f64, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn load(
    urls: Vec<String>,
    token: String,
    connections: usize,
    seconds: u64,
    write_percent: u32,
    ledger: std::path::PathBuf,
    prefix: String,
    rate: f64,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(connections)
        .build()?;
    let clusters: Vec<String> = {
        let r: serde_json::Value = http
            .get(format!("{}/api/v1/clusters", urls[0]))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        r.as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (http, token, urls, clusters, tally, prefix) = (
            http.clone(),
            token.clone(),
            urls.clone(),
            clusters.clone(),
            tally.clone(),
            prefix.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            // Paced: each connection sends at rate ÷ connections, on a fixed schedule.
            let interval = (rate > 0.0).then(|| Duration::from_secs_f64(connections as f64 / rate));
            let mut next = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(worker as f64 / connections as f64));
            while Instant::now() < end {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += i;
                }
                n += 1;
                let url = &urls[(worker + n as usize) % urls.len()];
                let write = (n * 7919 + worker as u64) % 100 < write_percent as u64;
                let t = Instant::now();
                let result = if write {
                    let name = format!("rel-{prefix}-{worker}-{n}");
                    let cluster = &clusters[(worker + n as usize) % clusters.len()];
                    let body = json!({"team": "rel", "cluster": cluster, "name": name, "node_pool": "general",
                                      "preset": "S", "purpose": "reliability"});
                    http.post(format!("{url}/api/v1/namespace-requests")).bearer_auth(&token).json(&body).send().await
                } else {
                    let path = ["/api/v1/me", "/api/v1/namespaces?limit=50", "/api/v1/clusters", "/api/v1/namespace-requests?limit=20"]
                        [(n % 4) as usize];
                    http.get(format!("{url}{path}")).bearer_auth(&token).send().await
                };
                let elapsed = t.elapsed().as_secs_f64() * 1000.0;
                let at = started.elapsed().as_secs_f64();
                let outcome = match result {
                    Ok(r) if r.status().is_success() => {
                        let id = if write {
                            let v: serde_json::Value = r.json().await.unwrap_or_default();
                            v["request"]["id"].as_str().map(str::to_owned)
                        } else {
                            let _ = r.bytes().await;
                            None
                        };
                        Ok(id)
                    }
                    Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                    Err(e) if e.is_connect() => Err("connection refused".to_owned()),
                    Err(e) if e.is_timeout() => Err("timed out".to_owned()),
                    Err(e) => Err(format!("{}", e.without_url())),
                };
                let mut t = tally.lock().unwrap();
                match outcome {
                    Ok(id) => {
                        if write {
                            t.writes.push(elapsed);
                            if let Some(id) = id {
                                t.answered.push((at, id));
                            }
                        } else {
                            t.reads.push(elapsed);
                        }
                    }
                    Err(e) => {
                        if write {
                            t.failed_writes.push(at);
                        }
                        t.errors.push(e);
                        t.error_times.push(at);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let mut t = Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap();
    t.reads.sort_by(f64::total_cmp);
    t.writes.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = t.reads.iter().chain(t.writes.iter()).copied().collect();
    all.sort_by(f64::total_cmp);
    let total = all.len() + t.errors.len();
    println!(
        "{connections} connections × {seconds} s against {} process(es){}: {total} requests ({:.0}/s), {} errors",
        urls.len(),
        if rate > 0.0 { format!(", paced at {rate}/s") } else { ", closed loop".into() },
        total as f64 / seconds as f64,
        t.errors.len()
    );
    println!(
        "latency p50 / p99: all {:.1} / {:.1} ms; reads {:.1} / {:.1} ms; writes {:.1} / {:.1} ms",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&t.reads, 0.5),
        percentile(&t.reads, 0.99),
        percentile(&t.writes, 0.5),
        percentile(&t.writes, 0.99)
    );
    println!("writes answered 2xx: {}", t.answered.len());
    if !t.errors.is_empty() {
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in &t.errors {
            *kinds.entry(e.as_str()).or_default() += 1;
        }
        let (first, last) = (
            t.error_times.iter().cloned().fold(f64::MAX, f64::min),
            t.error_times.iter().cloned().fold(0.0, f64::max),
        );
        println!("errors by kind: {kinds:?}, between {first:.1} s and {last:.1} s");
    }
    // The longest stretch without an answered write: how long an outage kept writes out.
    let mut times: Vec<f64> = t.answered.iter().map(|(at, _)| *at).collect();
    times.sort_by(f64::total_cmp);
    if let Some((gap, from)) = times
        .windows(2)
        .map(|w| (w[1] - w[0], w[0]))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        println!("longest stretch without an answered write: {gap:.1} s, from {from:.1} s; failed writes: {}", t.failed_writes.len());
    }
    let ids: Vec<&str> = t.answered.iter().map(|(_, id)| id.as_str()).collect();
    std::fs::write(&ledger, ids.join("\n"))?;
    Ok(())
}

async fn check(ledger: std::path::PathBuf, timeout: u64) -> anyhow::Result<()> {
    let app = App::connect(config()).await?;
    let ids: Vec<uuid::Uuid> = std::fs::read_to_string(&ledger)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(uuid::Uuid::parse_str)
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM namespace_requests WHERE id = ANY($1) AND state <> 'ready'",
        )
        .bind(&ids)
        .fetch_one(&app.db)
        .await?;
        if open == 0 || started.elapsed() > Duration::from_secs(timeout) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let present: i64 =
        sqlx::query_scalar("SELECT count(*) FROM namespace_requests WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_one(&app.db)
            .await?;
    let ready: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM namespace_requests WHERE id = ANY($1) AND state = 'ready'",
    )
    .bind(&ids)
    .fetch_one(&app.db)
    .await?;
    // Each provisioned namespace has exactly one `namespace.provisioned` row and one done apply job.
    let doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT target_id FROM audit_events WHERE action = 'namespace.provisioned'
                               AND target_id IN (SELECT namespace_id::text FROM namespace_requests WHERE id = ANY($1))
                               GROUP BY target_id HAVING count(*) > 1) d",
    )
    .bind(&ids)
    .fetch_one(&app.db)
    .await?;
    let jobs_doubled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT request_id FROM jobs WHERE kind = 'apply' AND state = 'done' AND request_id = ANY($1)
                               GROUP BY request_id HAVING count(*) > 1) d",
    )
    .bind(&ids)
    .fetch_one(&app.db)
    .await?;
    println!(
        "answered writes: {}; present afterwards: {present} (lost: {}); provisioned: {ready} in {:.1} s; provisioned twice: {doubled}; apply jobs done twice: {jobs_doubled}",
        ids.len(),
        ids.len() as i64 - present,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn states(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    ids: &[String],
) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for id in ids {
        let r: serde_json::Value = http
            .get(format!("{url}/api/v1/namespace-requests/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        out.push((
            r["request"]["state"].as_str().unwrap_or("?").to_owned(),
            r["request"]["attempts"].as_i64().unwrap_or(0),
        ));
    }
    Ok(out)
}

async fn wait_all_ready(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    ids: &[String],
    limit: Duration,
) -> anyhow::Result<Option<f64>> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if states(http, url, token, ids)
            .await?
            .iter()
            .all(|(s, _)| s == "ready")
        {
            return Ok(Some(started.elapsed().as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(None)
}

async fn cluster_fault(
    url: String,
    admin: String,
    dev: String,
    per_cluster: usize,
    fail_seconds: u64,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let (bad, good) = (("prod-beijing-1", "batch"), ("prod-shanghai-1", "general"));
    let fault = |body: serde_json::Value| {
        http.put(format!("{url}/api/v1/clusters/{}/simulator/faults", bad.0))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    anyhow::ensure!(
        fault(json!({"error_rate": 1.0}))
            .await?
            .status()
            .is_success(),
        "setting the fault"
    );
    let mut ids: [Vec<String>; 2] = Default::default();
    for (i, (cluster, pool)) in [bad, good].into_iter().enumerate() {
        for n in 0..per_cluster {
            let body = json!({"team": "payments", "cluster": cluster, "name": format!("payments-c{i}-{n}"), "node_pool": pool,
                              "preset": "S", "purpose": "reliability suite c"});
            let r: serde_json::Value = http
                .post(format!("{url}/api/v1/namespace-requests"))
                .bearer_auth(&dev)
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            let id = r["request"]["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("request refused: {r}"))?
                .to_owned();
            let approved = http
                .post(format!("{url}/api/v1/namespace-requests/{id}/approve"))
                .bearer_auth(&admin)
                .json(&json!({}))
                .send()
                .await?;
            anyhow::ensure!(
                approved.status().is_success(),
                "approving {id}: {}",
                approved.status()
            );
            ids[i].push(id);
        }
    }
    let started = Instant::now();
    let healthy = wait_all_ready(
        &http,
        &url,
        &dev,
        &ids[1],
        Duration::from_secs(fail_seconds),
    )
    .await?;
    println!(
        "{} cluster failing every call: {per_cluster} namespaces on the healthy {} ready in {}",
        bad.0,
        good.0,
        healthy.map_or("— (not within the fault window)".into(), |s| format!(
            "{s:.1} s"
        ))
    );
    let remaining = Duration::from_secs(fail_seconds).saturating_sub(started.elapsed());
    tokio::time::sleep(remaining).await;
    let during = states(&http, &url, &dev, &ids[0]).await?;
    let ready_during = during.iter().filter(|(s, _)| s == "ready").count();
    let attempts: i64 = during.iter().map(|(_, a)| *a).sum();
    println!(
        "after {fail_seconds} s of failure on {}: {ready_during} of {per_cluster} ready there (want 0), {attempts} failed attempts recorded on its requests, states {:?}",
        bad.0,
        during.iter().map(|(s, _)| s.as_str()).collect::<std::collections::BTreeSet<_>>()
    );
    anyhow::ensure!(
        fault(json!({})).await?.status().is_success(),
        "clearing the fault"
    );
    let recovered = wait_all_ready(&http, &url, &dev, &ids[0], Duration::from_secs(600)).await?;
    println!(
        "fault cleared: all {per_cluster} on {} ready {} later (retries back off from 2 s up to 5 min)",
        bad.0,
        recovered.map_or("— not within 10 min".into(), |s| format!("{s:.1} s"))
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup => setup().await,
        Command::Load {
            urls,
            token,
            connections,
            seconds,
            write_percent,
            ledger,
            prefix,
            rate,
        } => {
            load(
                urls,
                token,
                connections,
                seconds,
                write_percent,
                ledger,
                prefix,
                rate,
            )
            .await
        }
        Command::Check {
            ledger,
            timeout_seconds,
        } => check(ledger, timeout_seconds).await,
        Command::ClusterFault {
            url,
            admin_token,
            dev_token,
            per_cluster,
            fail_seconds,
        } => cluster_fault(url, admin_token, dev_token, per_cluster, fail_seconds).await,
    }
}
