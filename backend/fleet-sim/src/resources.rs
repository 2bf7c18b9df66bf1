//! The resources the simulator serves, with their group, version, kind and scope, and the
//! typed (k8s-openapi) check each body must pass.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    /// A status subresource exists: writes to the main resource keep `.status`.
    pub has_status: bool,
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, as messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn is_custom(&self) -> bool {
        self.group.ends_with("velero.io") || self.group.ends_with("kyverno.io")
    }
}

const fn r(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    has_status: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        has_status,
    }
}

/// Built into every simulated cluster.
pub const BUILT_IN: &[Resource] = &[
    r(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        true,
    ),
    r("", "v1", "Node", "nodes", "node", false, true),
    r(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        true,
        true,
    ),
    r(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        true,
        false,
    ),
    r(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        false,
    ),
    r("", "v1", "Pod", "pods", "pod", true, true),
    r(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        true,
    ),
    r(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        false,
    ),
    r(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        "storageclass",
        false,
        false,
    ),
    r(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        true,
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        true,
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
        false,
    ),
    r(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
        false,
    ),
    r(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        true,
    ),
    r(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        true,
    ),
    r(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        true,
        true,
    ),
    r("batch", "v1", "Job", "jobs", "job", true, true),
    r(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        true,
        true,
    ),
    r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
        true,
    ),
    r(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        false,
        false,
    ),
];

/// ValidatingAdmissionPolicy (Kubernetes ≥ 1.30): stored, never evaluated — the simulator
/// has no CEL. Pinning on a simulated cluster holds only where its emulated plugins run.
pub const VALIDATING_POLICIES: &[Resource] = &[
    r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        false,
        true,
    ),
    r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        false,
        false,
    ),
];

/// MutatingAdmissionPolicy (GA in 1.36): stored, never evaluated, like the validating kind.
pub const MUTATING_POLICIES: &[Resource] = &[
    r(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingAdmissionPolicy",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicy",
        false,
        false,
    ),
    r(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybindings",
        "mutatingadmissionpolicybinding",
        false,
        false,
    ),
];

/// Velero's custom resources, registered on clusters that run Velero.
pub const VELERO: &[Resource] = &[
    r("velero.io", "v1", "Backup", "backups", "backup", true, true),
    r(
        "velero.io",
        "v1",
        "Restore",
        "restores",
        "restore",
        true,
        true,
    ),
    r(
        "velero.io",
        "v1",
        "Schedule",
        "schedules",
        "schedule",
        true,
        true,
    ),
];

/// Kyverno's policies, registered on clusters that run Kyverno.
pub const KYVERNO: &[Resource] = &[
    r(
        "kyverno.io",
        "v1",
        "ClusterPolicy",
        "clusterpolicies",
        "clusterpolicy",
        false,
        true,
    ),
    r(
        "kyverno.io",
        "v1",
        "Policy",
        "policies",
        "policy",
        true,
        true,
    ),
    // Kyverno's CEL policies (Kyverno 1.19 serves them in v1). Stored, never evaluated: the
    // simulator runs no Kyverno, so pinning with them is proven on the real control plane.
    r(
        "policies.kyverno.io",
        "v1",
        "MutatingPolicy",
        "mutatingpolicies",
        "mutatingpolicy",
        false,
        true,
    ),
    r(
        "policies.kyverno.io",
        "v1",
        "ValidatingPolicy",
        "validatingpolicies",
        "validatingpolicy",
        false,
        true,
    ),
];

/// The short names kubectl takes (`kubectl get ns`), as the real server lists them.
pub fn short_names(plural: &str) -> &'static [&'static str] {
    match plural {
        "namespaces" => &["ns"],
        "nodes" => &["no"],
        "resourcequotas" => &["quota"],
        "limitranges" => &["limits"],
        "serviceaccounts" => &["sa"],
        "pods" => &["po"],
        "persistentvolumeclaims" => &["pvc"],
        "configmaps" => &["cm"],
        "storageclasses" => &["sc"],
        "networkpolicies" => &["netpol"],
        "deployments" => &["deploy"],
        "statefulsets" => &["sts"],
        "daemonsets" => &["ds"],
        "poddisruptionbudgets" => &["pdb"],
        "horizontalpodautoscalers" => &["hpa"],
        _ => &[],
    }
}

