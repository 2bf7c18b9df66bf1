//! A fleet as data: clusters with their layer, region, zones, node pools, storage classes and
//! optional pods, read from YAML (`fleets/demo.yaml`) or generated for benchmarks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    pub clusters: Vec<ClusterSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// shared-infra | online | offline | stateful | secure
    pub layer: String,
    pub region: String,
    /// prod | staging | dev
    #[serde(default = "default_environment")]
    pub environment: String,
    pub zones: Vec<String>,
    #[serde(default = "default_version")]
    pub kubernetes_version: String,
    /// Another cluster of the fleet that this one fails over to.
    #[serde(default)]
    pub dr_pair: Option<String>,
    /// Bearer token the simulated API server requires.
    #[serde(default)]
    pub token: Option<String>,
    /// Registers Velero's `velero.io/v1` resources.
    #[serde(default)]
    pub velero: bool,
    /// Registers Kyverno's `kyverno.io/v1` policies.
    #[serde(default)]
    pub kyverno: bool,
    #[serde(default)]
    pub node_pools: Vec<NodePoolSpec>,
    #[serde(default)]
    pub storage_classes: Vec<StorageClassSpec>,
    #[serde(default)]
    pub pods: Vec<PodLoadSpec>,
    /// Admission plugins enabled besides kube-apiserver's defaults. The simulator emulates
    /// PodNodeSelector and PodTolerationRestriction on pod creation; testplane passes the
    /// list to its kube-apiserver.
    #[serde(default)]
    pub admission_plugins: Vec<String>,
    /// Default admission plugins switched off (testplane only).
    #[serde(default)]
    pub disable_admission_plugins: Vec<String>,
    /// `--runtime-config` entries such as
    /// `admissionregistration.k8s.io/v1/mutatingadmissionpolicies=false`: resources the API
    /// server does not serve. The simulator honours the admission policy resources.
    #[serde(default)]
    pub runtime_config: Vec<String>,
    /// Feature gates for testplane's kube-apiserver (ignored by the simulator).
    #[serde(default)]
    pub feature_gates: std::collections::BTreeMap<String, bool>,
}

