//! Capacity against a real Prometheus: each test writes cAdvisor and kube-state-metrics
//! series, backfills them with `promtool tsdb create-blocks-from openmetrics`, serves them
//! with Debian's `prometheus` on a loopback port, and checks recommendations against values
//! worked out by hand from those series. Also: Prometheus down, slow or answering garbage;
//! quota suggestions filed as quota changes with evidence; the planner; pool headroom and
//! placement over the simulated demo fleet.

mod common;

use std::{path::PathBuf, sync::Arc};

use berth::jobs;
use berth::{
    auth::Ctx,
    capacity::{
        self,
        synth::{constant, Curve, LocalPrometheus, PodSeries, Workload},
    },
    tenancy::requests,
    App, Error,
};
use berth_frontend::api::{
    ContainerRecommendation, NamespaceRecommendations, NewNamespaceRequest, RecommendationQuery,
    RightSizeInput, ShapeQuery, SpecChoice, Strategy,
};
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

const MI: f64 = 1024.0 * 1024.0;
const STEP: f64 = 75.0;
const SCRAPE: f64 = 15.0;
const NS: &str = "payments-api";
const CLUSTER: &str = "prod-shanghai-1";

fn now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as f64
}

/// 46 hours of data ending a step before now, inside the 48-hour history the tests use.
fn span() -> (f64, f64) {
    let end = (now() / STEP).floor() * STEP - STEP;
    (end - 46.0 * 3600.0, end)
}

fn step_curve(before: f64, after: f64, at: f64) -> Curve {
    Arc::new(move |t| if t < at { before } else { after })
}

fn workload(kind: &str, name: &str, pods: Vec<PodSeries>) -> Workload {
    Workload {
        namespace: NS.into(),
        kind: kind.into(),
        name: name.into(),
        hpa_metrics: vec![],
        pods,
    }
}

/// The series every right-sizing test reads; the comments carry the expected values.
fn series() -> Vec<Workload> {
    let (start, end) = span();
    let len = end - start;
    let mid = start + len / 2.0;

    // web: pod a runs 0.2 cores for the first 90% and 0.5 for the last 10% (p95 = 0.5);
    // pod b runs 0.1. Memory: a 300Mi with 400Mi for two hours, b 350Mi.
    let peak_from = start + len * 0.4;
    let memory_a: Curve = Arc::new(move |t| {
        if (peak_from..peak_from + 7200.0).contains(&t) {
            400.0 * MI
        } else {
            300.0 * MI
        }
    });
    let web = workload(
        "Deployment",
        "web",
        vec![
            PodSeries::new(
                "web-7d4b9c-a",
                "app",
                start,
                end,
                step_curve(0.2, 0.5, start + len * 0.9),
                memory_a,
            ),
            PodSeries::new(
                "web-7d4b9c-b",
                "app",
                start,
                end,
                constant(0.1),
                constant(350.0 * MI),
            ),
        ],
    );
    // api: an HPA scales on CPU; memory 200Mi.
    let mut api = workload(
        "Deployment",
        "api",
        vec![PodSeries::new(
            "api-7d4b9c-a",
            "app",
            start,
            end,
            constant(0.3),
            constant(200.0 * MI),
        )],
    );
    api.hpa_metrics = vec!["cpu".into()];
    // db: 0.25 cores throughout; the container restarts half-way (its counter starts again)
    // with 800Mi before and 600Mi after.
    let mut db0 = PodSeries::new(
        "db-0",
        "postgres",
        start,
        end,
        constant(0.25),
        step_curve(800.0 * MI, 600.0 * MI, mid),
    );
    db0.restart_at = Some(mid);
    let db = workload("StatefulSet", "db", vec![db0]);
    // worker: the old pod (0.4 cores, 500Mi, requests 2 cores) was replaced half-way by a new
    // one (0.25 cores, 450Mi, requests 500m).
    let mut old = PodSeries::new(
        "worker-7d4b9c-old",
        "worker",
        start,
        mid,
        constant(0.4),
        constant(500.0 * MI),
    );
    old.request_cpu = 2.0;
    let mut new = PodSeries::new(
        "worker-7d4b9c-new",
        "worker",
        mid + SCRAPE,
        end,
        constant(0.25),
        constant(450.0 * MI),
    );
    new.request_cpu = 0.5;
    let worker = workload("Deployment", "worker", vec![old, new]);
    // thin: an hour of data is 48 points, fewer than 100.
    let thin = workload(
        "Pod",
        "thin",
        vec![PodSeries::new(
            "thin",
            "app",
            end - 3600.0,
            end,
            constant(0.7),
            constant(700.0 * MI),
        )],
    );
    // agent: 0.15 cores and 200Mi, six hours missing and one NaN working set.
    let nan_at = start + len * 0.25;
    let mut agent0 = PodSeries::new(
        "agent-x1",
        "agent",
        start,
        end,
        constant(0.15),
        Arc::new(move |t| {
            if (t - nan_at).abs() < 1.0 {
                f64::NAN
            } else {
                200.0 * MI
            }
        }),
    );
    agent0.gaps = vec![(start + len * 0.5, start + len * 0.5 + 6.0 * 3600.0)];
    let agent = workload("DaemonSet", "agent", vec![agent0]);
    // idle: below the floors.
    let idle = workload(
        "Deployment",
        "idle",
        vec![PodSeries::new(
            "idle-7d4b9c-a",
            "app",
            start,
            end,
            constant(0.001),
            constant(10.0 * MI),
        )],
    );
    // report: a CronJob's pod for three hours (144 points).
    let report = workload(
        "CronJob",
        "report",
        vec![PodSeries::new(
            "report-29000000-q",
            "report",
            end - 3.0 * 3600.0,
            end,
            constant(0.5),
            constant(100.0 * MI),
        )],
    );
    // batch: KRR's summed-points rule. An old pod at 2 cores and 300Mi for 75 minutes, then
    // a new one at 0.2 cores and 200Mi for the last 75 minutes: each has fewer than 100
    // points (about 60), together more, so both count — 2000m, where the per-pod rule of
    // KRR ≤ 1.7.1 said "Not enough data".
    let batch = workload(
        "Deployment",
        "batch",
        vec![
            PodSeries::new(
                "batch-5f6d7c-old",
                "batch",
                end - 2.0 * 4500.0,
                end - 4500.0,
                constant(2.0),
                constant(300.0 * MI),
            ),
            PodSeries::new(
                "batch-5f6d7c-new",
                "batch",
                end - 4500.0 + SCRAPE,
                end,
                constant(0.2),
                constant(200.0 * MI),
            ),
        ],
    );
    // leaky: 300Mi of working set, but OOMKilled at its 512Mi limit half-way. With the OOM
    // option memory is 512Mi × 1.25 = 640Mi; without it 300Mi × 1.15.
    let mut leaky0 = PodSeries::new(
        "leaky-5f6d7c-a",
        "app",
        start,
        end,
        constant(0.1),
        constant(300.0 * MI),
    );
    leaky0.limit_memory = Some(512.0 * MI);
    leaky0.oom_killed_at = Some(mid);
    let leaky = workload("Deployment", "leaky", vec![leaky0]);
    // cache, in a namespace of its own: the container restarts at 60% and cAdvisor starts new
    // series for it (a new `id`). 0.5 cores and 300Mi before, 0.1 cores and 700Mi after.
    // KRR merges the two at every step: p95 0.5 cores, peak 700Mi; either series alone
    // answers otherwise.
    let mut cache0 = PodSeries::new(
        "cache-0",
        "redis",
        start,
        end,
        step_curve(0.5, 0.1, start + len * 0.6),
        step_curve(300.0 * MI, 700.0 * MI, start + len * 0.6),
    );
    cache0.restart_at = Some(start + len * 0.6);
    cache0.new_series_on_restart = true;
    let mut cache = workload("StatefulSet", "cache", vec![cache0]);
    cache.namespace = RESTARTS.into();
    vec![
        web, api, db, worker, thin, agent, idle, report, batch, leaky, cache,
    ]
}

