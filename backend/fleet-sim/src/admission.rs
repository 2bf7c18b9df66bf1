//! The two admission plugins that pin pods by namespace annotation, as kube-apiserver runs
//! them when `--enable-admission-plugins` names them (the fleet file's `admissionPlugins`):
//! PodNodeSelector merges the namespace's `scheduler.alpha.kubernetes.io/node-selector` into
//! the pod and refuses a conflicting selector; PodTolerationRestriction merges
//! `defaultTolerations` and refuses a toleration its `tolerationsWhitelist` does not cover.
//! Admission policies (CEL) are not evaluated here; the real control plane tests those.

use serde_json::{Map, Value};

use crate::{cluster::ClusterState, status::ApiError, store::Key};

type Result<T> = std::result::Result<T, ApiError>;

/// Runs the enabled plugins on a pod being created in `namespace`.
pub fn pod_create(state: &ClusterState, namespace: &str, pod: &mut Value) -> Result<()> {
    let spec = &state.spec;
    let selector = spec.admission_plugin("PodNodeSelector");
    let tolerations = spec.admission_plugin("PodTolerationRestriction");
    if !selector && !tolerations {
        return Ok(());
    }
    let namespaces = state.resource("namespaces");
    let Some(ns) = state.store.get(&Key::new(&namespaces, None, namespace)) else {
        return Ok(());
    };
    let annotation = |name: &str| {
        ns.pointer(&format!(
            "/metadata/annotations/scheduler.alpha.kubernetes.io~1{name}"
        ))
        .and_then(Value::as_str)
        .map(str::to_owned)
    };
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let forbidden = |why: &str| ApiError::forbidden(format!("pods \"{name}\" is forbidden: {why}"));
    if selector {
        if let Some(wanted) = annotation("node-selector") {
            let current = pod["spec"]
                .get("nodeSelector")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut merged = current.clone();
            for pair in wanted.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let (k, v) = (k.trim(), v.trim());
                match current.get(k).and_then(Value::as_str) {
                    Some(existing) if existing != v => return Err(forbidden(
                        "pod node label selector conflicts with its namespace node label selector",
                    )),
                    _ => {
                        merged.insert(k.to_owned(), Value::String(v.to_owned()));
                    }
                }
            }
            pod["spec"]["nodeSelector"] = Value::Object(merged);
        }
    }
    if tolerations {
        let parse = |text: Option<String>| -> Vec<Map<String, Value>> {
            text.and_then(|t| serde_json::from_str::<Vec<Map<String, Value>>>(&t).ok())
                .unwrap_or_default()
        };
        let mut current: Vec<Map<String, Value>> = pod["spec"]
            .get("tolerations")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        for default in parse(annotation("defaultTolerations")) {
            if !current.iter().any(|t| t.get("key") == default.get("key")) {
                current.push(default);
            }
        }
        let whitelist = parse(annotation("tolerationsWhitelist"));
        // An empty whitelist allows everything, as the plugin's does.
        if !whitelist.is_empty()
            && !current
                .iter()
                .all(|t| whitelist.iter().any(|w| covers(w, t)))
        {
            return Err(forbidden(
                "pod tolerations (possibly merged with namespace default tolerations) conflict with its namespace whitelist",
            ));
        }
        if !current.is_empty() {
            pod["spec"]["tolerations"] =
                Value::Array(current.into_iter().map(Value::Object).collect());
        }
    }
    Ok(())
}

/// Whether whitelist entry `w` allows toleration `t` (the plugin's superset rule).
fn covers(w: &Map<String, Value>, t: &Map<String, Value>) -> bool {
    let get =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let exists = |m: &Map<String, Value>| get(m, "operator") == "Exists";
    let key_ok = get(w, "key") == get(t, "key") || (get(w, "key").is_empty() && exists(w));
    let effect_ok = get(w, "effect").is_empty() || get(w, "effect") == get(t, "effect");
    let value_ok = exists(w) || (!exists(t) && get(w, "value") == get(t, "value"));
    key_ok && effect_ok && value_ok
}
