//! The real clusters the test command starts (`testplane/`: etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok for each cluster of
//! `testplane/fleets/pair.yaml`). Berth reaches each by the kubeconfig context named like the
//! cluster, as a ServiceAccount bound to exactly the Helm chart's ClusterRole, so the real
//! RBAC authorizer checks that the chart grants enough. `<cluster>-admin` contexts let a test
//! play what Berth does not run (Velero, the tenants' workloads).
//!
//! `BERTH_TEST_KUBECONFIG` names the kubeconfig and `BERTH_TEST_FLEET` the fleet file that
//! describes its clusters (default `testplane/fleets/pair.yaml`). Without a kubeconfig these
//! tests say so and pass, unless `BERTH_REQUIRE_CLUSTERS` is set, as `bash scripts/test` sets
//! it. All tests share the clusters, so every namespace a test makes has a unique name.

use std::{future::Future, path::PathBuf, time::Duration};

use berth::{auth::Ctx, config::Config, jobs, App};
use berth_fleet_sim::FleetSpec;
use berth_frontend::api::{ClusterUpdate, Connection, NewCluster, NewTeam};
use kube::{
    config::{KubeConfigOptions, Kubeconfig},
    Client,
};
use sqlx::PgPool;

use super::{session_ctx, user};

pub struct Real {
    pub app: App,
    pub fleet: FleetSpec,
    pub kubeconfig: PathBuf,
    pub admin: Ctx,
    pub dev: Ctx,
    pub outsider: Ctx,
}

/// The kubeconfig of the real clusters, or None (after saying why) when there is none.
pub fn kubeconfig() -> Option<PathBuf> {
    match std::env::var("BERTH_TEST_KUBECONFIG") {
        Ok(path) => Some(path.into()),
        Err(_) if std::env::var_os("BERTH_REQUIRE_CLUSTERS").is_some() => {
            panic!("BERTH_REQUIRE_CLUSTERS is set but BERTH_TEST_KUBECONFIG is not: start the clusters with `bash scripts/cluster up`")
        }
        Err(_) => {
            eprintln!("skipped: BERTH_TEST_KUBECONFIG is not set (bash scripts/test starts real clusters; so does bash scripts/cluster up)");
            None
        }
    }
}

pub fn fleet_spec() -> FleetSpec {
    let path = std::env::var("BERTH_TEST_FLEET").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../testplane/fleets/pair.yaml").to_owned()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    FleetSpec::from_yaml(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Berth on a fresh database with every real cluster registered by context, paired and
/// synced; `admin@example.com` (admin), `dev@example.com` owning payments and
/// `outsider@example.com` owning search.
pub async fn real_world(db: PgPool) -> Option<Real> {
    real_world_configured(db, |_| {}).await
}

pub async fn real_world_configured(
    db: PgPool,
    configure: impl FnOnce(&mut Config),
) -> Option<Real> {
    let kubeconfig = kubeconfig()?;
    let fleet = fleet_spec();
    let mut config = Config::for_tests("postgres://unused");
    config.kubeconfig = Some(kubeconfig.clone());
    // A busy machine: a real apiserver may take a while to answer.
    config.sync_timeout_seconds = 30;
    configure(&mut config);
    let app = App::new(db, config).await.expect("app builds");
    user(&app, "admin@example.com", true).await;
    user(&app, "dev@example.com", false).await;
    user(&app, "outsider@example.com", false).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    for (team, owner) in [
        ("payments", "dev@example.com"),
        ("search", "outsider@example.com"),
    ] {
        berth::teams::create(
            &app,
            &admin,
            NewTeam {
                name: team.into(),
                display_name: team.into(),
                owner_email: Some(owner.into()),
            },
        )
        .await
        .unwrap();
    }
    for c in &fleet.clusters {
        berth::fleet::create(
            &app,
            &admin,
            NewCluster {
                name: c.name.clone(),
                display_name: c.display_name.clone().unwrap_or_else(|| c.name.clone()),
                region: c.region.clone(),
                environment: c.environment.clone(),
                layer: c.layer.clone(),
                dr_pair: None,
                labels: Default::default(),
                connection: Connection::Kubeconfig {
                    context: c.name.clone(),
                },
            },
        )
        .await
        .unwrap_or_else(|e| panic!("registering {}: {e:?}", c.name));
    }
    for c in &fleet.clusters {
        if let Some(pair) = &c.dr_pair {
            berth::fleet::update(
                &app,
                &admin,
                &c.name,
                ClusterUpdate {
                    dr_pair: Some(pair.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    }
    for outcome in berth::fleet::inventory::sync_fleet(&app).await.unwrap() {
        assert!(
            outcome.reachable,
            "sync of {}: {:?}",
            outcome.cluster, outcome.error
        );
    }
    Some(Real {
        dev: session_ctx(&app, "dev@example.com").await,
        outsider: session_ctx(&app, "outsider@example.com").await,
        admin,
        app,
        fleet,
        kubeconfig,
    })
}

impl Real {
    /// cluster-admin on `cluster`, for playing controllers and tenants.
    pub async fn admin_client(&self, cluster: &str) -> Client {
        client_for(&self.kubeconfig, &format!("{cluster}-admin")).await
    }

    /// Berth's own identity on `cluster` (the chart's ClusterRole).
    pub async fn berth_client(&self, cluster: &str) -> Client {
        client_for(&self.kubeconfig, cluster).await
    }

    /// The first cluster of the fleet and its first pool without taints.
    pub fn primary(&self) -> (String, String) {
        let c = &self.fleet.clusters[0];
        let pool = c
            .node_pools
            .iter()
            .find(|p| p.taints.is_empty())
            .expect("an untainted pool");
        (c.name.clone(), pool.name.clone())
    }
}

pub async fn client_for(kubeconfig: &PathBuf, context: &str) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("the kubeconfig parses");
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .unwrap_or_else(|e| panic!("context {context}: {e}"));
    Client::try_from(config).unwrap()
}

/// A namespace name of `team` no other test uses: `<team>-<what>-<6 hex>`.
pub fn unique(team: &str, what: &str) -> String {
    format!(
        "{team}-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}

/// Polls `check` until it yields a value. Real controllers take their time, more so on a
/// busy machine: this waits for the state, never for a fixed time, and gives up only after
/// two minutes, naming what it waited for.
pub async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs Berth's jobs (treating anything scheduled for later as due now) until `done` holds,
/// with the same patience as [`until`].
pub async fn run_jobs_until<F, Fut>(app: &App, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        jobs::drain(app).await.unwrap();
        sqlx::query!("UPDATE jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()")
            .execute(&app.db)
            .await
            .unwrap();
        if done().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
