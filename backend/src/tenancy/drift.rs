//! The usage and drift check: every ready namespace's objects read back from its cluster and
//! compared with what Berth applies (quantities as quantities), the quota's `status.used`
//! kept, and namespaces labelled managed-by=berth that Berth does not know listed as
//! out-of-band. Periodic (`BERTH_DRIFT_INTERVAL_SECONDS`) and on demand.

use std::{collections::HashMap, time::Duration};

use berth_frontend::api::DriftItem;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    api::{Api, DynamicObject, ListParams},
    Client,
};
use uuid::Uuid;

use super::{
    objects,
    provision::{api, describe, desired, facts, forget_shared, record_proof, shared, Facts},
};
use crate::{fleet::connect, App, Error, Result};

/// Cluster-scoped objects shared by many namespaces (the pool and workload policies), read
/// once per cluster check: (kind, name) → the live object, or None when it is missing.
type Shared = HashMap<(&'static str, String), Option<DynamicObject>>;

/// Reads one namespace's quota status and compares its objects with the desired ones.
async fn check_namespace(app: &App, client: &Client, f: &Facts, cache: &mut Shared) -> Result<()> {
    let manifests = desired(app, f).unwrap_or_default();
    let mut drift = Vec::new();
    let mut usage = None;
    for (kind, name, manifest) in &manifests {
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
                let differences = objects::differences(manifest, &live);
                if !differences.is_empty() {
                    drift.push(DriftItem {
                        kind: (*kind).into(),
                        name: name.clone(),
                        differences,
                    });
                }
            }
            Ok(None) => drift.push(DriftItem {
                kind: (*kind).into(),
                name: name.clone(),
                differences: vec!["missing".into()],
            }),
            Err(e) => return Err(Error::Internal(anyhow::anyhow!("{}", describe(&e)))),
        }
    }
    // A shared policy that is missing or changed is applied again by the next apply.
    let (kinds, names): (Vec<String>, Vec<String>) = drift
        .iter()
        .filter(|d| shared(&d.kind))
        .map(|d| (d.kind.clone(), d.name.clone()))
        .unzip();
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
    for id in ids {
        let f = facts(&mut *app.db.acquire().await?, id).await?;
        check_namespace(app, &client, &f, &mut shared).await?;
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