/// Fields of `body` its kind does not have (`metadata.bogus`), found by comparing the body
/// with its typed reading: what the real server calls "unknown field" or "field not declared
/// in schema". Custom resources have no typed reading here and report none.
pub fn unknown_fields(resource: &Resource, body: &Value) -> Vec<String> {
    fn walk(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
        match (given, known) {
            (Value::Object(g), Value::Object(k)) => {
                for (key, value) in g {
                    let p = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match k.get(key) {
                        Some(kv) => walk(value, kv, &p, out),
                        None if value.is_null() => {}
                        None => out.push(p),
                    }
                }
            }
            (Value::Array(g), Value::Array(k)) => {
                for (i, (gv, kv)) in g.iter().zip(k).enumerate() {
                    walk(gv, kv, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(Some(known)) = typed(resource, body) {
        walk(body, &known, "", &mut out);
    }
    out
}

/// Checks a body against the real type (k8s-openapi) of its kind; custom resources are
/// checked for shape only. Answers the decoder's message on failure.
pub fn decode_typed(resource: &Resource, body: &Value) -> Result<(), String> {
    typed(resource, body).map(|_| ())
}

/// The body as its typed reading writes it back (None for custom resources).
fn typed(resource: &Resource, body: &Value) -> Result<Option<Value>, String> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as autoscaling, batch::v1 as batch, core::v1 as core,
        networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling, storage::v1 as storage,
    };
    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(
        body: &Value,
    ) -> Result<Option<Value>, String> {
        let typed = serde_json::from_value::<T>(body.clone()).map_err(|e| e.to_string())?;
        Ok(serde_json::to_value(typed).ok())
    }
    match (resource.group, resource.kind) {
        ("", "Namespace") => check::<core::Namespace>(body),
        ("", "Node") => check::<core::Node>(body),
        ("", "ResourceQuota") => check::<core::ResourceQuota>(body),
        ("", "LimitRange") => check::<core::LimitRange>(body),
        ("", "ServiceAccount") => check::<core::ServiceAccount>(body),
        ("", "Pod") => check::<core::Pod>(body),
        ("", "PersistentVolumeClaim") => check::<core::PersistentVolumeClaim>(body),
        ("", "ConfigMap") => check::<core::ConfigMap>(body),
        (_, "StorageClass") => check::<storage::StorageClass>(body),
        (_, "NetworkPolicy") => check::<networking::NetworkPolicy>(body),
        ("rbac.authorization.k8s.io", "Role") => check::<rbac::Role>(body),
        ("rbac.authorization.k8s.io", "RoleBinding") => check::<rbac::RoleBinding>(body),
        ("rbac.authorization.k8s.io", "ClusterRole") => check::<rbac::ClusterRole>(body),
        ("apps", "Deployment") => check::<apps::Deployment>(body),
        ("apps", "StatefulSet") => check::<apps::StatefulSet>(body),
        ("apps", "DaemonSet") => check::<apps::DaemonSet>(body),
        ("batch", "Job") => check::<batch::Job>(body),
        ("policy", "PodDisruptionBudget") => check::<policy::PodDisruptionBudget>(body),
        ("scheduling.k8s.io", "PriorityClass") => check::<scheduling::PriorityClass>(body),
        ("autoscaling", "HorizontalPodAutoscaler") => {
            check::<autoscaling::HorizontalPodAutoscaler>(body)
        }
        _ => match body.get("spec") {
            None | Some(Value::Object(_)) => Ok(None),
            Some(_) => Err("spec: expected an object".into()),
        },
    }
}

/// Where quantities live in the kinds that carry them, for 422s on values like `"12 cores"`.
pub fn quantity_fields(resource: &Resource, body: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut map_at = |path: &str, value: Option<&Value>| {
        if let Some(Value::Object(map)) = value {
            for (key, v) in map {
                if let Value::String(s) = v {
                    found.push((format!("{path}[{key}]"), s.clone()));
                }
            }
        }
    };
    match resource.kind {
        "ResourceQuota" => map_at("spec.hard", body.pointer("/spec/hard")),
        "LimitRange" => {
            if let Some(Value::Array(limits)) = body.pointer("/spec/limits") {
                for (i, limit) in limits.iter().enumerate() {
                    for key in [
                        "default",
                        "defaultRequest",
                        "min",
                        "max",
                        "maxLimitRequestRatio",
                    ] {
                        map_at(&format!("spec.limits[{i}].{key}"), limit.get(key));
                    }
                }
            }
        }
        "Node" => {
            map_at("status.capacity", body.pointer("/status/capacity"));
            map_at("status.allocatable", body.pointer("/status/allocatable"));
        }
        _ => {}
    }
    found
}
