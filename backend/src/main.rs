//! The `berth` binary: a thin command line over the library.

use std::io::BufRead;

use berth::{
    audit,
    auth::{password::NewPassword, Ctx},
    config::Config,
    people::{DisplayName, Email},
    telemetry, App, Server,
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Self-service tenancy for Kubernetes fleets"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve the portal and the API.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage platform admins. Passwords are read from the first line of standard input.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Demo data for people trying Berth.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Validate the configuration and exit.
    CheckConfig,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform admin")]
        name: String,
    },
    /// Set a new password for a user; their sessions end.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain, recomputing every hash; exit 1 naming the first broken row.
    /// With --checkpoints, also hold the trail to signed checkpoints: a rewritten or
    /// truncated trail fails even when every hash in it was recomputed.
    Verify {
        /// A file of checkpoints (BERTH_AUDIT_CHECKPOINT_FILE, or one a webhook collected).
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
        /// The signer's public key (base64); default: the one of BERTH_AUDIT_SIGNING_KEY.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Sign a checkpoint of the chain's head now (to the configured file and webhook) and
    /// print it.
    Checkpoint,
    /// Print the public key of BERTH_AUDIT_SIGNING_KEY, for verifiers.
    PublicKey,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Create the first admin (printing its one-time password once), a developer and demo
    /// teams. Safe to run again: what exists is left alone.
    Seed {
        /// Register the clusters of this fleet file (real ones, started by `bash scripts/cluster
        /// up`) by their `BERTH_KUBECONFIG` contexts instead of the simulated demo fleet.
        #[arg(long, env = "BERTH_DEMO_REAL_FLEET")]
        real_fleet: Option<std::path::PathBuf>,
        /// A Git repository (the demo's Git host) that dev-shanghai-1 of the simulated fleet
        /// delivers through, with its CA and a writer's user name and password.
        #[arg(long, env = "BERTH_DEMO_GIT_URL")]
        git_url: Option<String>,
        #[arg(long, env = "BERTH_DEMO_GIT_CA_FILE")]
        git_ca_file: Option<std::path::PathBuf>,
        #[arg(long, env = "BERTH_DEMO_GIT_USERNAME")]
        git_username: Option<String>,
        #[arg(long, env = "BERTH_DEMO_GIT_PASSWORD", hide_env_values = true)]
        git_password: Option<String>,
    },
    /// Serve the demo namespace's usage history from a local Prometheus (Debian's
    /// `prometheus` and `promtool`) until stopped; prints its URL first.
    Prometheus {
        /// Where the TSDB is built (emptied first).
        #[arg(long, default_value = ".berth/prometheus")]
        dir: std::path::PathBuf,
    },
}

