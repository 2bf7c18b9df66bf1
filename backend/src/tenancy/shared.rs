//! Removing the cluster-wide objects that no namespace can use any more: a layer's old
//! default PriorityClass and its MutatingAdmissionPolicy after an admin renames or clears
//! it, and the pool policies of a node pool that has left the cluster. Left in place they are
//! inert (their bindings select namespaces by labels no namespace carries), but a stale
//! PriorityClass is still one a tenant can name, and a fleet fills with objects nobody owns.
//!
//! Only objects this Berth applied (its `cluster_objects` rows) are candidates, so a second
//! installation's objects on the same cluster are never touched. The standards' policies are
//! never removed: every namespace on a cluster that serves them uses them. Removal is a
//! durable `prune` job per cluster, queued when a layer's guardrails change and by the
//! cluster sync when it finds something to remove; it deletes by name, so running it twice
//! is harmless.

use std::collections::BTreeSet;

use kube::api::DeleteParams;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use berth_frontend::api::PolicyEngine;

use super::{
    pinning::{self, Served},
    provision,
};
use crate::{
    audit,
    auth::Ctx,
    fleet::connect,
    jobs::{self, Job, Kind, Outcome},
    App, Result,
};

/// What a cluster should have of the objects a prune may remove.
pub struct Wanted {
    /// The default PriorityClass of the cluster's layer, if an admin set one.
    pub priority_class: Option<String>,
    /// Where MutatingAdmissionPolicy is served: its version.
    pub mutating: Option<String>,
    /// The node pools in the cluster's inventory.
    pub pools: Vec<String>,
    /// Where the cluster serves Kyverno's policies: their version.
    pub kyverno_served: Option<String>,
    /// Whether pools are pinned with Kyverno's policies (an admin chose Kyverno and the
    /// cluster serves it) rather than the API server's.
    pub kyverno_in_use: bool,
}

/// The kinds Berth pins pools with through Kyverno.
const KYVERNO_KINDS: [&str; 2] = ["MutatingPolicy", "ValidatingPolicy"];

/// The (kind, name) of every recorded object that `wanted` no longer asks for, in order.
pub fn unwanted(recorded: &[(String, String)], wanted: &Wanted) -> Vec<(String, String)> {
    let pool_names: BTreeSet<String> = wanted
        .pools
        .iter()
        .map(|p| pinning::policy_name(p))
        .collect();
    let priority_policy = wanted
        .priority_class
        .as_ref()
        .filter(|_| wanted.mutating.is_some())
        .map(|c| format!("berth-priority-{c}"));
    let mut out: Vec<(String, String)> = recorded
        .iter()
        .filter(|(kind, name)| match kind.as_str() {
            "PriorityClass" => wanted.priority_class.as_deref() != Some(name.as_str()),
            _ if name.starts_with("berth-priority-") => {
                priority_policy.as_deref() != Some(name.as_str())
            }
            // A pool's policies of the engine not in use go too: switching engines leaves
            // nothing of the other behind.
            _ if name.starts_with("berth-pool-") => {
                !pool_names.contains(name)
                    || KYVERNO_KINDS.contains(&kind.as_str()) != wanted.kyverno_in_use
            }
            _ => false,
        })
        .cloned()
        .collect();
    // Bindings before their policies, policies before the class they hand out.
    out.sort_by_key(|(kind, name)| (order(kind), name.clone()));
    out
}

fn order(kind: &str) -> u8 {
    match kind {
        k if k.ends_with("Binding") => 0,
        "PriorityClass" => 2,
        _ => 1,
    }
}

/// The cluster's recorded objects and what it should have, read in `conn`.
async fn load(
    conn: &mut PgConnection,
    cluster_id: Uuid,
) -> Result<(Vec<(String, String)>, Wanted)> {
    let recorded = sqlx::query!(
        "SELECT kind, name FROM cluster_objects WHERE cluster_id = $1 ORDER BY kind, name",
        cluster_id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.name))
    .collect();
    let row = sqlx::query!(
        r#"SELECT l.priority_class AS "priority_class?", i.mutating_policies AS "mutating?",
                  i.kyverno_policies AS "kyverno?", c.policy_engine AS "policy_engine: PolicyEngine",
                  array(SELECT p.name FROM node_pools p WHERE p.cluster_id = c.id ORDER BY p.name) AS "pools!"
           FROM clusters c
           LEFT JOIN layer_guardrails l ON l.layer = c.layer
           LEFT JOIN cluster_inventory i ON i.cluster_id = c.id
           WHERE c.id = $1"#,
        cluster_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        recorded,
        Wanted {
            priority_class: row.priority_class,
            mutating: row.mutating,
            pools: row.pools,
            kyverno_in_use: pinning::kyverno_in_use(row.policy_engine, row.kyverno.clone())
                .is_some(),
            kyverno_served: row.kyverno,
        },
    ))
}

