//! Field ownership for server-side apply, in the `fieldsV1` shape Kubernetes uses.
//!
//! A field set is the set of leaf paths an applier sent. Objects are walked key by key;
//! lists, scalars and empty objects are leaves (lists are treated as atomic, which is how
//! Kubernetes treats lists without merge keys and is the conservative reading for the rest).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// Fields that identify an object or are owned by the server, never by a manager.
fn ignored(path: &[String]) -> bool {
    match path {
        [first] => first == "apiVersion" || first == "kind",
        [first, second, ..] if first == "metadata" => matches!(
            second.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "deletionTimestamp"
                | "selfLink"
        ),
        [first, ..] => first == "status",
        [] => true,
    }
}

pub fn leaf_paths(value: &Value) -> FieldSet {
    fn walk(value: &Value, path: &mut Path, out: &mut FieldSet) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    if !ignored(path) {
                        walk(child, path, out);
                    }
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() && !ignored(path) {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// An applied `{}`: it owns the map, not its entries.
pub fn empty_map(value: Option<&Value>) -> bool {
    value.and_then(Value::as_object).is_some_and(Map::is_empty)
}

pub fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

pub fn set(value: &mut Value, path: &[String], leaf: Value) {
    let mut current = value;
    for key in &path[..path.len() - 1] {
        if !current.get(key).is_some_and(Value::is_object) {
            current[key.as_str()] = Value::Object(Map::new());
        }
        current = current.get_mut(key).expect("just ensured");
    }
    current[path[path.len() - 1].as_str()] = leaf;
}

/// Removes a leaf, then any object it leaves empty on the way up.
pub fn remove(value: &mut Value, path: &[String]) {
    fn go(value: &mut Value, path: &[String]) -> bool {
        let Some(map) = value.as_object_mut() else {
            return false;
        };
        if path.len() == 1 {
            map.remove(&path[0]);
        } else if let Some(child) = map.get_mut(&path[0]) {
            if go(child, &path[1..]) {
                map.remove(&path[0]);
            }
        }
        map.is_empty()
    }
    go(value, path);
}

/// `".spec.hard.cpu"`, as conflict messages name a field.
pub fn display(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Value::Object(Map::new());
    for path in set {
        let mut current = &mut root;
        for key in path {
            let k = format!("f:{key}");
            if current.get(&k).is_none() {
                current[k.as_str()] = Value::Object(Map::new());
            }
            current = current.get_mut(&k).expect("just inserted");
        }
    }
    root
}

pub fn from_fields_v1(value: &Value) -> FieldSet {
    fn walk(value: &Value, path: &mut Path, out: &mut FieldSet) {
        match value.as_object() {
            Some(map) if !map.is_empty() => {
                for (key, child) in map {
                    if let Some(name) = key.strip_prefix("f:") {
                        path.push(name.to_owned());
                        walk(child, path, out);
                        path.pop();
                    }
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = FieldSet::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// Whether two paths overlap: one is the other or lies under it.
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Path {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn leaves_skip_identity_and_status_and_treat_lists_and_empty_maps_as_leaves() {
        let obj = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "1"}},
                         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}, "status": {"x": 1}});
        let set = leaf_paths(&obj);
        assert_eq!(
            set,
            FieldSet::from([
                p("metadata.labels.a"),
                p("spec.podSelector"),
                p("spec.policyTypes")
            ])
        );
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = FieldSet::from([
            p("metadata.labels.a"),
            p("spec.hard.cpu"),
            p("spec.hard.memory"),
        ]);
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }

    #[test]
    fn removing_the_last_leaf_prunes_empty_parents() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}, "name": "x"}});
        remove(&mut obj, &p("metadata.labels.a"));
        assert_eq!(obj, json!({"metadata": {"name": "x"}}));
    }
}