const RESTARTS: &str = "payments-cache";

/// The same namespace name on another cluster, with usage that would change every answer.
fn elsewhere() -> Vec<Workload> {
    let (start, end) = span();
    vec![workload(
        "Deployment",
        "web",
        vec![PodSeries::new(
            "web-7d4b9c-a",
            "app",
            start,
            end,
            constant(9.0),
            constant(9000.0 * MI),
        )],
    )]
}

async fn prometheus(name: &str) -> LocalPrometheus {
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_TMPDIR").unwrap_or_else(|_| "/tmp".into()))
        .join(format!("prometheus-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.with_extension("om");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    let ours = series();
    let theirs = elsewhere();
    // One family at a time for both clusters, as OpenMetrics wants.
    let mut all = Vec::new();
    capacity::synth::write_openmetrics(&mut all, Some(("cluster", CLUSTER)), &ours, SCRAPE, 300.0)
        .unwrap();
    let mut other = Vec::new();
    capacity::synth::write_openmetrics(
        &mut other,
        Some(("cluster", "prod-singapore-1")),
        &theirs,
        SCRAPE,
        300.0,
    )
    .unwrap();
    merge_families(&mut out, &all, &other);
    drop(out);
    LocalPrometheus::start(&file, &dir).await.unwrap()
}

/// Interleaves two OpenMetrics texts family by family.
fn merge_families(out: &mut impl std::io::Write, a: &[u8], b: &[u8]) {
    fn families(text: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(text);
        let mut out: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.starts_with("# TYPE") {
                out.push((line.to_owned(), String::new()));
            } else if line != "# EOF" {
                let last = out.last_mut().unwrap();
                last.1.push_str(line);
                last.1.push('\n');
            }
        }
        out
    }
    let (fa, fb) = (families(a), families(b));
    for ((head, body), (_, more)) in fa.iter().zip(fb.iter()) {
        writeln!(out, "{head}").unwrap();
        out.write_all(body.as_bytes()).unwrap();
        out.write_all(more.as_bytes()).unwrap();
    }
    writeln!(out, "# EOF").unwrap();
}

struct World {
    app: App,
    dev: Ctx,
    outsider: Ctx,
    admin: Ctx,
    _prometheus: Option<LocalPrometheus>,
}

async fn world(db: PgPool, prometheus: Option<LocalPrometheus>, url: Option<String>) -> World {
    let url = url.or_else(|| prometheus.as_ref().map(|p| p.url.clone()));
    let (app, _fleet) = demo_world_configured(db, move |c| {
        c.prometheus_url = url;
        c.prometheus_timeout_seconds = 2;
        c.capacity_history_hours = 48;
        c.capacity_step_seconds = STEP as u64;
    })
    .await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    request_approved(&app, &dev, &admin, request(CLUSTER, NS, "general", "M")).await;
    jobs::drain(&app).await.unwrap();
    World {
        outsider: session_ctx(&app, "outsider@example.com").await,
        app,
        dev,
        admin,
        _prometheus: prometheus,
    }
}

fn row<'a>(r: &'a NamespaceRecommendations, workload: &str) -> &'a ContainerRecommendation {
    r.containers
        .iter()
        .find(|c| c.workload == workload)
        .unwrap_or_else(|| panic!("no row for {workload}: {:#?}", r.containers))
}