fn read_password() -> anyhow::Result<NewPassword> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    NewPassword::parse("password", line).map_err(|e| {
        anyhow::anyhow!(
            "password from stdin: {}",
            e.detail()
                .fields
                .values()
                .next()
                .cloned()
                .unwrap_or_default()
        )
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init_logging(cli.config.log_json);
    if let Command::CheckConfig = cli.command {
        cli.config.validate().map_err(anyhow::Error::msg)?;
        if let Some(sso) = berth::auth::sso::Sso::from_config(&cli.config)? {
            println!("{}", sso.check().await?);
        }
        println!("configuration is valid");
        return Ok(());
    }
    if matches!(
        cli.command,
        Command::Serve | Command::Migrate | Command::Demo(_)
    ) {
        App::create_database_if_missing(&cli.config).await?;
    }
    let app = App::connect(cli.config).await?;
    match cli.command {
        Command::Serve => {
            app.migrate().await?;
            let app = start_simulator_if_needed(app).await?;
            berth::fleet::inventory::spawn_periodic_sync(app.clone());
            let workers = berth::jobs::spawn_workers(app.clone());
            berth::drills::spawn_scheduler(app.clone());
            berth::tenancy::drift::spawn_periodic_checks(app.clone());
            berth::gitops::simulated::spawn(app.clone());
            berth::demo::spawn_controllers(app.clone());
            audit::checkpoint::spawn_periodic(app.clone());
            let grace =
                std::time::Duration::from_secs(app.config.job_lease_seconds.saturating_sub(10));
            let server = Server::bind(app).await?;
            tracing::info!(address = %server.local_addr(), "Berth is serving");
            // SIGTERM: the server stops accepting and finishes in-flight requests, then the
            // workers finish the jobs in hand (leases hand back any they cannot).
            server.run_until_stopped(shutdown_signal()).await?;
            tracing::info!("stopping: finishing the jobs in hand");
            workers.stop(grace).await;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            app.migrate().await?;
            println!("migrations applied");
        }
        Command::Admin(AdminCommand::Create { email, name }) => {
            let email = Email::parse("email", &email)
                .map_err(|e| anyhow::anyhow!("--email {}", e.detail().fields["email"]))?;
            let name = DisplayName::parse("name", &name)
                .map_err(|e| anyhow::anyhow!("--name {}", e.detail().fields["name"]))?;
            let password = read_password()?;
            let user =
                berth::people::insert(&app, &Ctx::system("cli"), &email, &name, true, &password)
                    .await?;
            println!("created platform admin {}", user.email);
        }
        Command::Admin(AdminCommand::ResetPassword { email }) => {
            let email = Email::parse("email", &email)
                .map_err(|e| anyhow::anyhow!("--email {}", e.detail().fields["email"]))?;
            let password = read_password()?;
            berth::people::reset_password(&app, &Ctx::system("cli"), &email, &password).await?;
            println!(
                "password reset for {}; their sessions ended",
                email.as_str()
            );
        }
        Command::Audit(AuditCommand::Verify {
            checkpoints,
            public_key,
        }) => {
            let verification = audit::verify(&app.db).await?;
            if let Some((id, reason)) = verification.first_broken {
                eprintln!("audit trail broken at row {id}: {reason}");
                std::process::exit(1);
            }
            let Some(path) = checkpoints else {
                println!("audit trail intact: {} rows", verification.rows);
                return Ok(());
            };
            let key = match (public_key, &app.config.audit_signing_key) {
                (Some(k), _) => audit::checkpoint::verifying_key(&k)
                    .map_err(|e| anyhow::anyhow!("--public-key {e}"))?,
                (None, Some(k)) => audit::checkpoint::signing_key(k)
                    .map_err(|e| anyhow::anyhow!("BERTH_AUDIT_SIGNING_KEY {e}"))?
                    .verifying_key(),
                (None, None) => anyhow::bail!(
                    "give --public-key (or BERTH_AUDIT_SIGNING_KEY) to check checkpoints"
                ),
            };
            let list = audit::checkpoint::read(&path)?;
            use audit::checkpoint::Finding;
            match audit::checkpoint::check(&app.db, &list, &key).await? {
                Finding::Intact { checkpoints } => println!(
                    "audit trail intact: {} rows, {checkpoints} signed checkpoints hold",
                    verification.rows
                ),
                Finding::NotSigned { row } => {
                    eprintln!("the checkpoint of row {row} is not signed by this key");
                    std::process::exit(1);
                }
                Finding::Truncated { row, last } => {
                    eprintln!("audit trail truncated: a signed checkpoint names row {row}, the trail ends at row {last}");
                    std::process::exit(1);
                }
                Finding::Rewritten { row } => {
                    eprintln!("audit trail rewritten: row {row} no longer has the hash its signed checkpoint names (it or a row before it changed)");
                    std::process::exit(1);
                }
            }
        }
        Command::Audit(AuditCommand::Checkpoint) => match audit::checkpoint::take(&app).await {
            Ok(Some(c)) => println!("{}", serde_json::to_string(&c)?),
            Ok(None) => println!("no new rows since the last checkpoint"),
            Err(e) => anyhow::bail!("{e:?}"),
        },
        Command::Audit(AuditCommand::PublicKey) => {
            let key = app
                .config
                .audit_signing_key
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("BERTH_AUDIT_SIGNING_KEY is not set"))?;
            let key = audit::checkpoint::signing_key(key).map_err(anyhow::Error::msg)?;
            println!("{}", audit::checkpoint::public_key_text(&key));
        }
        Command::Demo(DemoCommand::Seed {
            real_fleet,
            git_url,
            git_ca_file,
            git_username,
            git_password,
        }) => {
            app.migrate().await?;
            let real = match real_fleet {
                Some(path) => Some(berth_fleet_sim::FleetSpec::from_yaml(
                    &std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                )?),
                None => None,
            };
            for line in berth::demo::seed(&app, real.as_ref()).await? {
                println!("{line}");
            }
            if let (Some(url), Some(ca), Some(username), Some(password)) =
                (git_url, git_ca_file, git_username, git_password)
            {
                let ca_pem = std::fs::read_to_string(&ca)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?;
                let git = berth::demo::DemoGit {
                    url,
                    ca_pem,
                    username,
                    password,
                };
                for line in berth::demo::gitops(&app, &git).await? {
                    println!("{line}");
                }
            }
        }
        Command::Demo(DemoCommand::Prometheus { dir }) => {
            let prometheus = berth::demo::prometheus(&dir).await?;
            println!("{}", prometheus.url);
            shutdown_signal().await;
            drop(prometheus);
        }
        Command::CheckConfig => unreachable!("handled before connecting"),
    }
    Ok(())
}

/// Runs the built-in fleet simulator when simulated clusters are registered (the demo
/// fleet), and syncs their inventory once before serving.
async fn start_simulator_if_needed(app: App) -> anyhow::Result<App> {
    let simulated = sqlx::query_scalar!(
        "SELECT count(*) AS \"n!\" FROM clusters WHERE connection = 'simulated'"
    )
    .fetch_one(&app.db)
    .await?;
    if simulated == 0 {
        return Ok(app);
    }
    let fleet = berth_fleet_sim::Fleet::start(berth_fleet_sim::FleetSpec::demo()).await?;
    tracing::info!(
        clusters = fleet.len(),
        "the simulated demo fleet is running in this process"
    );
    let app = app.with_simulator(std::sync::Arc::new(fleet));
    let outcomes = berth::fleet::inventory::sync_fleet(&app).await?;
    let reachable = outcomes.iter().filter(|o| o.reachable).count();
    tracing::info!(
        clusters = outcomes.len(),
        reachable,
        "initial fleet sync done"
    );
    berth::demo::namespaces(&app).await?;
    Ok(app)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