/// What a prune of the cluster would remove now.
pub async fn pending(conn: &mut PgConnection, cluster_id: Uuid) -> Result<Vec<(String, String)>> {
    let (recorded, wanted) = load(conn, cluster_id).await?;
    Ok(unwanted(&recorded, &wanted))
}

/// Queues a prune of the cluster in the caller's transaction, unless one is already queued.
pub async fn enqueue(tx: &mut PgConnection, cluster_id: Uuid) -> Result<()> {
    let queued = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = 'prune' AND cluster_id = $1 AND state = 'queued') AS "queued!""#,
        cluster_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if queued {
        return Ok(());
    }
    jobs::push(
        tx,
        jobs::NewJob {
            kind: Kind::Prune,
            namespace_id: None,
            request_id: None,
            cluster_id: Some(cluster_id),
            drill_id: None,
            run_at: None,
            payload: json!({}),
        },
    )
    .await
}

/// The prune job: deletes each unwanted object (gone already counts as deleted), then forgets
/// it and records what went in one transaction with the audit row.
pub async fn prune(app: &App, job: &Job) -> Result<Outcome> {
    let Some(cluster_id) = job.cluster_id else {
        return Ok(Outcome::Done);
    };
    let mut conn = app.db.acquire().await?;
    let (recorded, wanted) = load(&mut conn, cluster_id).await?;
    drop(conn);
    let remove = unwanted(&recorded, &wanted);
    if remove.is_empty() {
        return Ok(Outcome::Done);
    }
    let gitops = crate::gitops::deliver::target(&mut *app.db.acquire().await?, cluster_id).await?;
    if let Some(target) = gitops {
        // A GitOps cluster loses them when its syncer applies the commit that removes them.
        return match crate::gitops::deliver::remove_shared(app, job, &target, &remove).await? {
            Ok(commit) => {
                let removed = remove
                    .iter()
                    .map(|(k, n)| json!({"kind": k, "name": n}))
                    .collect();
                forget(app, cluster_id, remove, removed, Some(commit)).await?;
                Ok(Outcome::Done)
            }
            Err(reason) => Ok(Outcome::Retry(reason)),
        };
    }
    let client = match connect::client(app, cluster_id).await {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Retry(format!("cannot reach the cluster: {e}"))),
    };
    // Switching engines: the old engine's policies go only once the new engine's are applied
    // to the cluster's namespaces, so pods are never left unpinned in between.
    let applying = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM jobs WHERE cluster_id = $1 AND kind = 'apply' AND state IN ('queued', 'running')"#,
        cluster_id
    )
    .fetch_one(&app.db)
    .await?;
    if applying > 0
        && remove
            .iter()
            .any(|(_, name)| name.starts_with("berth-pool-"))
    {
        return Ok(Outcome::Retry(format!(
            "waiting for {applying} namespace applies on the cluster before removing pool policies"
        )));
    }
    let served = Served {
        validating: true,
        mutating: wanted.mutating.clone(),
        kyverno: wanted.kyverno_served.clone(),
    };
    let mut removed = Vec::new();
    for (kind, name) in &remove {
        let Some(api_version) = api_version(kind, &served) else {
            continue;
        };
        let manifest = json!({"kind": kind, "apiVersion": api_version});
        let api = provision::api(&client, "", &manifest);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Ok(Outcome::Retry(format!(
                    "{kind} {name}: {}",
                    provision::describe(&e)
                )))
            }
        }
        removed.push(json!({"kind": kind, "name": name}));
    }
    forget(app, cluster_id, remove, removed, None).await?;
    Ok(Outcome::Done)
}