async fn simple(w: &World, allow_hpa: bool) -> NamespaceRecommendations {
    capacity::recommendations(
        &w.app,
        &w.dev,
        CLUSTER,
        NS,
        RecommendationQuery {
            strategy: Some(Strategy::Simple),
            allow_hpa: Some(allow_hpa),
            use_oomkill: None,
        },
    )
    .await
    .unwrap()
}

/// KRR (v1.29) rounds memory up to the mebibyte: the expected bytes for a peak of `mi` MiB,
/// with the 15% buffer.
fn krr_memory(mi: f64) -> i64 {
    ((mi * 1.15).ceil() as i64) << 20
}

/// Berth reads each cAdvisor series on its own, which is what KRR's merged series are where a
/// container has one per scrape job. A restart that starts new series is read merged, as KRR
/// reads it, in one more query for that pod.
#[tokio::test]
async fn a_container_with_new_series_after_a_restart_is_merged_as_krr_merges_it() {
    let p = prometheus("restarts").await;
    let source = capacity::prom::Source::new(
        &p.url,
        std::time::Duration::from_secs(30),
        None,
        Some(("cluster".into(), CLUSTER.into())),
    )
    .unwrap();
    let w = capacity::Window {
        history: std::time::Duration::from_secs(48 * 3600),
        step: std::time::Duration::from_secs(STEP as u64),
    };
    let at = now();
    for stats in [capacity::Stats::Recommend, capacity::Stats::Chart] {
        let before = source.queries();
        let reading = capacity::read(&source, RESTARTS, Strategy::Simple, w, at, false, stats)
            .await
            .unwrap();
        let r = capacity::recommend(&reading, Strategy::Simple, false, w, at);
        let cache = r
            .containers
            .iter()
            .find(|c| c.workload == "cache")
            .unwrap_or_else(|| panic!("{:#?}", r.containers));
        assert_eq!(cache.pods_seen, 1);
        assert_eq!(cache.recommended.cpu_request_millis, Some(500));
        assert_eq!(
            cache.recommended.memory_request_bytes,
            Some(krr_memory(700.0))
        );
        assert_eq!(
            source.queries() - before,
            3,
            "usage, spec, and the merged usage of the pod with two series"
        );
    }
    // The other namespace's containers have one series each: two queries.
    let before = source.queries();
    capacity::read(
        &source,
        NS,
        Strategy::Simple,
        w,
        at,
        false,
        capacity::Stats::Recommend,
    )
    .await
    .unwrap();
    assert_eq!(source.queries() - before, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn simple_recommendations_equal_the_hand_computed_values(db: PgPool) {
    let w = world(db, Some(prometheus("simple").await), None).await;
    let r = simple(&w, false).await;
    assert_eq!(
        r.queries, 2,
        "one usage and one spec query for the whole namespace"
    );

    let web = row(&r, "web");
    assert_eq!(
        (web.workload_kind.as_str(), web.pods_seen, web.replicas),
        ("Deployment", 2, 2)
    );
    assert_eq!(
        web.recommended.cpu_request_millis,
        Some(500),
        "the higher pod's p95"
    );
    assert_eq!(
        web.recommended.cpu_limit_millis, None,
        "simple sets no CPU limit"
    );
    assert_eq!(
        web.recommended.memory_request_bytes,
        Some(krr_memory(400.0))
    );
    assert_eq!(web.recommended.memory_limit_bytes, Some(krr_memory(400.0)));
    assert_eq!(web.current.cpu_request_millis, Some(500));
    assert_eq!(web.cpu_delta_millis, Some(0));

    let api = row(&r, "api");
    assert_eq!(api.recommended.cpu_request_millis, None);
    assert_eq!(api.cpu_info.as_deref(), Some("HPA detected"));
    assert_eq!(api.hpa.as_deref(), Some("api (cpu)"));
    assert_eq!(
        api.recommended.memory_request_bytes,
        Some(krr_memory(200.0))
    );

    let db = row(&r, "db");
    assert_eq!(
        (db.workload_kind.as_str(), db.pods_seen),
        ("StatefulSet", 1)
    );
    assert_eq!(
        db.recommended.cpu_request_millis,
        Some(250),
        "a restart does not disturb the rate"
    );
    assert_eq!(db.recommended.memory_request_bytes, Some(krr_memory(800.0)));

    let worker = row(&r, "worker");
    assert_eq!(
        (worker.pods_seen, worker.replicas),
        (2, 1),
        "the replaced pod still counts"
    );
    assert_eq!(worker.recommended.cpu_request_millis, Some(400));
    assert_eq!(
        worker.recommended.memory_request_bytes,
        Some(krr_memory(500.0))
    );
    assert_eq!(
        worker.current.cpu_request_millis,
        Some(500),
        "current requests are the running pod's"
    );

    let batch = row(&r, "batch");
    assert_eq!(
        batch.recommended.cpu_request_millis,
        Some(2000),
        "thin pods' points are summed, and the old pod counts: {batch:#?}"
    );
    assert_eq!(
        batch.recommended.memory_request_bytes,
        Some(krr_memory(300.0))
    );
    assert!(batch.usage.cpu_points < 2 * 100 && batch.usage.cpu_points >= 100);

    let thin = row(&r, "thin");
    assert_eq!(thin.workload_kind, "Pod");
    assert_eq!(thin.recommended.cpu_request_millis, None);
    assert_eq!(thin.cpu_info.as_deref(), Some("Not enough data"));
    assert_eq!(thin.memory_info.as_deref(), Some("Not enough data"));

    let agent = row(&r, "agent");
    assert_eq!(agent.workload_kind, "DaemonSet");
    // Gaps and NaN change nothing. Prometheus's rate of the 0.15-core counter comes out as
    // 0.15000000000000002, which KRR's ceil(cores × 1000) makes 151m: so does Berth.
    assert_eq!(
        agent.recommended.cpu_request_millis,
        Some(151),
        "gaps and NaN change nothing; KRR's rounding"
    );
    assert_eq!(
        agent.recommended.memory_request_bytes,
        Some(krr_memory(200.0))
    );

    let idle = row(&r, "idle");
    assert_eq!(
        idle.recommended.cpu_request_millis,
        Some(10),
        "the 10m floor"
    );
    assert_eq!(
        idle.recommended.memory_request_bytes,
        Some(100 * 1024 * 1024),
        "the 100Mi floor"
    );

    let report = row(&r, "report");
    assert_eq!(report.workload_kind, "CronJob");
    assert_eq!(report.recommended.cpu_request_millis, Some(500));
    assert_eq!(
        report.recommended.memory_request_bytes,
        Some(krr_memory(100.0))
    );

    let leaky = row(&r, "leaky");
    assert_eq!(
        leaky.recommended.memory_request_bytes,
        Some(krr_memory(300.0))
    );
    assert_eq!(leaky.memory_info, None);
    // With the OOM option (KRR's --use_oomkill_data): the limit it was killed at, + 25%.
    let oom = capacity::recommendations(
        &w.app,
        &w.dev,
        CLUSTER,
        NS,
        RecommendationQuery {
            strategy: Some(Strategy::Simple),
            use_oomkill: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let leaky = row(&oom, "leaky");
    assert_eq!(leaky.recommended.memory_request_bytes, Some(640 << 20));
    assert_eq!(leaky.recommended.memory_limit_bytes, Some(640 << 20));
    assert_eq!(leaky.memory_info.as_deref(), Some("OOMKill detected"));
    assert_eq!(
        row(&oom, "web").recommended.memory_request_bytes,
        Some(krr_memory(400.0)),
        "containers never OOMKilled keep KRR's answer"
    );

    // Allowed, the HPA's resource gets a recommendation too.
    let allowed = simple(&w, true).await;
    // 0.3 cores comes back as 0.30000000000000004: 301m, as KRR says.
    assert_eq!(
        row(&allowed, "api").recommended.cpu_request_millis,
        Some(301)
    );

    // Totals count running replicas: web 2 × 500m, api 300m→(no rec: current 500m), ...
    assert!(r.totals.current_cpu_cores > 0.0 && r.totals.recommended_cpu_cores > 0.0);
    assert!(r.peak_cpu_cores.unwrap() > 0.0 && r.peak_memory_bytes.unwrap() > 0.0);

    // Another team's member does not see the namespace; the team's members do over REST.
    let err = capacity::recommendations(&w.app, &w.outsider, CLUSTER, NS, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    let server = common::TestServer::serve_app(w.app.clone()).await;
    let dev = server.login("dev@example.com").await;
    let (status, body) = dev
        .get(&format!(
            "/api/v1/namespaces/{CLUSTER}/{NS}/recommendations?strategy=simple"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["containers"].as_array().unwrap().len(),
        r.containers.len()
    );
    let (status, team) = dev.get("/api/v1/teams/payments/recommendations").await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team["namespaces"][0]["namespace"], NS);
    assert!(team["namespaces"][0]["error"].is_null());
    let _ = &w.admin;
}

/// Where the VPA puts a value: the end of its bucket (first bucket `first`, 5% growth).
fn bucket_end(first: f64, v: f64) -> f64 {
    let i = (1.0 + v * 0.05 / first).ln() / 1.05f64.ln();
    first * (1.05f64.powi(i.floor() as i32 + 1) - 1.0) / 0.05
}

#[sqlx::test(migrations = "../migrations")]
async fn decaying_recommendations_follow_the_vpa_histogram(db: PgPool) {
    let w = world(db, Some(prometheus("decaying").await), None).await;
    let r = capacity::recommendations(
        &w.app,
        &w.dev,
        CLUSTER,
        NS,
        RecommendationQuery {
            strategy: Some(Strategy::Decaying),
            allow_hpa: Some(false),
            use_oomkill: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(r.queries, 4, "usage, spec, CPU points, memory points");
    // db runs a constant 0.25 cores: every sample is in one bucket, so P50 = P90 = P95 is
    // that bucket's end; the target adds 15%.
    let db = row(&r, "db");
    let expected = (bucket_end(0.01, 0.25) * 1.15 * 1000.0).ceil() as i64;
    assert_eq!(db.recommended.cpu_request_millis, Some(expected));
    let (lower, upper) = db.cpu_bounds_millis.unwrap();
    assert!(
        lower <= expected && expected < upper,
        "{lower} {expected} {upper}"
    );
    // api: a constant 200Mi, fed as one peak per day: its bucket's end + 15% is 236.7Mi, under
    // the VPA's 250Mi floor; agent's 200Mi likewise.
    let api = row(&r, "api");
    let expected = (bucket_end(1e7, 200.0 * MI) * 1.15).ceil() as i64;
    assert!(expected < 250 * 1024 * 1024);
    assert_eq!(
        api.recommended.memory_request_bytes,
        Some(250 * 1024 * 1024)
    );
    // db: 800Mi for the first day, then 600Mi: the P90 of the daily peaks is 800Mi's bucket
    // only if the 800Mi day weighs more than 10% after decay — it does (one of two days, the
    // older halved: 1/3).
    let db_memory = (bucket_end(1e7, 800.0 * MI) * 1.15).ceil() as i64;
    assert_eq!(db.recommended.memory_request_bytes, Some(db_memory));
    assert_eq!(api.cpu_info.as_deref(), Some("HPA detected"));
    // Too little data still yields no value below the VPA's floors.
    assert!(row(&r, "idle").recommended.cpu_request_millis.unwrap() >= 25);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_suggested_quota_is_filed_as_a_quota_change_with_its_evidence(db: PgPool) {
    let w = world(db, Some(prometheus("quota").await), None).await;
    let s = capacity::quota_suggestion(&w.app, &w.dev, CLUSTER, NS)
        .await
        .unwrap();
    assert_eq!(s.current.requests_cpu, "8", "preset M");
    assert!(!s.reasoning.is_empty());
    // requests = max(recommended, peak) × 1.25, rounded up to 100m.
    let need = s.recommended_cpu_cores.max(s.peak_cpu_cores.unwrap());
    let millis = ((need * 1.25 * 1000.0 / 100.0 - 1e-9).ceil() as i64) * 100;
    let text = if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    };
    assert_eq!(s.suggested.requests_cpu, text);

    let detail = capacity::request_right_size(
        &w.app,
        &w.dev,
        CLUSTER,
        NS,
        RightSizeInput {
            requests_cpu: s.suggested.requests_cpu.clone(),
            requests_memory: s.suggested.requests_memory.clone(),
            limits_cpu: s.suggested.limits_cpu.clone(),
            limits_memory: s.suggested.limits_memory.clone(),
            purpose: "right-size".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(detail.request.kind, "quota_change");
    assert_eq!(
        detail.request.spec.quota.requests_cpu,
        s.suggested.requests_cpu
    );
    let evidence = detail.evidence.expect("evidence stored with the request");
    assert_eq!(evidence.suggested, s.suggested);
    // The approver sees the same evidence.
    let seen = requests::get(&w.app, &w.admin, detail.request.id)
        .await
        .unwrap();
    assert_eq!(seen.evidence.unwrap().reasoning, evidence.reasoning);
    // Bad quantities are refused by field and nothing is stored.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM namespace_requests")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    let err = capacity::request_right_size(
        &w.app,
        &w.dev,
        CLUSTER,
        NS,
        RightSizeInput {
            requests_cpu: "lots".into(),
            requests_memory: "1Gi".into(),
            limits_cpu: "1".into(),
            limits_memory: "1Gi".into(),
            purpose: "x".into(),
        },
    )
    .await
    .unwrap_err();
    match err {
        Error::Invalid(f) => assert!(f.contains_key("quota.requests_cpu"), "{f:?}"),
        Error::Conflict { .. } => {} // the first change is still open: also nothing stored
        e => panic!("{e:?}"),
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM namespace_requests")
        .fetch_one(&w.app.db)
        .await
        .unwrap();
    assert_eq!(before, after);
}

/// A one-connection HTTP server that answers every request with `body` after `delay`.
async fn fake_prometheus(body: &'static str, delay: std::time::Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

#[sqlx::test(migrations = "../migrations")]
async fn prometheus_down_slow_or_garbage_is_a_clear_502_and_berth_keeps_working(db: PgPool) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let w = world(db, None, Some(closed)).await;
    let err = capacity::recommendations(&w.app, &w.dev, CLUSTER, NS, Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("cannot be reached")),
        "{err:?}"
    );

    let server = common::TestServer::serve_app(w.app.clone()).await;
    let dev = server.login("dev@example.com").await;
    let (status, body) = dev
        .get(&format!(
            "/api/v1/namespaces/{CLUSTER}/{NS}/recommendations"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["code"], "unavailable");
    // The team roll-up names the failing namespace and still answers.
    let (status, team) = dev.get("/api/v1/teams/payments/recommendations").await;
    assert_eq!(status, StatusCode::OK);
    assert!(team["namespaces"][0]["error"]
        .as_str()
        .unwrap()
        .contains("cannot be reached"));
    // Everything else keeps working.
    let (status, _) = dev.get(&format!("/api/v1/namespaces/{CLUSTER}/{NS}")).await;
    assert_eq!(status, StatusCode::OK);

    for (body, delay, says) in [
        ("<html>hello</html>", 0, "not its query API's JSON"),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
            0,
            "not a number",
        ),
        (
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            0,
            "refused a query",
        ),
        ("{}", 3, "did not answer in time"),
    ] {
        let url = fake_prometheus(body, std::time::Duration::from_secs(delay)).await;
        let mut config = (*w.app.config).clone();
        config.prometheus_url = Some(url);
        let mut app = w.app.clone();
        app.config = Arc::new(config);
        let err = capacity::recommendations(&app, &w.dev, CLUSTER, NS, Default::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Unavailable(m) if m.contains(says)),
            "{says}: {err:?}"
        );
    }

    // No Prometheus at all is said just as plainly.
    let mut config = (*w.app.config).clone();
    config.prometheus_url = None;
    let mut app = w.app.clone();
    app.config = Arc::new(config);
    let err = capacity::recommendations(&app, &w.dev, CLUSTER, NS, Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable(m) if m.contains("no Prometheus is configured")),
        "{err:?}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn headroom_packs_pods_onto_free_node_capacity_and_placement_ranks_pools(db: PgPool) {
    let w = world(db, None, None).await;
    let h = capacity::headroom(
        &w.app,
        &w.dev,
        CLUSTER,
        ShapeQuery {
            cpu: Some("1".into()),
            memory: Some("2Gi".into()),
        },
    )
    .await
    .unwrap();
    // general: 12 nodes of 15890m / 57Gi with six 1-CPU / 2Gi load pods each → 9890m and
    // 45Gi free per node: 9 more pods per node by CPU, 890m and 27Gi stranded per node.
    let general = h.pools.iter().find(|p| p.pool == "general").unwrap();
    assert_eq!(general.nodes, 12);
    assert_eq!(general.fits, 9 * 12);
    assert_eq!(general.stranded.cpu_millis, 890 * 12);
    assert_eq!(general.stranded.memory_bytes, 27 * 12 * (1 << 30));
    // high-memory: 6 nodes, one not ready; two 2-CPU / 24Gi pods per node → 11890m free: 11
    // per ready node.
    let high = h.pools.iter().find(|p| p.pool == "high-memory").unwrap();
    assert_eq!(high.fits, 11 * 5);

    let err = capacity::headroom(
        &w.app,
        &w.dev,
        CLUSTER,
        ShapeQuery {
            cpu: Some("-1".into()),
            memory: Some("lots".into()),
        },
    )
    .await
    .unwrap_err();
    match err {
        Error::Invalid(f) => assert!(f.contains_key("cpu") && f.contains_key("memory")),
        e => panic!("{e:?}"),
    }

    // The wizard's preview ranks pools by what is left after the quota.
    let preview = requests::preview(
        &w.app,
        &w.dev,
        NewNamespaceRequest {
            team: "payments".into(),
            environment: Some("prod".into()),
            spec: SpecChoice {
                preset: Some("L".into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!preview.placement.is_empty());
    assert!(preview.placement.iter().all(|p| p.environment == "prod"));
    let shares: Vec<f64> = preview
        .placement
        .iter()
        .filter(|p| p.fits && p.reason.is_none())
        .map(|p| p.headroom_after)
        .collect();
    assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_planner_applies_the_capacity_model_and_refuses_nonsense(db: PgPool) {
    let server = common::TestServer::start(db).await;
    common::user(&server.app, "dev@example.com", false).await;
    let dev = server.login("dev@example.com").await;
    let (status, plan) = dev
        .post(
            "/api/v1/capacity/plan",
            json!({"peak_traffic": 12000, "baseline_traffic": 2000, "pod_capacity": 400, "safety_factor": 1.5,
                   "pod_startup_seconds": 45, "node_ready_seconds": 120, "pods_per_node": 8, "peak_increment": 50,
                   "event_at": "2026-11-11T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["target_replicas"], 45);
    assert_eq!(plan["hpa_min_replicas"], 8);
    assert_eq!(plan["reserve_nodes_rounded"], 3);
    assert_eq!(plan["pre_scale"][0]["min_replicas"], 32);
    assert_eq!(plan["pre_scale"][0]["at"], "2026-11-10T23:30:00Z");
    let (status, body) = dev
        .post(
            "/api/v1/capacity/plan",
            json!({"peak_traffic": 100, "pod_capacity": 0, "safety_factor": 0.5,
                   "pod_startup_seconds": -1, "node_ready_seconds": 0, "pods_per_node": -2}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in [
        "pod_capacity",
        "safety_factor",
        "pod_startup_seconds",
        "pods_per_node",
    ] {
        assert!(body["error"]["fields"][f].is_string(), "{f}: {body}");
    }
    let (status, _) = server
        .anonymous()
        .post(
            "/api/v1/capacity/plan",
            json!({"peak_traffic": 1, "pod_capacity": 1, "safety_factor": 1, "pod_startup_seconds": 1,
                   "node_ready_seconds": 1, "pods_per_node": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A usage-aware policy: quota increases of at most one preset step are approved when the
/// namespace's CPU or memory use at p95 reached a share of its quota. The figures are read
/// from the real Prometheus when the change is filed, stored with it and shown to the
/// approver.
#[sqlx::test(migrations = "../migrations")]
async fn a_busy_namespace_gets_one_preset_step_more_without_waiting(db: PgPool) {
    use berth::tenancy::settings;
    use berth_frontend::api::{PolicyConditions, PolicyInput, QuotaChange};
    let w = world(db, Some(prometheus("busy").await), None).await;
    let policy = |min: u32| PolicyInput {
        name: "busy namespaces grow a step".into(),
        position: 0,
        enabled: true,
        conditions: PolicyConditions {
            kinds: vec!["quota_change".into()],
            min_usage_percent: Some(min),
            max_preset_steps: Some(1),
            ..Default::default()
        },
        action: "approve".into(),
    };
    // Bad conditions name their fields.
    for (bad, field) in [
        (
            PolicyInput {
                conditions: PolicyConditions {
                    min_usage_percent: Some(0),
                    ..policy(1).conditions
                },
                ..policy(1)
            },
            "conditions.min_usage_percent",
        ),
        (
            PolicyInput {
                conditions: PolicyConditions {
                    kinds: vec!["create".into()],
                    ..policy(1).conditions
                },
                ..policy(1)
            },
            "conditions.kinds",
        ),
        (
            PolicyInput {
                conditions: PolicyConditions {
                    max_preset_steps: Some(9),
                    ..policy(1).conditions
                },
                ..policy(1)
            },
            "conditions.max_preset_steps",
        ),
    ] {
        match settings::save_policy(&w.app, &w.admin, None, bad).await {
            Err(Error::Invalid(f)) => assert!(f.contains_key(field), "{f:?}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    let saved = settings::save_policy(&w.app, &w.admin, None, policy(100))
        .await
        .unwrap();
    let change = |preset: &str| QuotaChange {
        purpose: "traffic grew".into(),
        spec: SpecChoice {
            preset: Some(preset.into()),
            ..Default::default()
        },
        ..Default::default()
    };

    // Below the threshold: an admin decides, and sees the figures.
    let filed = requests::quota_change(&w.app, &w.dev, CLUSTER, NS, change("L"))
        .await
        .unwrap();
    assert_eq!(filed.request.state, "pending");
    let seen = requests::get(&w.app, &w.admin, filed.request.id)
        .await
        .unwrap();
    let usage = seen.usage.expect("usage stored with the request");
    assert_eq!(usage.error, None);
    assert_eq!(usage.quota_cpu_millis, 8000, "preset M");
    let cpu = usage.cpu_p95_cores.unwrap();
    let memory = usage.memory_p95_bytes.unwrap();
    assert!(cpu > 0.0 && memory > 0.0, "{usage:?}");
    assert!((usage.cpu_percent.unwrap() - cpu * 1000.0 / 8000.0 * 100.0).abs() < 1e-9);
    assert!(
        (usage.memory_percent.unwrap() - memory / usage.quota_memory_bytes as f64 * 100.0).abs()
            < 1e-9
    );
    requests::cancel(&w.app, &w.dev, filed.request.id)
        .await
        .unwrap();

    // At the threshold the policy approves one step (M → L), not two (M → XL).
    let busiest = usage
        .cpu_percent
        .unwrap()
        .max(usage.memory_percent.unwrap());
    settings::save_policy(
        &w.app,
        &w.admin,
        Some(saved.id),
        policy((busiest.floor() as u32).max(1)),
    )
    .await
    .unwrap();
    let two = requests::quota_change(&w.app, &w.dev, CLUSTER, NS, change("XL"))
        .await
        .unwrap();
    assert_eq!(two.request.state, "pending");
    requests::cancel(&w.app, &w.dev, two.request.id)
        .await
        .unwrap();
    let one = requests::quota_change(&w.app, &w.dev, CLUSTER, NS, change("L"))
        .await
        .unwrap();
    assert_ne!(one.request.state, "pending", "{:?}", one.request);
    assert_eq!(
        one.request.matched_policy.as_deref(),
        Some("busy namespaces grow a step")
    );
    assert!(one.usage.is_some());
}

/// The team cost report: the fleet's default price applies until a pool has its own;
/// committed is the quota's requests, requested and after right-sizing come from the same
/// Prometheus reading as the team's right-sizing; prices are validated by field and audited;
/// the CSV has one row per namespace and a total.
#[sqlx::test(migrations = "../migrations")]
async fn the_cost_report_prices_quotas_requests_and_right_sizing(db: PgPool) {
    use berth_frontend::api::PriceInput;
    let w = world(db, Some(prometheus("cost").await), None).await;
    let price = |cluster: Option<&str>, pool: Option<&str>, cpu: &str, memory: &str| PriceInput {
        cluster: cluster.map(str::to_owned),
        pool: pool.map(str::to_owned),
        cpu_core_hour: cpu.into(),
        memory_gib_hour: memory.into(),
        extended_hour: Default::default(),
    };
    // Nothing priced yet: the namespace is listed, its costs are None, the totals say so.
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    assert_eq!(r.namespaces.len(), 1);
    assert_eq!(r.namespaces[0].committed_cost, None);
    assert_eq!(r.totals.unpriced, 1);

    // Only admins set prices; bad ones are refused by field and nothing is stored.
    assert!(matches!(
        berth::cost::set_price(&w.app, &w.dev, price(None, None, "1", "1")).await,
        Err(Error::Forbidden(_))
    ));
    match berth::cost::set_price(
        &w.app,
        &w.admin,
        price(Some(CLUSTER), Some("nope"), "-1", "NaN"),
    )
    .await
    {
        Err(Error::Invalid(f)) => {
            for field in ["pool", "cpu_core_hour", "memory_gib_hour"] {
                assert!(f.contains_key(field), "{field}: {f:?}");
            }
        }
        other => panic!("expected field errors, got {other:?}"),
    }
    assert!(berth::cost::prices(&w.app, &w.dev)
        .await
        .unwrap()
        .is_empty());

    berth::cost::set_price(&w.app, &w.admin, price(None, None, "0.04", "0.005"))
        .await
        .unwrap();
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    let n = &r.namespaces[0];
    assert_eq!(n.price_from.as_deref(), Some("default"));
    // Preset M: 8 cores and 16 GiB of requests.
    let committed = (n.committed_cpu_cores * 0.04 + n.committed_memory_gib * 0.005) * 730.0;
    assert!((n.committed_cost.unwrap() - committed).abs() < 1e-6);
    assert!(n.error.is_none(), "{:?}", n.error);
    assert!(
        n.requested_cpu_cores > 0.0,
        "the pods' requests come from Prometheus"
    );
    let sizing = capacity::team_sizing(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    assert_eq!(
        n.requested_cpu_cores,
        sizing.namespaces[0].totals.current_cpu_cores
    );
    assert_eq!(
        n.recommended_cpu_cores,
        sizing.namespaces[0].totals.recommended_cpu_cores
    );
    let savings = (n.requested_cost.unwrap() - n.recommended_cost.unwrap()).max(0.0);
    assert!((n.savings.unwrap() - savings).abs() < 1e-9);
    assert!((r.totals.committed_cost - n.committed_cost.unwrap()).abs() < 1e-9);

    // Priced by its nodes' instance type (prod-shanghai-1's general pool: m6i.4xlarge,
    // on-demand, in cn-east-2) over the default: the hourly price split between a node's
    // cores and memory, adding up to it again. Only admins set it; bad input names its fields
    // and stores nothing.
    use berth_frontend::api::{InstancePriceInput, InstancePriceKey};
    let instance = |ty: &str, capacity: &str, region: &str, hour: &str| InstancePriceInput {
        instance_type: ty.into(),
        capacity: Some(capacity.into()),
        region: Some(region.into()),
        hour_price: hour.into(),
    };
    assert!(matches!(
        berth::cost::set_instance_price(&w.app, &w.dev, instance("m6i.4xlarge", "", "", "1")).await,
        Err(Error::Forbidden(_))
    ));
    match berth::cost::set_instance_price(
        &w.app,
        &w.admin,
        instance("m6i 4xlarge", "reserved", "cn/east", "-1"),
    )
    .await
    {
        Err(Error::Invalid(f)) => {
            for field in ["instance_type", "capacity", "region", "hour_price"] {
                assert!(f.contains_key(field), "{field}: {f:?}");
            }
        }
        other => panic!("expected field errors, got {other:?}"),
    }
    assert!(berth::cost::instance_prices(&w.app, &w.dev)
        .await
        .unwrap()
        .is_empty());
    // A spot price does not apply to an on-demand pool.
    berth::cost::set_instance_price(&w.app, &w.admin, instance("m6i.4xlarge", "spot", "", "0.3"))
        .await
        .unwrap();
    berth::cost::set_instance_price(&w.app, &w.admin, instance("m6i.4xlarge", "", "", "0.768"))
        .await
        .unwrap();
    let pool = berth::fleet::get(&w.app, &w.admin, CLUSTER)
        .await
        .unwrap()
        .cluster
        .pools
        .into_iter()
        .find(|p| p.name == "general")
        .unwrap();
    let nodes = f64::from(pool.node_count);
    let (cores, gib) = (
        pool.allocatable.cpu_millis as f64 / 1000.0 / nodes,
        pool.allocatable.memory_bytes as f64 / 1024f64.powi(3) / nodes,
    );
    let priced = |r: &berth_frontend::api::CostReport| {
        let n = r.namespaces[0].clone();
        let hour = cores * n.cpu_core_hour.unwrap() + gib * n.memory_gib_hour.unwrap();
        (n, hour)
    };
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    let (n, hour) = priced(&r);
    assert_eq!(n.price_from.as_deref(), Some("instance"));
    assert!((hour - 0.768).abs() < 1e-9, "{hour}");
    assert!(
        n.price_note
            .as_deref()
            .unwrap()
            .starts_with("m6i.4xlarge (on-demand) at 0.768/h"),
        "{n:?}"
    );
    // The region's own row wins over the one for any region, until it is removed.
    berth::cost::set_instance_price(
        &w.app,
        &w.admin,
        instance("m6i.4xlarge", "on_demand", "cn-east-2", "0.9"),
    )
    .await
    .unwrap();
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    assert!((priced(&r).1 - 0.9).abs() < 1e-9);
    let key = InstancePriceKey {
        instance_type: "m6i.4xlarge".into(),
        capacity: None,
        region: Some("cn-east-2".into()),
    };
    berth::cost::remove_instance_price(&w.app, &w.admin, key.clone())
        .await
        .unwrap();
    assert!(matches!(
        berth::cost::remove_instance_price(&w.app, &w.admin, key).await,
        Err(Error::NotFound(_))
    ));
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    assert!((priced(&r).1 - 0.768).abs() < 1e-9);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE action IN ('instance_price.set', 'instance_price.removed')",
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert_eq!(audited, 4);

    // The pool's own price wins over the instance type's and the default.
    berth::cost::set_price(
        &w.app,
        &w.admin,
        price(Some(CLUSTER), Some("general"), "0.08", "0.01"),
    )
    .await
    .unwrap();
    let r = berth::cost::report(&w.app, &w.dev, "payments", RecommendationQuery::default())
        .await
        .unwrap();
    assert_eq!(r.namespaces[0].price_from.as_deref(), Some("pool"));
    assert!((r.namespaces[0].committed_cost.unwrap() - 2.0 * committed).abs() < 1e-6);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'price.set'")
            .fetch_one(&w.app.db)
            .await
            .unwrap();
    assert_eq!(audited, 2);

    let csv = berth::cost::to_csv(&r).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].contains("committed_USD_per_month"));
    assert!(lines[1].starts_with(&format!("{CLUSTER},{NS},general,pool,")));
    assert!(lines[2].starts_with("total,"));

    // Another team's member sees nothing of it.
    assert!(matches!(
        berth::cost::report(
            &w.app,
            &w.outsider,
            "payments",
            RecommendationQuery::default()
        )
        .await,
        Err(Error::NotFound(_))
    ));
}
