//! Demo data, so a newcomer can try every feature right after the run command.

use berth_frontend::api::{
    GroupGrant, NewGroupRule, NewMember, NewTeam, RequestState, SpecChoice, TeamRole,
};

use crate::{
    auth::{password::NewPassword, random_secret, sessions::acting_as, Ctx},
    people::{self, DisplayName, Email},
    teams, App, Error, Result,
};

pub const ADMIN_EMAIL: &str = "admin@berth.local";
pub const DEVELOPER_EMAIL: &str = "dev@berth.local";

/// Creates what is missing and says what it did; passwords are printed only when created.
/// With `real`, its clusters are registered by kubeconfig context (real control planes from
/// `bash scripts/cluster up`) instead of the simulated demo fleet.
pub async fn seed(app: &App, real: Option<&berth_fleet_sim::FleetSpec>) -> Result<Vec<String>> {
    let system = Ctx::system("demo-seed");
    let mut said = Vec::new();
    match ensure_user(app, &system, ADMIN_EMAIL, "Platform admin", true).await? {
        Some(password) => said.push(format!(
            "first admin: {ADMIN_EMAIL}  one-time password: {password}  (shown once; change it under Account)"
        )),
        None => said.push(format!("admin {ADMIN_EMAIL} exists; reset its password with `berth admin reset-password`")),
    }
    if let Some(password) =
        ensure_user(app, &system, DEVELOPER_EMAIL, "Demo developer", false).await?
    {
        said.push(format!(
            "developer: {DEVELOPER_EMAIL}  one-time password: {password}  (shown once)"
        ));
    }

    // Team creation goes through the service layer, acting as the seeded admin.
    let as_admin = acting_as(app, ADMIN_EMAIL, "demo-seed")
        .await?
        .ok_or(Error::NotFound("the demo admin"))?;
    for (name, display, owner) in [
        ("payments", "Payments", Some(DEVELOPER_EMAIL)),
        ("search", "Search", None),
        ("data-platform", "Data platform", None),
    ] {
        let input = NewTeam {
            name: name.into(),
            display_name: display.into(),
            owner_email: owner.map(Into::into),
        };
        match teams::create(app, &as_admin, input).await {
            Ok(_) => said.push(format!("team {name} created")),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let added = teams::add_member(
        app,
        &as_admin,
        "search",
        NewMember {
            email: DEVELOPER_EMAIL.into(),
            role: TeamRole::Member,
        },
    )
    .await;
    match added {
        Ok(_) | Err(Error::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }

    // Group rules for single sign-on (the demo's identity provider, testplane/idp/users.json,
    // puts its people in these groups).
    for (group, team, grant) in [
        ("payments", Some("payments"), GroupGrant::Member),
        ("payments-leads", Some("payments"), GroupGrant::Owner),
        ("platform-admins", None, GroupGrant::Admin),
    ] {
        let input = NewGroupRule {
            provider_group: group.into(),
            team: team.map(Into::into),
            grant,
        };
        match crate::group_rules::create(app, &as_admin, input).await {
            Ok(_) => said.push(format!("group rule {group} created")),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }

    // The simulated demo fleet, when no cluster is configured.
    let budgets = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM team_budgets")
        .fetch_one(&app.db)
        .await?;
    if budgets == 0 {
        let input = berth_frontend::api::BudgetInput {
            cluster: None,
            cpu: "64".into(),
            memory: "256Gi".into(),
            storage: "4Ti".into(),
            extended: [("nvidia.com/gpu".to_owned(), "8".to_owned())].into(),
        };
        crate::tenancy::settings::set_budget(app, &as_admin, "payments", input).await?;
        said.push(
            "budget for payments: 64 CPU, 256Gi memory, 4Ti storage, 8 nvidia.com/gpu fleet-wide"
                .into(),
        );
    }

    let prices = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM prices")
        .fetch_one(&app.db)
        .await?;
    if prices == 0 {
        // On-demand list prices of the kind clouds charge, for the cost report.
        let input = berth_frontend::api::PriceInput {
            cpu_core_hour: "0.0316".into(),
            memory_gib_hour: "0.0042".into(),
            extended_hour: [("nvidia.com/gpu".to_owned(), "2.48".to_owned())].into(),
            ..Default::default()
        };
        crate::cost::set_price(app, &as_admin, input).await?;
        said.push(
            "default price: 0.0316 per core-hour, 0.0042 per GiB-hour, 2.48 per GPU-hour".into(),
        );
    }
    let instance_prices = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM instance_prices")
        .fetch_one(&app.db)
        .await?;
    if instance_prices == 0 {
        // Illustrative hourly prices for the demo fleet's AWS instance types, so its pools
        // are priced through their nodes' labels (the spot pool at its spot price).
        for (instance_type, capacity, hour_price) in [
            ("m6i.4xlarge", "on_demand", "0.768"),
            ("r6i.4xlarge", "on_demand", "1.008"),
            ("c6i.8xlarge", "on_demand", "1.36"),
            ("c6i.8xlarge", "spot", "0.52"),
        ] {
            let input = berth_frontend::api::InstancePriceInput {
                instance_type: instance_type.into(),
                capacity: Some(capacity.into()),
                region: None,
                hour_price: hour_price.into(),
            };
            crate::cost::set_instance_price(app, &as_admin, input).await?;
        }
        said.push(
            "instance prices: m6i.4xlarge, r6i.4xlarge, c6i.8xlarge (on-demand and spot)".into(),
        );
    }

    let clusters = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM clusters")
        .fetch_one(&app.db)
        .await?;
    if clusters == 0 {
        if let Some(fleet) = real {
            register_real(app, &as_admin, fleet).await?;
            said.push(format!(
                "real demo fleet registered: {} clusters, reached through BERTH_KUBECONFIG",
                fleet.clusters.len()
            ));
            return Ok(said);
        }
        let fleet = berth_fleet_sim::FleetSpec::demo();
        for spec in &fleet.clusters {
            crate::fleet::register_simulated(app, &as_admin, spec).await?;
        }
        crate::fleet::pair_simulated(app, &fleet).await?;
        said.push(format!(
            "simulated demo fleet registered: {} clusters (they run inside `berth serve`)",
            fleet.clusters.len()
        ));
    }
    Ok(said)
}

/// The demo's Git host: a repository the simulated dev cluster delivers through.
pub struct DemoGit {
    pub url: String,
    pub ca_pem: String,
    pub username: String,
    pub password: String,
}

/// The simulated cluster that delivers through Git in the demo.
pub const GITOPS_CLUSTER: &str = "dev-shanghai-1";

/// Registers the demo's repository (or updates its credentials and CA, which its host keeps
/// across restarts), has dev-shanghai-1 deliver through it, and adds a recurring change
/// window on prod so the freeze calendar has something to show.
pub async fn gitops(app: &App, git: &DemoGit) -> Result<Vec<String>> {
    use berth_frontend::api::{DeliveryInput, NewFreezeWindow, NewGitRepository};
    let mut said = Vec::new();
    let as_admin = acting_as(app, ADMIN_EMAIL, "demo-seed")
        .await?
        .ok_or(Error::NotFound("the demo admin"))?;
    let input = NewGitRepository {
        name: "platform-gitops".into(),
        url: git.url.clone(),
        auth: "basic".into(),
        username: Some(git.username.clone()),
        secret: Some(git.password.clone()),
        ca_pem: Some(git.ca_pem.clone()),
        ..Default::default()
    };
    match crate::gitops::repositories::create(app, &as_admin, input.clone()).await {
        Ok(_) => said.push(format!(
            "Git repository platform-gitops registered: {}",
            git.url
        )),
        Err(Error::Conflict { .. }) => {
            crate::gitops::repositories::update(app, &as_admin, "platform-gitops", input).await?;
        }
        Err(e) => return Err(e),
    }
    let simulated = sqlx::query_scalar!(
        "SELECT delivery FROM clusters WHERE name = $1 AND connection = 'simulated'",
        GITOPS_CLUSTER
    )
    .fetch_optional(&app.db)
    .await?;
    if simulated.as_deref() == Some("direct") {
        let delivery = DeliveryInput {
            mode: "gitops".into(),
            repository: Some("platform-gitops".into()),
            ..Default::default()
        };
        crate::gitops::repositories::set_delivery(app, &as_admin, GITOPS_CLUSTER, delivery).await?;
        said.push(format!(
            "{GITOPS_CLUSTER} delivers through Git: namespaces are commits to platform-gitops, synced by the demo's stand-in for Flux"
        ));
    }
    let freezes = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM freeze_windows")
        .fetch_one(&app.db)
        .await?;
    if freezes == 0 {
        let window = NewFreezeWindow {
            name: "Friday release freeze".into(),
            reason: "No prod changes before the weekend".into(),
            environments: vec!["prod".into()],
            schedule: Some("0 16 * * 5".into()),
            duration_minutes: Some(4 * 60),
            timezone: Some("Asia/Shanghai".into()),
            ..Default::default()
        };
        crate::tenancy::freeze::create(app, &as_admin, window).await?;
        said.push("change window: prod is frozen Fridays 16:00–20:00 Asia/Shanghai".into());
    }
    Ok(said)
}

/// Registers every cluster of `fleet` by the kubeconfig context of its name (probed like
/// any registration), then pairs them.
async fn register_real(app: &App, ctx: &Ctx, fleet: &berth_fleet_sim::FleetSpec) -> Result<()> {
    use berth_frontend::api::{ClusterUpdate, Connection, NewCluster};
    for c in &fleet.clusters {
        let input = NewCluster {
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
        };
        crate::fleet::create(app, ctx, input).await?;
    }
    for c in &fleet.clusters {
        if let Some(pair) = &c.dr_pair {
            let update = ClusterUpdate {
                dr_pair: Some(pair.clone()),
                ..Default::default()
            };
            crate::fleet::update(app, ctx, &c.name, update).await?;
        }
    }
    Ok(())
}

/// The demo namespace whose usage the demo Prometheus carries.
pub const DEMO_NAMESPACE: (&str, &str) = ("prod-shanghai-1", "payments-checkout");

/// On a fresh demo (the simulated fleet synced, no request ever made), the developer asks
/// for `payments-checkout` and `payments-batch` and the admin approves them, so capacity,
/// drills, usage and the pinning proof have namespaces to show; the job workers provision
/// them.
pub async fn namespaces(app: &App) -> Result<()> {
    let requests = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM namespace_requests")
        .fetch_one(&app.db)
        .await?;
    let (Some(dev), Some(admin)) = (
        acting_as(app, DEVELOPER_EMAIL, "demo").await?,
        acting_as(app, ADMIN_EMAIL, "demo").await?,
    ) else {
        return Ok(());
    };
    if requests > 0 {
        return Ok(());
    }
    let (cluster, name) = DEMO_NAMESPACE;
    let checkout = (
        "Demo: the checkout services (their usage is in the demo Prometheus)",
        "M",
    );
    request_approved(app, &dev, &admin, cluster, name, "general", checkout).await?;
    // A batch namespace on prod-beijing-1's spot pool, a cluster like EKS with no pinning
    // plugin; the simulator evaluates no admission policy, so its proof says "not enforced"
    // and the dashboard warns, as it would for such a real cluster.
    let batch = ("Demo: nightly settlement jobs on spot nodes", "S");
    request_approved(
        app,
        &dev,
        &admin,
        "prod-beijing-1",
        "payments-batch",
        "spot",
        batch,
    )
    .await?;
    Ok(())
}

/// Payments asks for `name` on `cluster`'s `pool` with (purpose, preset); the admin approves
/// it unless a policy already did.
async fn request_approved(
    app: &App,
    dev: &Ctx,
    admin: &Ctx,
    cluster: &str,
    name: &str,
    pool: &str,
    (purpose, preset): (&str, &str),
) -> Result<()> {
    let request = crate::tenancy::requests::create(
        app,
        dev,
        berth_frontend::api::NewNamespaceRequest {
            team: "payments".into(),
            cluster: cluster.into(),
            name: name.into(),
            node_pool: pool.into(),
            purpose: purpose.into(),
            spec: SpecChoice {
                preset: Some(preset.into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    if request.request.state == RequestState::Pending {
        crate::tenancy::requests::approve(app, admin, request.request.id, Default::default())
            .await?;
    }
    Ok(())
}

/// Writes the demo namespace's usage (7 days to now, as cAdvisor and kube-state-metrics
/// would have it, labelled with its cluster) and serves it from Debian's Prometheus.
pub async fn prometheus(
    dir: &std::path::Path,
) -> anyhow::Result<crate::capacity::synth::LocalPrometheus> {
    use crate::capacity::synth;
    let (cluster, name) = DEMO_NAMESPACE;
    let end = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let file = dir.with_extension("om");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    synth::write_openmetrics(
        &mut out,
        Some(("cluster", cluster)),
        &synth::demo_workloads(name, end, 7.0),
        30.0,
        300.0,
    )?;
    drop(out);
    synth::LocalPrometheus::start(&file, dir).await
}

/// Creates the user unless one with this email exists; answers the new password.
async fn ensure_user(
    app: &App,
    ctx: &Ctx,
    email: &str,
    name: &str,
    is_admin: bool,
) -> Result<Option<String>> {
    let email = Email::parse("email", email)?;
    let name = DisplayName::parse("name", name)?;
    let exists = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email.as_str())
        .fetch_optional(&app.db)
        .await?
        .is_some();
    if exists {
        return Ok(None);
    }
    let password = NewPassword::parse("password", &random_secret())?;
    people::insert(app, ctx, &email, &name, is_admin, &password).await?;
    Ok(Some(password.as_str().to_owned()))
}

/// The demo plays what a real cluster runs beside its API server, on the simulated clusters:
/// - Velero, where the cluster has it, so a newcomer's restore drill reaches a verdict: each
///   live Berth namespace gets a Completed backup every six hours (as a Velero Schedule makes
///   them), a Backup someone asks for completes at once, and a Restore completes — every
///   fifth one partially fails, as real restores sometimes do — with its scratch namespace and
///   copies of the source's Deployments, ready;
/// - the demo namespace's workloads (the pods of the demo Prometheus history) and the quota
///   controller's count of their requests in `berth-quota`'s status, so "used" on the
///   namespace page is what those pods request.
///
/// Real clusters run Velero and the quota controller themselves.
pub fn spawn_controllers(app: App) {
    let Some(fleet) = app.simulator.clone() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            if let Err(e) = play_velero(&app, &fleet).await {
                tracing::info!(error = %e, "the demo's Velero will try again");
            }
            play_workloads(&fleet);
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
    });
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The objects of `plural` in `namespace` of a simulated cluster.
fn listed(
    sim: &berth_fleet_sim::SimCluster,
    plural: &str,
    namespace: &str,
) -> Vec<serde_json::Value> {
    let resource = sim.state().resource(plural);
    sim.store()
        .list(&resource, Some(namespace), None)
        .0
        .into_iter()
        .filter_map(|(_, text)| serde_json::from_str(&text).ok())
        .collect()
}

async fn play_velero(app: &App, fleet: &berth_fleet_sim::Fleet) -> Result<()> {
    use serde_json::json;
    let now = time::OffsetDateTime::now_utc();
    let live = sqlx::query!(
        "SELECT c.name AS cluster, n.name FROM namespaces n JOIN clusters c ON c.id = n.cluster_id
         WHERE c.connection = 'simulated' AND n.state IN ('ready', 'failed')"
    )
    .fetch_all(&app.db)
    .await?;
    const EVERY: i64 = 6 * 3600;
    for n in live {
        let Some(sim) = fleet.cluster(&n.cluster).filter(|s| s.spec().velero) else {
            continue;
        };
        let slot = now.unix_timestamp() / EVERY;
        let name = format!("berth-demo-{}-{slot}", n.name);
        if sim.get("backups", Some("velero"), &name).is_none() {
            let start = time::OffsetDateTime::from_unix_timestamp(slot * EVERY).unwrap_or(now);
            let created = sim.create("backups", json!({"apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": "velero", "labels": {"velero.io/schedule-name": "berth-demo-every-6h"}},
                "spec": {"includedNamespaces": [n.name]}}));
            if created.is_ok() {
                sim.set_status("backups", Some("velero"), &name, json!({"phase": "Completed",
                    "startTimestamp": rfc3339(start), "completionTimestamp": rfc3339(start + time::Duration::minutes(4))}));
            }
        }
    }
    for sim in fleet.clusters().filter(|s| s.spec().velero) {
        for backup in listed(sim, "backups", "velero") {
            if backup.pointer("/status/phase").is_none() {
                let name = backup["metadata"]["name"].as_str().unwrap_or_default();
                sim.set_status(
                    "backups",
                    Some("velero"),
                    name,
                    json!({"phase": "Completed",
                    "startTimestamp": rfc3339(now), "completionTimestamp": rfc3339(now)}),
                );
            }
        }
        for restore in listed(sim, "restores", "velero") {
            if restore.pointer("/status/phase").is_some() {
                continue;
            }
            let name = restore["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut items = 0;
            if let Some(mapping) = restore
                .pointer("/spec/namespaceMapping")
                .and_then(|m| m.as_object())
            {
                for (source, target) in mapping {
                    let Some(target) = target.as_str() else {
                        continue;
                    };
                    let _ = sim.create(
                        "namespaces",
                        json!({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": target, "labels": {"velero.io/restore-name": name}}}),
                    );
                    items += 1;
                    for mut deployment in listed(sim, "deployments", source) {
                        let replicas = deployment
                            .pointer("/spec/replicas")
                            .and_then(|r| r.as_i64())
                            .unwrap_or(1);
                        let dname = deployment["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        deployment["metadata"] = json!({"name": dname, "namespace": target});
                        deployment.as_object_mut().map(|o| o.remove("status"));
                        if sim.create("deployments", deployment).is_ok() {
                            sim.set_status(
                                "deployments",
                                Some(target),
                                &dname,
                                json!({"replicas": replicas, "readyReplicas": replicas}),
                            );
                            items += 1;
                        }
                    }
                }
            }
            // Every fifth restore partially fails (by its name, so a retry reads the same).
            use sha2::Digest;
            let partial = sha2::Sha256::digest(name.as_bytes())[0] % 5 == 0;
            let (phase, errors, total) = if partial {
                ("PartiallyFailed", 2, items + 2)
            } else {
                ("Completed", 0, items)
            };
            sim.set_status("restores", Some("velero"), &name, json!({"phase": phase,
                "startTimestamp": rfc3339(now), "completionTimestamp": rfc3339(now),
                "progress": {"itemsRestored": items, "totalItems": total}, "warnings": 0, "errors": errors}));
        }
    }
    Ok(())
}

/// The demo namespace's pods (as the demo Prometheus history has them) and its quota's count
/// of their requests.
fn play_workloads(fleet: &berth_fleet_sim::Fleet) {
    use serde_json::json;
    let (cluster, namespace) = DEMO_NAMESPACE;
    let Some(sim) = fleet.cluster(cluster) else {
        return;
    };
    if sim.get("namespaces", None, namespace).is_none() {
        return;
    }
    // (pod, container, app, CPU cores, memory MiB, memory limit MiB)
    type DemoPod = (
        &'static str,
        &'static str,
        &'static str,
        f64,
        i64,
        Option<i64>,
    );
    let pods: [DemoPod; 5] = [
        (
            "checkout-api-7d4b9c-x2k9p",
            "api",
            "checkout-api",
            1.0,
            1024,
            Some(1536),
        ),
        (
            "checkout-api-7d4b9c-m4q7t",
            "api",
            "checkout-api",
            1.0,
            1024,
            Some(1536),
        ),
        (
            "checkout-api-7d4b9c-z8w3n",
            "api",
            "checkout-api",
            1.0,
            1024,
            Some(1536),
        ),
        (
            "checkout-worker-7d4b9c-q1a2b",
            "worker",
            "checkout-worker",
            0.25,
            512,
            None,
        ),
        (
            "checkout-db-0",
            "postgres",
            "checkout-db",
            2.0,
            4096,
            Some(4096),
        ),
    ];
    let (mut cpu_millis, mut memory_mib) = (0i64, 0i64);
    for (pod, container, app, cpu, memory, limit) in pods {
        let millis = (cpu * 1000.0) as i64;
        cpu_millis += millis;
        memory_mib += memory;
        if sim.get("pods", Some(namespace), pod).is_some() {
            continue;
        }
        let mut resources =
            json!({"requests": {"cpu": format!("{millis}m"), "memory": format!("{memory}Mi")}});
        if let Some(l) = limit {
            resources["limits"] = json!({"memory": format!("{l}Mi")});
        }
        let created = sim.create("pods", json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": namespace, "labels": {"app": app}},
            "spec": {"containers": [{"name": container, "image": format!("registry.example.com/payments/{app}:1.4.2"),
                                     "resources": resources}]}}));
        if created.is_ok() {
            sim.set_status("pods", Some(namespace), pod, json!({"phase": "Running"}));
        }
    }
    if let Some(quota) = sim.get(
        "resourcequotas",
        Some(namespace),
        crate::tenancy::objects::QUOTA_NAME,
    ) {
        let hard = quota.pointer("/spec/hard").cloned().unwrap_or_default();
        let used = json!({"requests.cpu": format!("{cpu_millis}m"), "requests.memory": format!("{memory_mib}Mi"),
                          "pods": pods.len().to_string()});
        if quota.pointer("/status/used") != Some(&used) {
            sim.set_status(
                "resourcequotas",
                Some(namespace),
                crate::tenancy::objects::QUOTA_NAME,
                json!({"hard": hard, "used": used}),
            );
        }
    }
}