/// Forgets the removed objects and records what went (and in which commit, on a GitOps
/// cluster) in one transaction with the audit row.
async fn forget(
    app: &App,
    cluster_id: Uuid,
    remove: Vec<(String, String)>,
    removed: Vec<serde_json::Value>,
    commit: Option<String>,
) -> Result<()> {
    let (kinds, names): (Vec<String>, Vec<String>) = remove.into_iter().unzip();
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "DELETE FROM cluster_objects o USING unnest($2::text[], $3::text[]) AS t(k, n)
         WHERE o.cluster_id = $1 AND o.kind = t.k AND o.name = t.n",
        cluster_id,
        &kinds,
        &names
    )
    .execute(&mut *tx)
    .await?;
    let cluster = sqlx::query_scalar!("SELECT name FROM clusters WHERE id = $1", cluster_id)
        .fetch_one(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &Ctx::system("berth-worker"),
        audit::Entry::new("cluster.objects_removed", "cluster", cluster)
            .after(json!({"removed": removed, "commit": commit})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The API version a recorded kind is deleted in; MutatingAdmissionPolicy and Kyverno's
/// policies in the version the cluster serves (none: the cluster cannot have one).
fn api_version(kind: &str, served: &Served) -> Option<String> {
    match kind {
        "PriorityClass" => Some("scheduling.k8s.io/v1".into()),
        "MutatingAdmissionPolicy" | "MutatingAdmissionPolicyBinding" => served
            .mutating
            .as_ref()
            .map(|v| format!("admissionregistration.k8s.io/{v}")),
        // Kyverno's, in the version the cluster serves (none: Kyverno is gone, and its
        // policies with its CRDs).
        k if KYVERNO_KINDS.contains(&k) => served
            .kyverno
            .as_ref()
            .map(|v| format!("policies.kyverno.io/{v}")),
        _ => Some("admissionregistration.k8s.io/v1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn a_renamed_class_and_a_gone_pool_are_unwanted_and_the_standards_never() {
        let recorded = rows(&[
            ("PriorityClass", "online-high"),
            ("MutatingAdmissionPolicy", "berth-priority-online-high"),
            (
                "MutatingAdmissionPolicyBinding",
                "berth-priority-online-high",
            ),
            ("PriorityClass", "online-higher"),
            ("MutatingAdmissionPolicy", "berth-priority-online-higher"),
            ("ValidatingAdmissionPolicy", "berth-pool-general"),
            ("ValidatingAdmissionPolicyBinding", "berth-pool-spot"),
            ("ValidatingAdmissionPolicy", "berth-pool-spot"),
            ("ValidatingAdmissionPolicy", "berth-workload-require-probes"),
        ]);
        let wanted = Wanted {
            priority_class: Some("online-higher".into()),
            mutating: Some("v1".into()),
            pools: vec!["general".into()],
            kyverno_served: None,
            kyverno_in_use: false,
        };
        assert_eq!(
            unwanted(&recorded, &wanted),
            rows(&[
                ("ValidatingAdmissionPolicyBinding", "berth-pool-spot"),
                (
                    "MutatingAdmissionPolicyBinding",
                    "berth-priority-online-high"
                ),
                ("ValidatingAdmissionPolicy", "berth-pool-spot"),
                ("MutatingAdmissionPolicy", "berth-priority-online-high"),
                ("PriorityClass", "online-high"),
            ])
        );
        // No class: every priority object goes; a cluster without MutatingAdmissionPolicy
        // keeps the class only.
        let none = Wanted {
            priority_class: None,
            ..wanted
        };
        assert_eq!(
            unwanted(&recorded, &none)
                .iter()
                .filter(|(k, _)| k == "PriorityClass")
                .count(),
            2
        );
        let no_mutating = Wanted {
            priority_class: Some("online-higher".into()),
            mutating: None,
            pools: vec!["general".into(), "spot".into()],
            kyverno_served: None,
            kyverno_in_use: false,
        };
        assert_eq!(
            unwanted(&recorded, &no_mutating),
            rows(&[
                (
                    "MutatingAdmissionPolicyBinding",
                    "berth-priority-online-high"
                ),
                ("MutatingAdmissionPolicy", "berth-priority-online-high"),
                ("MutatingAdmissionPolicy", "berth-priority-online-higher"),
                ("PriorityClass", "online-high"),
            ])
        );
    }

    #[test]
    fn switching_engines_leaves_nothing_of_the_other_behind() {
        let recorded = rows(&[
            ("MutatingAdmissionPolicy", "berth-pool-general"),
            ("MutatingAdmissionPolicyBinding", "berth-pool-general"),
            ("ValidatingAdmissionPolicy", "berth-pool-general"),
            ("ValidatingAdmissionPolicyBinding", "berth-pool-general"),
            ("MutatingPolicy", "berth-pool-general"),
            ("ValidatingPolicy", "berth-pool-general"),
            ("ValidatingPolicy", "berth-pool-gone"),
            ("ValidatingAdmissionPolicy", "berth-workload-require-probes"),
        ]);
        let kyverno = Wanted {
            priority_class: None,
            mutating: Some("v1".into()),
            pools: vec!["general".into()],
            kyverno_served: Some("v1".into()),
            kyverno_in_use: true,
        };
        assert_eq!(
            unwanted(&recorded, &kyverno),
            rows(&[
                ("MutatingAdmissionPolicyBinding", "berth-pool-general"),
                ("ValidatingAdmissionPolicyBinding", "berth-pool-general"),
                ("MutatingAdmissionPolicy", "berth-pool-general"),
                ("ValidatingAdmissionPolicy", "berth-pool-general"),
                ("ValidatingPolicy", "berth-pool-gone"),
            ])
        );
        let native = Wanted {
            kyverno_in_use: false,
            ..kyverno
        };
        assert_eq!(
            unwanted(&recorded, &native),
            rows(&[
                ("MutatingPolicy", "berth-pool-general"),
                ("ValidatingPolicy", "berth-pool-general"),
                ("ValidatingPolicy", "berth-pool-gone"),
            ])
        );
        let served = Served {
            validating: true,
            mutating: None,
            kyverno: Some("v1".into()),
        };
        assert_eq!(
            api_version("ValidatingPolicy", &served).as_deref(),
            Some("policies.kyverno.io/v1")
        );
        assert_eq!(api_version("MutatingPolicy", &Served::default()), None);
    }
}
