//! The objects Berth applies for a namespace, as manifests for server-side apply. Pure: the
//! same inputs give the same objects, which is what makes re-applying idempotent and lets
//! the drift check compare them with the live ones.

use berth_frontend::api::{Guardrails, NamespaceSpec, Taint};
use serde_json::{json, Map, Value};

use super::{
    guardrails,
    pinning::{self, Pool, Served},
    spec::Sized,
};

/// The one field manager Berth applies with.
pub const FIELD_MANAGER: &str = "berth";
pub const QUOTA_NAME: &str = "berth-quota";
pub const LIMITS_NAME: &str = "berth-limits";

pub struct Inputs<'a> {
    pub namespace: &'a str,
    pub team: &'a str,
    pub layer: &'a str,
    pub environment: &'a str,
    /// The pool's node label (empty for the fallback pool) and name.
    pub pool_label: &'a str,
    pub pool: &'a str,
    pub taints: &'a [Taint],
    /// What the cluster serves for pinning.
    pub served: &'a Served,
    /// The namespace's rules: the stricter of its environment's and its layer's.
    pub guardrails: &'a Guardrails,
    /// Its layer's default PriorityClass and value, if the layer has one.
    pub priority: Option<(&'a str, i32)>,
    /// Every storage class of the cluster; those not allowed get a quota of 0.
    pub cluster_classes: &'a [String],
    /// Every extended resource the cluster's nodes advertise; those the spec leaves out get a
    /// quota of 0.
    pub cluster_extended: &'a [String],
    pub spec: &'a Sized,
    /// The RoleBinding's group, e.g. `berth:payments`.
    pub group: String,
}

/// `berth:{team}` → `berth:payments`.
pub fn group_name(pattern: &str, team: &str) -> String {
    pattern.replace("{team}", team)
}

fn labels(i: &Inputs) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "berth",
        "berth.dev/team": i.team,
    })
}

fn meta(i: &Inputs, name: &str) -> Value {
    json!({"name": name, "namespace": i.namespace, "labels": labels(i)})
}

/// (kind, name, manifest) in the order they are applied: the Namespace first.
pub fn desired(i: &Inputs) -> Vec<(&'static str, String, Value)> {
    let pool = Pool {
        name: i.pool,
        label_key: i.pool_label,
        taints: i.taints,
    };
    let ns_annotations: Map<String, Value> = pinning::annotations(&pool)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
    let mut namespace = json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": i.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "berth",
                "berth.dev/team": i.team,
                "berth.dev/layer": i.layer,
                "berth.dev/environment": i.environment,
                "kubernetes.io/metadata.name": i.namespace,
            },
        }
    });
    if pool.pinnable() {
        namespace["metadata"]["labels"][pinning::POOL_LABEL] = Value::String(i.pool.to_owned());
    }
    for (k, v) in guardrails::namespace_labels(i.guardrails) {
        namespace["metadata"]["labels"][k] = Value::String(v);
    }
    if let Some((class, _)) = i.priority {
        namespace["metadata"]["labels"][guardrails::PRIORITY_LABEL] = Value::String(class.into());
    }
    // An applied `annotations: {}` would claim the map, and others' applies to it conflict.
    if !ns_annotations.is_empty() {
        namespace["metadata"]["annotations"] = Value::Object(ns_annotations);
    }

    let quota = resource_quota(
        meta(i, QUOTA_NAME),
        &i.spec.spec,
        i.cluster_classes,
        i.cluster_extended,
    );
    let limits = limit_range(meta(i, LIMITS_NAME), &i.spec.spec);

    let deny = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta(i, "default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    });
    let dns = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta(i, "allow-dns"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        },
    });
    let same = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta(i, "allow-same-namespace"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
    });
    let team_binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": meta(i, "team-edit"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": i.group}],
    });
    let sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta(i, "deployer"),
    });
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": meta(i, "deployer"),
        "rules": [{
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "list", "watch", "patch", "update"],
        }],
    });
    let deployer_binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": meta(i, "deployer"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": i.namespace}],
    });
    let mut out = vec![
        ("Namespace", i.namespace.to_owned(), namespace),
        ("ResourceQuota", QUOTA_NAME.into(), quota),
        ("LimitRange", LIMITS_NAME.into(), limits),
        ("NetworkPolicy", "default-deny".into(), deny),
        ("NetworkPolicy", "allow-dns".into(), dns),
        ("NetworkPolicy", "allow-same-namespace".into(), same),
        ("RoleBinding", "team-edit".into(), team_binding),
        ("ServiceAccount", "deployer".into(), sa),
        ("Role", "deployer".into(), role),
        ("RoleBinding", "deployer".into(), deployer_binding),
    ];
    // The pool's policies are the same for every namespace of the pool; applying them again
    // with each namespace keeps them current when the pool's taints change.
    out.extend(pinning::policies(&pool, i.served));
    if i.served.validating {
        out.extend(guardrails::policies());
    }
    if let Some((class, value)) = i.priority {
        out.extend(guardrails::priority_objects(class, value, i.served));
    }
    out
}

