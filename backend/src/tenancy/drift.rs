//! The usage and drift check: every ready namespace's objects read back from its cluster and
//! compared with what Berth applies (quantities as quantities), the quota's `status.used`
//! kept, and namespaces labelled managed-by=berth that Berth does not know listed as
//! out-of-band. Periodic (`BERTH_DRIFT_INTERVAL_SECONDS`) and on demand.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use berth_frontend::api::{DriftItem, DriftSource};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::{Api, DynamicObject, ListParams},
    Client,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    objects,
    provision::{api, describe, desired, facts, forget_shared, record_proof, shared, Facts},
};
use crate::{fleet::connect, gitops::files, App, Error, Result};

/// Cluster-scoped objects shared by many namespaces (the pool and workload policies), read
/// once per cluster check: (kind, name) → the live object, or None when it is missing.
type Shared = HashMap<(&'static str, String), Option<DynamicObject>>;

/// A GitOps namespace's view of its repository: the objects of its folder and of the
/// cluster's shared folder, by file name.
struct InRepo<'a> {
    own: Option<&'a BTreeMap<String, Value>>,
    shared: Option<&'a BTreeMap<String, Value>>,
}

/// Reads one namespace's quota status and compares its objects with the desired ones — and,
/// on a GitOps cluster, the repository with the desired objects and the cluster with the
/// repository.
async fn check_namespace(
    app: &App,
    client: &Client,
    f: &Facts,
    cache: &mut Shared,
    repo: Option<InRepo<'_>>,
) -> Result<()> {
    let manifests = desired(app, f).unwrap_or_default();
    let mut drift = Vec::new();
    let mut usage = None;
    // Shared objects the repository lacks or has otherwise: committed again by the next apply.
    let mut recommit: Vec<(String, String)> = Vec::new();
    for (kind, name, manifest) in &manifests {
        // What the cluster should have: Git's copy on a GitOps cluster, when Git has one.
        let mut expected = manifest;
        if let Some(repo) = &repo {
            let folder = if shared(kind) { repo.shared } else { repo.own };
            match folder.and_then(|files| files.get(&files::file_name(kind, name))) {
                Some(committed) => {
                    let mut differences = objects::described_differences(manifest, committed);
                    let extra: Vec<String> = objects::differences(committed, manifest)
                        .into_iter()
                        .filter(|p| !differences.iter().any(|d| d.starts_with(&format!("{p}:"))))
                        .map(|p| format!("{p}: missing → (in Git only)"))
                        .collect();
                    differences.extend(extra);
                    differences.sort();
                    differences.dedup();
                    if !differences.is_empty() {
                        drift.push(DriftItem {
                            kind: (*kind).into(),
                            name: name.clone(),
                            differences,
                            against: DriftSource::Repository,
                        });
                        if shared(kind) {
                            recommit.push((kind.to_string(), name.clone()));
                        }
                    }
                    expected = committed;
                }
                None => {
                    drift.push(DriftItem {
                        kind: (*kind).into(),
                        name: name.clone(),
                        differences: vec!["missing".into()],
                        against: DriftSource::Repository,
                    });
                    if shared(kind) {
                        recommit.push((kind.to_string(), name.clone()));
                    }
                }
            }
        }
        let manifest = expected;
        let read = if shared(kind) {
            match cache.get(&(*kind, name.clone())) {
                Some(found) => Ok(found.clone()),
                None => {
                    let found = api(client, &f.name, manifest).get_opt(name).await;
                    if let Ok(found) = &found {
                        cache.insert((*kind, name.clone()), found.clone());
                    }
                    found
                }
            }
        } else {
            api(client, &f.name, manifest).get_opt(name).await
        };
        match read {
            Ok(Some(live)) => {
                let live = serde_json::to_value(&live).map_err(anyhow::Error::from)?;
                if *kind == "ResourceQuota" {
                    usage = live.get("status").cloned();
                }
                let differences = objects::described_differences(manifest, &live);
                if !differences.is_empty() {
                    drift.push(DriftItem {
                        kind: (*kind).into(),
                        name: name.clone(),
                        differences,
                        against: DriftSource::Cluster,
                    });
                }
            }
            Ok(None) => drift.push(DriftItem {
                kind: (*kind).into(),
                name: name.clone(),
                differences: vec!["missing".into()],
                against: DriftSource::Cluster,
            }),
            Err(e) => return Err(Error::Internal(anyhow::anyhow!("{}", describe(&e)))),
        }
    }
    // A shared policy that is missing or changed is applied (or committed) again by the next
    // apply; on a GitOps cluster the syncer, not Berth, mends the cluster.
    let (kinds, names): (Vec<String>, Vec<String>) = if repo.is_some() {
        recommit.into_iter().unzip()
    } else {
        drift
            .iter()
            .filter(|d| shared(&d.kind))
            .map(|d| (d.kind.clone(), d.name.clone()))
            .unzip()
    };
    forget_shared(app, f.cluster_id, &kinds, &names).await?;
    let drift = serde_json::to_value(&drift).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "UPDATE namespaces SET drift = $2, drift_checked_at = now(),
                usage = coalesce($3, usage), usage_at = CASE WHEN $3::jsonb IS NULL THEN usage_at ELSE now() END
         WHERE id = $1",
        f.id,
        drift,
        usage
    )
    .execute(&app.db)
    .await?;
    record_proof(app, client, f).await
}

