//! `/openapi/v3`: a document per group-version with each served resource's paths and
//! operations, marked with `x-kubernetes-group-version-kind` and carrying the `dryRun`,
//! `fieldManager`, `fieldValidation` and `force` parameters. kubectl reads the PATCH
//! operation's parameters to learn that the server validates fields itself, so `kubectl
//! apply` works against the simulator without `--validate=false`. Schemas are not served.

use std::{
    collections::BTreeMap,
    hash::{Hash, Hasher},
};

use serde_json::{json, Value};

use crate::resources::Resource;

fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &Resource, action: &str) -> Value {
    let mut params = vec![param("dryRun"), param("fieldManager")];
    if matches!(action, "post" | "put" | "patch") {
        params.push(param("fieldValidation"));
    }
    if action == "patch" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    json!({
        "operationId": format!("{action}{}", r.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
    })
}

/// One group-version's document.
pub fn document(resources: &[Resource], group: &str, version: &str) -> Option<Value> {
    let base = format!("/{}", prefix(group, version));
    let mut paths = serde_json::Map::new();
    for r in resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        paths.insert(
            collection.clone(),
            json!({"get": operation(r, "list"), "post": operation(r, "post")}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": operation(r, "get"), "put": operation(r, "put"),
                   "patch": operation(r, "patch"), "delete": operation(r, "delete")}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (berth-fleet-sim)", "version": version},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// The index kubectl starts from: a path per group-version, with a hash of its document.
pub fn root(resources: &[Resource]) -> Value {
    let mut gvs: BTreeMap<(String, String), ()> = BTreeMap::new();
    for r in resources {
        gvs.insert((r.group.to_owned(), r.version.to_owned()), ());
    }
    let mut paths = serde_json::Map::new();
    for (group, version) in gvs.keys() {
        let doc = document(resources, group, version).unwrap_or(Value::Null);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut hasher);
        let p = prefix(group, version);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={:016X}", hasher.finish())}),
        );
    }
    json!({"paths": paths})
}