/// The ResourceQuota for `spec`: its totals and other keys, per storage class of the cluster
/// the storage and claims allowed (`0` for a class the spec does not allow), and `0` for every
/// extended resource of the cluster the spec does not ask for.
pub fn resource_quota(
    metadata: Value,
    spec: &NamespaceSpec,
    cluster_classes: &[String],
    cluster_extended: &[String],
) -> Value {
    let q = &spec.quota;
    let mut hard = Map::new();
    let mut put = |k: &str, v: String| {
        hard.insert(k.to_owned(), Value::String(v));
    };
    put("requests.cpu", q.requests_cpu.clone());
    put("requests.memory", q.requests_memory.clone());
    put("limits.cpu", q.limits_cpu.clone());
    put("limits.memory", q.limits_memory.clone());
    put("pods", q.pods.to_string());
    put("services", q.services.to_string());
    put(
        "persistentvolumeclaims",
        q.persistentvolumeclaims.to_string(),
    );
    put("requests.storage", q.requests_storage.clone());
    for resource in cluster_extended {
        put(&format!("requests.{resource}"), "0".into());
    }
    for (key, value) in &q.other {
        put(key, value.clone());
    }
    for class in cluster_classes {
        let allowed = spec.storage_classes.iter().find(|c| &c.name == class);
        let (storage, pvcs) = match allowed {
            Some(c) => (c.storage.clone(), c.persistentvolumeclaims.to_string()),
            None => ("0".to_owned(), "0".to_owned()),
        };
        put(
            &format!("{class}.storageclass.storage.k8s.io/requests.storage"),
            storage,
        );
        put(
            &format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
            pvcs,
        );
    }
    json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": metadata,
        "spec": {"hard": hard},
    })
}

/// The LimitRange for `spec`: container defaults, bounds and limit/request ratios.
pub fn limit_range(metadata: Value, spec: &NamespaceSpec) -> Value {
    let l = &spec.limits;
    let mut ratio = Map::new();
    if let Some(r) = &l.max_limit_request_ratio_cpu {
        ratio.insert("cpu".into(), Value::String(r.clone()));
    }
    if let Some(r) = &l.max_limit_request_ratio_memory {
        ratio.insert("memory".into(), Value::String(r.clone()));
    }
    let mut container = json!({
        "type": "Container",
        "defaultRequest": {"cpu": l.default_request_cpu, "memory": l.default_request_memory},
        "default": {"cpu": l.default_limit_cpu, "memory": l.default_limit_memory},
        "min": {"cpu": l.min_cpu, "memory": l.min_memory},
        "max": {"cpu": l.max_cpu, "memory": l.max_memory},
    });
    if !ratio.is_empty() {
        container["maxLimitRequestRatio"] = Value::Object(ratio);
    }
    json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": metadata,
        "spec": {"limits": [container]},
    })
}

/// Paths where `live` does not carry what `desired` says (desired ⊆ live). Fields the
/// server adds are ignored; quantities are compared as written.
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", desired, live, &mut out);
    out
}

/// [`differences`] with the values on each side, for people: `/spec/hard/pods: 20 → 40`
/// (Berth's value, then the other's; `missing` where one side has none).
pub fn described_differences(desired: &Value, live: &Value) -> Vec<String> {
    let show = |v: Option<&Value>| -> String {
        let text = match v {
            None => "missing".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if text.chars().count() > 60 {
            format!("{}…", text.chars().take(60).collect::<String>())
        } else {
            text
        }
    };
    differences(desired, live)
        .into_iter()
        .map(|path| {
            let pointer = if path == "/" { "" } else { path.as_str() };
            format!(
                "{path}: {} → {}",
                show(desired.pointer(pointer)),
                show(live.pointer(pointer))
            )
        })
        .collect()
}

/// An object whose every value is an object without leaves (`{}`, `{"labels": {}}`): what
/// the API server drops, so its absence is no difference.
fn leafless(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.values().all(leafless))
}

fn diff(path: &str, desired: &Value, live: &Value, out: &mut Vec<String>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let p = format!("{path}/{k}");
                match l.get(k) {
                    Some(lv) => diff(&p, dv, lv, out),
                    None if leafless(dv) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (n, (dv, lv)) in d.iter().zip(l).enumerate() {
                diff(&format!("{path}/{n}"), dv, lv, out);
            }
        }
        (d, l) if d == l => {}
        // The API server canonicalises quantities (`0.5` comes back as `500m`).
        (Value::String(d), Value::String(l)) if crate::quantity::same(d, l) => {}
        _ => out.push(if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_ignore_server_fields_and_name_changed_paths() {
        let d =
            json!({"spec": {"hard": {"pods": "20", "services": "5"}}, "metadata": {"labels": {}}});
        let l = json!({"spec": {"hard": {"pods": "40", "services": "5"}}, "status": {}, "metadata": {"uid": "x"}});
        assert_eq!(differences(&d, &l), vec!["/spec/hard/pods".to_owned()]);
        assert!(differences(
            &d,
            &json!({"spec": {"hard": {"pods": "20", "services": "5"}}})
        )
        .is_empty());
    }

    #[test]
    fn group_pattern_substitutes_the_team() {
        assert_eq!(
            group_name("oidc:{team}-devs", "payments"),
            "oidc:payments-devs"
        );
    }
}
