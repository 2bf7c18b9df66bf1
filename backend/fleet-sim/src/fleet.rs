//! A fleet of simulated clusters in one process.

use std::collections::BTreeMap;

use crate::{
    cluster::{Settings, SimCluster},
    spec::FleetSpec,
};

pub struct Fleet {
    clusters: BTreeMap<String, SimCluster>,
}

impl Fleet {
    /// Starts every cluster of `spec` on its own loopback port, all at once.
    pub async fn start(spec: FleetSpec) -> anyhow::Result<Fleet> {
        Fleet::start_with(spec, Settings::default()).await
    }

    pub async fn start_with(spec: FleetSpec, settings: Settings) -> anyhow::Result<Fleet> {
        let starts = spec.clusters.into_iter().map(|c| {
            let settings = settings.clone();
            tokio::spawn(async move { SimCluster::start(c, 0, settings).await })
        });
        let mut clusters = BTreeMap::new();
        for started in futures::future::join_all(starts).await {
            let cluster = started??;
            clusters.insert(cluster.name().to_owned(), cluster);
        }
        Ok(Fleet { clusters })
    }

    pub fn cluster(&self, name: &str) -> Option<&SimCluster> {
        self.clusters.get(name)
    }

    pub fn clusters(&self) -> impl Iterator<Item = &SimCluster> {
        self.clusters.values()
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// One kubeconfig with a context per cluster, named after it.
    pub fn kubeconfig(&self) -> String {
        kubeconfig(self.clusters.values())
    }
}

pub(crate) fn kubeconfig<'a>(clusters: impl Iterator<Item = &'a SimCluster>) -> String {
    let mut entries = Vec::new();
    let mut users = Vec::new();
    let mut contexts = Vec::new();
    let mut current = None;
    for c in clusters {
        let name = c.name();
        current.get_or_insert_with(|| name.to_owned());
        entries.push(serde_json::json!({"name": name, "cluster": {"server": c.url()}}));
        let user = match &c.spec().token {
            Some(token) => serde_json::json!({"name": name, "user": {"token": token}}),
            None => serde_json::json!({"name": name, "user": {}}),
        };
        users.push(user);
        contexts
            .push(serde_json::json!({"name": name, "context": {"cluster": name, "user": name}}));
    }
    let config = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "clusters": entries, "users": users,
        "contexts": contexts, "current-context": current.unwrap_or_default(), "preferences": {},
    });
    serde_yaml_ng::to_string(&config).expect("a kubeconfig serialises")
}
