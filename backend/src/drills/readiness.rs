//! The failover-readiness check: a DR pair with a pool of the same class and room for the
//! quota, the namespace's storage classes there, disruption budgets and zone spread for
//! multi-replica Deployments, and a backup younger than the RPO objective. Reads only.

use berth_frontend::api::ReadinessCheck;
use k8s_openapi::api::{apps::v1::Deployment, policy::v1::PodDisruptionBudget};
use kube::api::{Api, ListParams};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{App, Error};

use super::{
    steps::{client_for, unreachable, State, StepError},
    velero::newest_backup,
    velero_installed,
};

/// The failover-readiness checks of a namespace and its DR pair. Reads only.
pub(super) async fn readiness(
    app: &App,
    d: &State,
) -> std::result::Result<Vec<ReadinessCheck>, StepError> {
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(ReadinessCheck {
            name: name.into(),
            ok,
            detail,
        })
    };
    let facts = crate::tenancy::provision::facts(
        &mut *app.db.acquire().await.map_err(Error::from)?,
        d.namespace_id,
    )
    .await?;
    let pool_labels = sqlx::query_scalar!(
        "SELECT common_labels FROM node_pools WHERE cluster_id = $1 AND name = $2",
        d.source_cluster,
        facts.pool
    )
    .fetch_optional(&app.db)
    .await
    .map_err(Error::from)?;
    let workload_class = pool_labels
        .as_ref()
        .and_then(|l| l.get("workload"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match d.target_cluster {
        None => check(
            "dr_pair",
            false,
            "the namespace's cluster has no DR pair".into(),
        ),
        Some(dr) => {
            let dr_name = sqlx::query_scalar!("SELECT name FROM clusters WHERE id = $1", dr)
                .fetch_one(&app.db)
                .await
                .map_err(Error::from)?;
            check("dr_pair", true, format!("DR pair: {dr_name}"));
            let pools = sqlx::query!(
                r#"SELECT p.name, p.common_labels, p.cpu_millis, p.memory_bytes, p.extended,
                          coalesce((SELECT sum(n.quota_cpu_millis) FROM namespaces n WHERE n.cluster_id = p.cluster_id
                                      AND n.node_pool = p.name AND n.state <> 'decommissioned'), 0)::bigint AS "cpu_committed!",
                          coalesce((SELECT sum(n.quota_memory_bytes) FROM namespaces n WHERE n.cluster_id = p.cluster_id
                                      AND n.node_pool = p.name AND n.state <> 'decommissioned'), 0)::bigint AS "memory_committed!"
                   FROM node_pools p WHERE p.cluster_id = $1"#,
                dr
            )
            .fetch_all(&app.db)
            .await
            .map_err(Error::from)?;
            let matching = pools.iter().find(|p| {
                p.name == facts.pool
                    || workload_class.as_deref().is_some_and(|w| {
                        p.common_labels.get("workload").and_then(Value::as_str) == Some(w)
                    })
            });
            match matching {
                None => check(
                    "pool_class",
                    false,
                    format!(
                        "{dr_name} has no pool like {} ({})",
                        facts.pool,
                        workload_class.clone().unwrap_or("no workload label".into())
                    ),
                ),
                Some(p) => {
                    check("pool_class", true, format!("pool {} on {dr_name}", p.name));
                    let sized = crate::tenancy::stored_sized(&facts.spec.0)?;
                    // GPUs (and other extended resources) the namespace may use must be there
                    // on the pair too, or its workloads would stay Pending after a failover.
                    let wanted = sized.extended();
                    if !wanted.is_empty() {
                        let there: std::collections::BTreeMap<String, i64> =
                            serde_json::from_value(p.extended.clone()).unwrap_or_default();
                        let short: Vec<String> = wanted
                            .iter()
                            .filter(|(name, n)| there.get(*name).copied().unwrap_or(0) < **n)
                            .map(|(name, n)| {
                                format!("{name}: {} of {n}", there.get(name).copied().unwrap_or(0))
                            })
                            .collect();
                        check(
                            "extended_resources",
                            short.is_empty(),
                            if short.is_empty() {
                                format!("pool {} on {dr_name} has the GPUs and other extended resources the quota allows", p.name)
                            } else {
                                format!("pool {} on {dr_name} lacks {}", p.name, short.join(", "))
                            },
                        );
                    }
                    let quota = sized.amounts();
                    let free_cpu = p.cpu_millis - p.cpu_committed;
                    let free_memory = p.memory_bytes - p.memory_committed;
                    check(
                        "headroom",
                        free_cpu >= quota.cpu_millis && free_memory >= quota.memory_bytes,
                        format!(
                            "free {} mCPU / {} bytes; the quota needs {} mCPU / {} bytes",
                            free_cpu, free_memory, quota.cpu_millis, quota.memory_bytes
                        ),
                    );
                }
            }
            let dr_classes: Vec<String> =
                sqlx::query_scalar!("SELECT name FROM storage_classes WHERE cluster_id = $1", dr)
                    .fetch_all(&app.db)
                    .await
                    .map_err(Error::from)?;
            let missing: Vec<String> = facts
                .spec
                .0
                .storage_classes
                .iter()
                .map(|c| c.name.clone())
                .filter(|c| !dr_classes.contains(c))
                .collect();
            check(
                "storage_classes",
                missing.is_empty(),
                if missing.is_empty() {
                    "every allowed class exists on the DR pair".into()
                } else {
                    format!("missing on {dr_name}: {}", missing.join(", "))
                },
            );
        }
    }
    let client = client_for(app, d.source_cluster).await?;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), &d.namespace)
        .list(&ListParams::default())
        .await
        .map_err(unreachable)?;
    let mut unprotected = Vec::new();
    let mut unspread = Vec::new();
    for dep in Api::<Deployment>::namespaced(client.clone(), &d.namespace)
        .list(&ListParams::default())
        .await
        .map_err(unreachable)?
    {
        let spec = dep.spec;
        if spec.replicas.unwrap_or(1) < 2 {
            continue;
        }
        let name = dep.metadata.name.unwrap_or_default();
        let labels = spec
            .template
            .metadata
            .and_then(|m| m.labels)
            .unwrap_or_default();
        let covered = pdbs.items.iter().any(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .and_then(|s| s.match_labels.as_ref())
                .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        });
        if !covered {
            unprotected.push(name.clone());
        }
        let pod = spec.template.spec.unwrap_or_default();
        let spread = pod
            .topology_spread_constraints
            .is_some_and(|t| !t.is_empty())
            || pod.affinity.and_then(|a| a.pod_anti_affinity).is_some();
        if !spread {
            unspread.push(name);
        }
    }
    check(
        "pod_disruption_budgets",
        unprotected.is_empty(),
        if unprotected.is_empty() {
            "every multi-replica Deployment has a PDB".into()
        } else {
            format!("no PDB: {}", unprotected.join(", "))
        },
    );
    check(
        "zone_spread",
        unspread.is_empty(),
        if unspread.is_empty() {
            "every multi-replica Deployment spreads".into()
        } else {
            format!("no spread or anti-affinity: {}", unspread.join(", "))
        },
    );
    let (_, installed) = velero_installed(
        &mut *app.db.acquire().await.map_err(Error::from)?,
        d.source_cluster,
    )
    .await?;
    if installed {
        let newest = newest_backup(&client, &d.namespace)
            .await
            .map_err(unreachable)?
            .map(|(at, _)| at);
        match newest {
            None => check("backup_age", false, "no completed backup".into()),
            Some(at) => {
                let age = (OffsetDateTime::now_utc() - at).whole_seconds();
                check(
                    "backup_age",
                    age <= i64::from(d.rpo_seconds),
                    format!(
                        "newest backup is {age} s old; RPO objective {} s",
                        d.rpo_seconds
                    ),
                );
            }
        }
    } else {
        check(
            "backup_age",
            false,
            "Velero is not installed on the namespace's cluster".into(),
        );
    }
    Ok(checks)
}
