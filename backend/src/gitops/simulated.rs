//! The demo's stand-in for Flux: for a simulated cluster that delivers through Git, it reads
//! the cluster's folders at the branch's head and applies every object server-side with the
//! field manager `kustomize-controller`, then deletes what left Git since its last apply —
//! what Flux's kustomize-controller does for a real cluster. It runs only inside `berth
//! serve` with the built-in simulator (the demo fleet), so a newcomer's GitOps request
//! becomes ready; real clusters get Argo CD or Flux, and the tests use `testplane sync`.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;
use uuid::Uuid;

use super::{files::PathTemplate, git};
use crate::{fleet::connect, tenancy::provision, App, Result};

/// The folder a syncer for one cluster follows: the namespace path up to its first
/// placeholder other than {cluster} (`clusters/{cluster}/namespaces/{namespace}` →
/// `clusters/east/namespaces`).
pub fn root(template: &str, cluster: &str) -> String {
    let mut kept = Vec::new();
    for segment in template.split('/') {
        if segment.contains('{') && segment != "{cluster}" {
            break;
        }
        kept.push(segment);
    }
    PathTemplate::stored(&kept.join("/")).render(&super::files::Place {
        cluster,
        namespace: "",
        team: "",
        environment: "",
    })
}

/// What was applied last, per cluster: the head and (kind, namespace, name) → manifest.
type Inventory = HashMap<Uuid, (String, BTreeMap<(String, String, String), Value>)>;

/// Follows every simulated GitOps cluster every two seconds until the process ends.
pub fn spawn(app: App) {
    if app.simulator.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut inventory = Inventory::new();
        loop {
            if let Err(e) = round(&app, &mut inventory).await {
                tracing::info!(error = %e, "the demo's GitOps syncer will try again");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

async fn round(app: &App, inventory: &mut Inventory) -> Result<()> {
    let clusters = sqlx::query!(
        r#"SELECT id, name, git_repository_id AS "repository!", git_path AS "path!", git_shared_path AS "shared!"
           FROM clusters WHERE delivery = 'gitops' AND connection = 'simulated' AND NOT disabled"#
    )
    .fetch_all(&app.db)
    .await?;
    for c in clusters {
        let prefixes = vec![
            root(&c.path, &c.name),
            PathTemplate::stored(&c.shared).render(&super::files::Place {
                cluster: &c.name,
                namespace: "",
                team: "",
                environment: "",
            }),
        ];
        let read = super::run(app, c.repository, move |remote| {
            git::read_tree(remote, &prefixes)
        })
        .await?;
        let Ok((Some(head), files)) = read else {
            continue;
        };
        if inventory.get(&c.id).is_some_and(|(h, _)| *h == head) {
            continue;
        }
        let mut wanted = BTreeMap::new();
        for (path, content) in &files {
            if path.ends_with("/kustomization.yaml") || !path.ends_with(".yaml") {
                continue;
            }
            let Ok(object) = serde_yaml_ng::from_str::<Value>(content) else {
                continue;
            };
            let key = (
                object["kind"].as_str().unwrap_or_default().to_owned(),
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            wanted.insert(key, object);
        }
        let client = connect::client(app, c.id).await?;
        let params = PatchParams::apply("kustomize-controller").force();
        // Namespaces first, as Flux orders them.
        let mut order: Vec<&(String, String, String)> = wanted.keys().collect();
        order.sort_by_key(|(kind, ..)| kind != "Namespace");
        let mut failed = false;
        for key in order {
            let object = &wanted[key];
            let api = provision::api(&client, &key.1, object);
            if let Err(e) = api.patch(&key.2, &params, &Patch::Apply(object)).await {
                tracing::info!(kind = %key.0, name = %key.2, error = %provision::describe(&e), "demo syncer: apply failed");
                failed = true;
            }
        }
        if failed {
            continue;
        }
        let gone: Vec<((String, String, String), Value)> = inventory
            .get(&c.id)
            .map(|(_, last)| {
                last.iter()
                    .filter(|(k, _)| !wanted.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut gone = gone;
        gone.sort_by_key(|((kind, ..), _)| kind == "Namespace");
        for ((_, namespace, name), object) in gone {
            let api = provision::api(&client, &namespace, &object);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => tracing::info!(error = %e, "demo syncer: delete failed"),
            }
        }
        inventory.insert(c.id, (head, wanted));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_root_is_the_path_up_to_its_first_namespace_placeholder() {
        assert_eq!(
            super::root("clusters/{cluster}/namespaces/{namespace}", "east"),
            "clusters/east/namespaces"
        );
        assert_eq!(super::root("tenants/{team}/{namespace}", "east"), "tenants");
    }
}