/// Usage and drift of every ready namespace of one cluster, and the namespaces labelled
/// managed-by=berth that Berth does not know.
pub async fn check_cluster(app: &App, cluster_id: Uuid) -> Result<()> {
    let client = connect::client(app, cluster_id).await?;
    let ids = sqlx::query_scalar!(
        "SELECT id FROM namespaces WHERE cluster_id = $1 AND state IN ('ready', 'failed') ORDER BY name",
        cluster_id
    )
    .fetch_all(&app.db)
    .await?;
    let mut shared = Shared::new();
    let target = crate::gitops::deliver::target(&mut *app.db.acquire().await?, cluster_id).await?;
    let mut namespaces = Vec::new();
    for id in ids {
        namespaces.push(facts(&mut *app.db.acquire().await?, id).await?);
    }
    // A GitOps cluster's repository is read once for all its namespaces.
    let repo = match &target {
        Some(t) => Some(read_repository(app, t, &namespaces).await?),
        None => None,
    };
    for f in &namespaces {
        let in_repo = match (&target, &repo) {
            (Some(_), Some((folders, shared_folder))) => Some(InRepo {
                own: folders.get(&f.id),
                shared: shared_folder.as_ref(),
            }),
            _ => None,
        };
        check_namespace(app, &client, f, &mut shared, in_repo).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client);
    let labelled = namespaces
        .list_metadata(&ListParams::default().labels("app.kubernetes.io/managed-by=berth"))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("{}", describe(&e))))?;
    let known: Vec<String> = sqlx::query_scalar!(
        "SELECT name FROM namespaces WHERE cluster_id = $1 AND state <> 'decommissioned'",
        cluster_id
    )
    .fetch_all(&app.db)
    .await?;
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "DELETE FROM out_of_band_namespaces WHERE cluster_id = $1",
        cluster_id
    )
    .execute(&mut *tx)
    .await?;
    for ns in labelled.items {
        let Some(name) = ns.metadata.name else {
            continue;
        };
        if known.contains(&name) {
            continue;
        }
        let team = ns
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("berth.dev/team"))
            .cloned();
        sqlx::query!(
            "INSERT INTO out_of_band_namespaces (cluster_id, name, team_label) VALUES ($1, $2, $3)",
            cluster_id,
            name,
            team
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The objects of each namespace's folder (by namespace id) and of the shared folder, from
/// the repository's branch.
async fn read_repository(
    app: &App,
    t: &crate::gitops::deliver::Target,
    namespaces: &[Facts],
) -> Result<(
    HashMap<Uuid, BTreeMap<String, Value>>,
    Option<BTreeMap<String, Value>>,
)> {
    let ids: Vec<Uuid> = namespaces.iter().map(|f| f.id).collect();
    let stored = sqlx::query!(
        "SELECT id, git_path FROM namespaces WHERE id = ANY($1)",
        &ids
    )
    .fetch_all(&app.db)
    .await?;
    let mut folder_of = HashMap::new();
    for f in namespaces {
        let path = stored
            .iter()
            .find(|r| r.id == f.id)
            .and_then(|r| r.git_path.clone())
            .unwrap_or_else(|| {
                t.path.render(&files::Place {
                    cluster: &t.cluster,
                    namespace: &f.name,
                    team: &f.team,
                    environment: &f.environment,
                })
            });
        folder_of.insert(f.id, path);
    }
    let shared_path = t.shared.render(&files::Place {
        cluster: &t.cluster,
        namespace: "",
        team: "",
        environment: "",
    });
    let mut folders: Vec<String> = folder_of.values().cloned().collect();
    folders.push(shared_path.clone());
    let (_, read) = crate::gitops::run(app, t.repository, move |remote| {
        crate::gitops::git::read(remote, &folders)
    })
    .await?
    .map_err(|e| Error::Internal(anyhow::anyhow!("reading the repository: {e}")))?;
    let by_namespace = folder_of
        .into_iter()
        .map(|(id, path)| {
            let objects = read
                .get(&path)
                .cloned()
                .flatten()
                .map(|files| files::objects(&files))
                .unwrap_or_default();
            (id, objects)
        })
        .collect();
    let shared = read
        .get(&shared_path)
        .cloned()
        .flatten()
        .map(|files| files::objects(&files));
    Ok((by_namespace, shared))
}

/// Checks every enabled cluster, `sync_concurrency` at a time, each within the sync
/// timeout per call; a failing cluster is logged and the rest go on.
pub async fn check_fleet(app: &App) -> Result<()> {
    let clusters = sqlx::query!("SELECT id, name FROM clusters WHERE NOT disabled")
        .fetch_all(&app.db)
        .await?;
    futures::stream::iter(clusters)
        .map(|c| async move {
            if let Err(e) = check_cluster(app, c.id).await {
                tracing::info!(cluster = %c.name, error = %e, "usage and drift check failed");
            }
        })
        .buffer_unordered(app.config.sync_concurrency)
        .collect::<Vec<()>>()
        .await;
    Ok(())
}

pub fn spawn_periodic_checks(app: App) {
    let every = app.config.drift_interval_seconds;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = check_fleet(&app).await {
                tracing::warn!(error = %e, "usage and drift check failed");
            }
        }
    });
}