impl ClusterSpec {
    /// `v1.31.4` → (1, 31).
    pub fn minor_version(&self) -> (u32, u32) {
        let mut parts = self
            .kubernetes_version
            .trim_start_matches('v')
            .split('.')
            .map(|p| p.parse().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Whether `resource` of `group/version` is served: switched off by `runtimeConfig`?
    pub fn serves(&self, group_version: &str, resource: &str) -> bool {
        let off = format!("{group_version}/{resource}=false");
        !self.runtime_config.iter().any(|c| c == &off)
    }

    pub fn admission_plugin(&self, name: &str) -> bool {
        self.admission_plugins.iter().any(|p| p == name)
    }
}

fn default_environment() -> String {
    "prod".into()
}

fn default_version() -> String {
    "v1.31.4".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePoolSpec {
    pub name: String,
    /// The label that names the pool, as the provider sets it.
    #[serde(default = "default_pool_label")]
    pub label_key: String,
    pub nodes: u32,
    /// How many of the nodes report Ready (default: all).
    #[serde(default)]
    pub ready: Option<u32>,
    pub instance_type: String,
    /// cpu, memory, pods, ephemeral-storage — as Kubernetes quantities.
    pub allocatable: BTreeMap<String, String>,
    #[serde(default)]
    pub capacity: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintSpec>,
}

fn default_pool_label() -> String {
    "node-pool".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaintSpec {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageClassSpec {
    pub name: String,
    pub provisioner: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default = "default_reclaim")]
    pub reclaim_policy: String,
    #[serde(default = "default_binding")]
    pub volume_binding_mode: String,
    #[serde(default)]
    pub allow_volume_expansion: bool,
    #[serde(default)]
    pub default: bool,
}

fn default_reclaim() -> String {
    "Delete".into()
}

fn default_binding() -> String {
    "WaitForFirstConsumer".into()
}

/// Running pods with requests, placed on every node of a pool, so capacity views have load.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodLoadSpec {
    pub pool: String,
    pub namespace: String,
    pub per_node: u32,
    pub cpu: String,
    pub memory: String,
}

impl FleetSpec {
    pub fn from_yaml(text: &str) -> anyhow::Result<FleetSpec> {
        let spec: FleetSpec = serde_yaml_ng::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    /// The default demo fleet: the seed's layered model over five clusters.
    pub fn demo() -> FleetSpec {
        FleetSpec::from_yaml(include_str!("../fleets/demo.yaml"))
            .expect("the bundled demo fleet is valid")
    }

    fn check(&self) -> anyhow::Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for c in &self.clusters {
            if !names.insert(c.name.as_str()) {
                anyhow::bail!("cluster {} is defined twice", c.name);
            }
            if c.zones.is_empty() {
                anyhow::bail!("cluster {} has no zones", c.name);
            }
        }
        for c in &self.clusters {
            if let Some(pair) = &c.dr_pair {
                if !names.contains(pair.as_str()) || pair == &c.name {
                    anyhow::bail!(
                        "cluster {}: drPair {pair} is not another cluster of the fleet",
                        c.name
                    );
                }
            }
            for load in &c.pods {
                if !c.node_pools.iter().any(|p| p.name == load.pool) {
                    anyhow::bail!(
                        "cluster {}: pods name pool {} which does not exist",
                        c.name,
                        load.pool
                    );
                }
            }
        }
        Ok(())
    }

    /// `clusters` clusters of `nodes` nodes each, cycling through the layers, for benchmarks.
    pub fn generated(clusters: usize, nodes: u32) -> FleetSpec {
        let layers = ["online", "offline", "stateful", "shared-infra", "secure"];
        let clusters = (0..clusters)
            .map(|i| {
                let layer = layers[i % layers.len()];
                let region = ["cn-east", "cn-north", "ap-southeast"][i % 3];
                let general = nodes * 3 / 5;
                let memory = nodes / 5;
                let spot = nodes - general - memory;
                let pool = |name: &str,
                            count: u32,
                            instance: &str,
                            cpu: &str,
                            mem: &str,
                            taints: Vec<TaintSpec>| NodePoolSpec {
                    name: name.into(),
                    label_key: "cloud.google.com/gke-nodepool".into(),
                    nodes: count,
                    ready: None,
                    instance_type: instance.into(),
                    allocatable: BTreeMap::from([
                        ("cpu".into(), cpu.into()),
                        ("memory".into(), mem.into()),
                        ("pods".into(), "110".into()),
                        ("ephemeral-storage".into(), "95Gi".into()),
                    ]),
                    capacity: None,
                    labels: BTreeMap::new(),
                    taints,
                };
                ClusterSpec {
                    name: format!("gen-{layer}-{i:03}"),
                    display_name: None,
                    layer: layer.into(),
                    region: format!("{region}-{}", i % 4 + 1),
                    environment: ["prod", "staging", "dev"][i % 3].into(),
                    zones: vec!["a".into(), "b".into(), "c".into()],
                    kubernetes_version: default_version(),
                    dr_pair: None,
                    token: None,
                    velero: i % 2 == 0,
                    kyverno: false,
                    admission_plugins: vec![
                        "PodNodeSelector".into(),
                        "PodTolerationRestriction".into(),
                    ],
                    disable_admission_plugins: Vec::new(),
                    runtime_config: Vec::new(),
                    feature_gates: BTreeMap::new(),
                    node_pools: vec![
                        pool(
                            "general",
                            general,
                            "n2-standard-16",
                            "15890m",
                            "57Gi",
                            vec![],
                        ),
                        pool(
                            "highmem",
                            memory,
                            "n2-highmem-16",
                            "15890m",
                            "120Gi",
                            vec![],
                        ),
                        pool(
                            "spot",
                            spot,
                            "n2-standard-32",
                            "31850m",
                            "117Gi",
                            vec![TaintSpec {
                                key: "workload".into(),
                                value: Some("spot".into()),
                                effect: "NoSchedule".into(),
                            }],
                        ),
                    ],
                    storage_classes: vec![StorageClassSpec {
                        name: "standard".into(),
                        provisioner: "pd.csi.storage.gke.io".into(),
                        parameters: BTreeMap::from([("type".into(), "pd-balanced".into())]),
                        reclaim_policy: default_reclaim(),
                        volume_binding_mode: default_binding(),
                        allow_volume_expansion: true,
                        default: true,
                    }],
                    pods: vec![],
                }
            })
            .collect();
        FleetSpec { clusters }
    }
}

impl ClusterSpec {
    fn zone(&self, index: u32) -> String {
        let zone = &self.zones[index as usize % self.zones.len()];
        if zone.len() <= 2 {
            format!("{}{zone}", self.region)
        } else {
            zone.clone()
        }
    }

    /// The objects a new simulated cluster holds: system namespaces (and `velero` where Velero
    /// runs), nodes, storage classes
    /// and the load pods. Nodes are named `<cluster>-<pool>-<n>`.
    pub fn initial_objects(&self) -> Vec<(&'static str, Value)> {
        let mut objects = Vec::new();
        // A cluster with Velero has its namespace, where Backups and Restores live.
        let velero = self.velero.then_some("velero");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"]
            .into_iter()
            .chain(velero)
        {
            objects.push((
                "namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ));
        }
        let mut load_namespaces = std::collections::BTreeSet::new();
        for pool in &self.node_pools {
            let ready = pool.ready.unwrap_or(pool.nodes);
            for n in 0..pool.nodes {
                let name = format!("{}-{}-{n}", self.name, pool.name);
                let zone = self.zone(n);
                let mut labels = BTreeMap::from([
                    ("kubernetes.io/hostname".to_owned(), name.clone()),
                    ("kubernetes.io/os".to_owned(), "linux".to_owned()),
                    ("kubernetes.io/arch".to_owned(), "amd64".to_owned()),
                    ("topology.kubernetes.io/zone".to_owned(), zone.clone()),
                    (
                        "topology.kubernetes.io/region".to_owned(),
                        self.region.clone(),
                    ),
                    (
                        "node.kubernetes.io/instance-type".to_owned(),
                        pool.instance_type.clone(),
                    ),
                    (pool.label_key.clone(), pool.name.clone()),
                ]);
                labels.extend(pool.labels.clone());
                let taints: Vec<Value> = pool
                    .taints
                    .iter()
                    .map(|t| {
                        let mut taint = json!({"key": t.key, "effect": t.effect});
                        if let Some(v) = &t.value {
                            taint["value"] = json!(v);
                        }
                        taint
                    })
                    .collect();
                let mut node = json!({
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {"providerID": format!("sim://{}/{name}", self.name)},
                    "status": {
                        "capacity": pool.capacity.clone().unwrap_or_else(|| pool.allocatable.clone()),
                        "allocatable": pool.allocatable,
                        "conditions": [{
                            "type": "Ready",
                            "status": if n < ready { "True" } else { "False" },
                            "reason": if n < ready { "KubeletReady" } else { "KubeletNotReady" },
                        }],
                        "nodeInfo": {
                            "kubeletVersion": self.kubernetes_version, "kubeProxyVersion": self.kubernetes_version,
                            "architecture": "amd64", "operatingSystem": "linux", "osImage": "Container-Optimized OS",
                            "containerRuntimeVersion": "containerd://1.7.22", "kernelVersion": "6.1.100",
                            "bootID": "", "machineID": "", "systemUUID": "",
                        },
                    },
                });
                if !taints.is_empty() {
                    node["spec"]["taints"] = json!(taints);
                }
                objects.push(("nodes", node));
                for load in self.pods.iter().filter(|l| l.pool == pool.name) {
                    load_namespaces.insert(load.namespace.clone());
                    for p in 0..load.per_node {
                        objects.push((
                            "pods",
                            json!({
                                "apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": format!("load-{name}-{p}"), "namespace": load.namespace},
                                "spec": {
                                    "nodeName": name,
                                    "containers": [{"name": "app", "image": "registry.local/load:1",
                                        "resources": {"requests": {"cpu": load.cpu, "memory": load.memory}}}],
                                },
                                "status": {"phase": "Running"},
                            }),
                        ));
                    }
                }
            }
        }
        for ns in load_namespaces {
            if !["default", "kube-system", "kube-public", "kube-node-lease"].contains(&ns.as_str())
            {
                objects.insert(
                    0,
                    (
                        "namespaces",
                        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    ),
                );
            }
        }
        for sc in &self.storage_classes {
            let mut class = json!({
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": sc.name},
                "provisioner": sc.provisioner,
                "parameters": sc.parameters,
                "reclaimPolicy": sc.reclaim_policy,
                "volumeBindingMode": sc.volume_binding_mode,
                "allowVolumeExpansion": sc.allow_volume_expansion,
            });
            if sc.default {
                class["metadata"]["annotations"] =
                    json!({"storageclass.kubernetes.io/is-default-class": "true"});
            }
            objects.push(("storageclasses", class));
        }
        for role in ["admin", "edit", "view"] {
            objects.push((
                "clusterroles",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role}, "rules": []}),
            ));
        }
        objects
    }
}
