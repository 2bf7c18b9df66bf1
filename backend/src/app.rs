//! Building Berth: the shared state every service call gets, and a server that tests start
//! on port 0 exactly as `berth serve` starts it on its configured address.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::FromRef, Router};
use leptos::config::LeptosOptions;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::net::TcpListener;

use crate::{auth::password, config::Config, http, telemetry, web};

/// What every service call needs. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub db: PgPool,
    pub config: Arc<Config>,
    /// See [`password::decoy_hash`].
    pub decoy_hash: Arc<str>,
    pub metrics: PrometheusHandle,
    pub leptos: LeptosOptions,
    pub sealer: crate::fleet::seal::Sealer,
    /// The built-in fleet simulator, when this server runs the demo fleet (or a test's).
    pub simulator: Option<Arc<berth_fleet_sim::Fleet>>,
    /// Kubernetes clients per cluster, reused across syncs and jobs.
    pub clients: crate::fleet::connect::ClientCache,
    /// The identity provider, when single sign-on is configured.
    pub sso: Option<Arc<crate::auth::sso::Sso>>,
    /// One Git operation per repository at a time in this process.
    pub git_locks: crate::gitops::Locks,
    /// Live updates for the browsers listening to this process.
    pub events: crate::events::Hub,
    /// Sessions and tokens answered from memory, kept true by Postgres notifications.
    pub credentials: crate::auth::cache::CredentialCache,
}

impl FromRef<App> for LeptosOptions {
    fn from_ref(app: &App) -> Self {
        app.leptos.clone()
    }
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

impl App {
    /// Connects to Postgres (waiting a little for it to come up) and builds the state.
    pub async fn connect(config: Config) -> anyhow::Result<App> {
        config.validate().map_err(anyhow::Error::msg)?;
        let db = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            .acquire_timeout(Duration::from_secs(10))
            // A connection used in the last few seconds is not pinged before it is handed out:
            // that ping was a second round trip for every one-query request (GET /api/v1/me went
            // from 7,113 to 10,047 req/s without it). One idle longer is, so a restarted
            // database costs no request an error unless its connection was in use just before.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > Duration::from_secs(5) {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(config.database_url.expose_secret())
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Postgres (DATABASE_URL): {e}"))?;
        App::new(db, config).await
    }

    pub async fn new(db: PgPool, config: Config) -> anyhow::Result<App> {
        let leptos = LeptosOptions::builder()
            .output_name("berth")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .build();
        Ok(App {
            db,
            decoy_hash: password::decoy_hash().await?.into(),
            metrics: telemetry::metrics_handle(),
            leptos,
            sealer: crate::fleet::seal::Sealer::new(config.secret_key.as_ref()),
            simulator: None,
            clients: Default::default(),
            sso: crate::auth::sso::Sso::from_config(&config)?.map(Arc::new),
            git_locks: Default::default(),
            events: Default::default(),
            credentials: crate::auth::cache::CredentialCache::new(Duration::from_secs(u64::from(
                config.credential_cache_seconds,
            ))),
            config: Arc::new(config),
        })
    }

    /// Creates the configured database when it does not exist yet (first run).
    pub async fn create_database_if_missing(config: &Config) -> anyhow::Result<()> {
        use sqlx::migrate::MigrateDatabase;
        let url = config
            .migrate_database_url
            .as_ref()
            .unwrap_or(&config.database_url)
            .expose_secret();
        if !sqlx::Postgres::database_exists(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Postgres (DATABASE_URL): {e}"))?
        {
            sqlx::Postgres::create_database(url).await?;
            tracing::info!("created the database");
        }
        Ok(())
    }

    /// Runs the given simulated fleet inside this server; clusters registered as
    /// `simulated` connect to it.
    pub fn with_simulator(mut self, fleet: Arc<berth_fleet_sim::Fleet>) -> Self {
        self.simulator = Some(fleet);
        self
    }

    /// Applies pending migrations as the schema's owner (BERTH_MIGRATE_DATABASE_URL), or as
    /// Berth's own role when no owner is configured.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.config.migrate_database_url {
            Some(url) => {
                let owner = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url.expose_secret())
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot connect to Postgres (BERTH_MIGRATE_DATABASE_URL): {e}"
                        )
                    })?;
                MIGRATOR.run(&owner).await?;
                owner.close().await;
            }
            None => MIGRATOR.run(&self.db).await?,
        }
        Ok(())
    }

    /// The whole HTTP application: API, pages, static files.
    pub fn router(&self) -> Router {
        http::router(self.clone(), web::pages(self))
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    app: App,
}

impl Server {
    pub async fn bind(app: App) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(app.config.listen).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {} (BERTH_LISTEN): {e}", app.config.listen)
        })?;
        // Heard from the start, so the first callers are answered from memory and an idle
        // replica reports `berth_credential_memory_trusted` truly.
        app.credentials.start(&app.db);
        Ok(Server { listener, app })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.app.router();
        let events = self.app.events.clone();
        // Live-update streams never end by themselves: end them first, or the graceful
        // shutdown would wait for every browser to leave.
        let shutdown = async move {
            shutdown.await;
            events.close();
        };
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
