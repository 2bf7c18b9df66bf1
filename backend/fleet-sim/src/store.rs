//! One simulated cluster's objects: kept as compact JSON text (so a 500-node cluster is small),
//! versioned by a cluster-wide resourceVersion, with an event log that watches replay from.
//!
//! Every write happens under one lock, so read-modify-write operations (update, apply) are
//! atomic, as they are behind a real API server's optimistic concurrency.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, RwLock},
};

use serde_json::{json, Map, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::sync::broadcast;

use crate::{
    apply::{self, FieldSet},
    resources::Resource,
    status::{ApiError, ApiResult},
};

/// How many events a watch may resume from.
const EVENT_LOG: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &Resource, namespace: Option<&str>, name: &str) -> Key {
        Key {
            resource: resource.qualified(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub resource_version: u64,
    pub resource: String,
    pub namespace: String,
    /// ADDED, MODIFIED or DELETED
    pub kind: &'static str,
    pub object: Arc<str>,
}

struct Inner {
    resource_version: u64,
    /// The newest resourceVersion the log cannot replay from: seeding, and evicted events.
    log_floor: u64,
    objects: BTreeMap<Key, Arc<str>>,
    log: VecDeque<Arc<Event>>,
}

pub struct Store {
    inner: RwLock<Inner>,
    events: broadcast::Sender<Arc<Event>>,
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("the store holds only JSON it wrote")
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// What a write did, for the HTTP status: 201 for a creation, 200 otherwise.
pub struct Written {
    pub created: bool,
    pub object: Value,
}

/// An apply or update: the manager, and whether conflicts are overridden.
pub struct FieldManager<'a> {
    pub name: &'a str,
    pub force: bool,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            inner: RwLock::new(Inner {
                resource_version: 1,
                log_floor: 1,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
            }),
            events: broadcast::channel(4096).0,
        }
    }
}

impl Inner {
    /// The object at `key`, or the 404 a client gets for it.
    fn live(&self, resource: &Resource, key: &Key) -> ApiResult<Value> {
        self.objects
            .get(key)
            .map(|t| parse(t))
            .ok_or_else(|| ApiError::not_found(&resource.qualified(), &key.name))
    }

    fn commit(
        &mut self,
        events: &broadcast::Sender<Arc<Event>>,
        key: &Key,
        kind: &'static str,
        mut obj: Value,
    ) -> Value {
        self.resource_version += 1;
        let rv = self.resource_version;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let text: Arc<str> = serde_json::to_string(&obj)
            .expect("JSON values serialise")
            .into();
        if kind == "DELETED" {
            self.objects.remove(key);
        } else {
            self.objects.insert(key.clone(), text.clone());
        }
        let event = Arc::new(Event {
            resource_version: rv,
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            kind,
            object: text,
        });
        if self.log.len() == EVENT_LOG {
            if let Some(evicted) = self.log.pop_front() {
                self.log_floor = evicted.resource_version;
            }
        }
        self.log.push_back(event.clone());
        let _ = events.send(event);
        obj
    }
}

/// The managers' field sets, read from `metadata.managedFields`.
fn managers(obj: &Value) -> Vec<(String, String, FieldSet)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or_default().to_owned(),
                        e["operation"].as_str().unwrap_or("Update").to_owned(),
                        apply::from_fields_v1(&e["fieldsV1"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_managers(
    obj: &mut Value,
    api_version: &str,
    entries: &[(String, String, FieldSet)],
    changed: &str,
) {
    let previous = managers(obj);
    let stamp = now();
    let list: Vec<Value> = entries
        .iter()
        .filter(|(_, _, set)| !set.is_empty())
        .map(|(manager, operation, set)| {
            // Keep the old time for entries this write did not touch.
            let unchanged = previous.iter().any(|(m, o, s)| m == manager && o == operation && s == set);
            let time = if unchanged && manager != changed {
                obj.pointer("/metadata/managedFields")
                    .and_then(Value::as_array)
                    .and_then(|es| es.iter().find(|e| e["manager"] == manager.as_str() && e["operation"] == operation.as_str()))
                    .and_then(|e| e.get("time").cloned())
                    .unwrap_or_else(|| json!(stamp))
            } else {
                json!(stamp)
            };
            json!({"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
                   "fieldsType": "FieldsV1", "fieldsV1": apply::to_fields_v1(set)})
        })
        .collect();
    if list.is_empty() {
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(list);
    }
}

/// The object without the fields that change on every write, for no-op detection.
fn comparable(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    obj
}

/// What the API server fills in on every object it creates.
fn initialise(resource: &Resource, obj: &mut Value) {
    let meta = obj["metadata"]
        .as_object_mut()
        .expect("checked by the caller");
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now()));
    if obj.get("spec").is_some() {
        obj["metadata"]["generation"] = json!(1);
    }
    match resource.kind {
        "Namespace" => {
            let name = name_of(obj).to_owned();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        "ResourceQuota" => sync_quota_status(obj, None),
        "ServiceAccount" if obj.get("secrets").is_none() => {}
        _ => {}
    }
}

/// What the API server maintains on a change: `metadata.generation` counts spec changes, and
/// a quota's status follows its spec.
fn derive_server_fields(resource: &Resource, live: &Value, next: &mut Value) {
    if live.get("spec") != next.get("spec") {
        let generation = live["metadata"]["generation"].as_i64().unwrap_or(0);
        next["metadata"]["generation"] = json!(generation + 1);
    } else if let Some(g) = live["metadata"].get("generation") {
        next["metadata"]["generation"] = g.clone();
    }
    if resource.kind == "ResourceQuota" && live.pointer("/spec/hard") != next.pointer("/spec/hard")
    {
        sync_quota_status(next, Some(live));
    }
}

/// The quota controller's part: `status.hard` follows `spec.hard`, and `status.used` keeps
/// what was measured (zero for new keys).
fn sync_quota_status(obj: &mut Value, previous: Option<&Value>) {
    let hard = obj
        .pointer("/spec/hard")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let old_used = previous
        .and_then(|p| p.pointer("/status/used"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut used = Map::new();
    if let Some(keys) = hard.as_object() {
        for key in keys.keys() {
            used.insert(
                key.clone(),
                old_used.get(key).cloned().unwrap_or_else(|| json!("0")),
            );
        }
    }
    obj["status"] = json!({"hard": hard, "used": used});
}

impl Store {
    pub fn resource_version(&self) -> u64 {
        self.inner.read().expect("store lock").resource_version
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Events after `resource_version` for `resource`, or `None` when the log no longer
    /// reaches back that far (the watch must relist: 410 Gone).
    pub fn events_since(&self, resource: &str, resource_version: u64) -> Option<Vec<Arc<Event>>> {
        let inner = self.inner.read().expect("store lock");
        if resource_version < inner.log_floor {
            return None;
        }
        Some(
            inner
                .log
                .iter()
                .filter(|e| e.resource_version > resource_version && e.resource == resource)
                .cloned()
                .collect(),
        )
    }

    pub fn get(&self, key: &Key) -> Option<Value> {
        self.inner
            .read()
            .expect("store lock")
            .objects
            .get(key)
            .map(|t| parse(t))
    }

    pub fn contains(&self, key: &Key) -> bool {
        self.inner
            .read()
            .expect("store lock")
            .objects
            .contains_key(key)
    }

    /// Objects of `resource` (in `namespace`, or all), in name order, with the list's
    /// resourceVersion. `after` resumes a paged list after that key.
    pub fn list(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        after: Option<&Key>,
    ) -> (Vec<(Key, Arc<str>)>, u64) {
        let inner = self.inner.read().expect("store lock");
        let qualified = resource.qualified();
        let start = Key {
            resource: qualified.clone(),
            namespace: namespace.unwrap_or_default().to_owned(),
            name: String::new(),
        };
        let items = inner
            .objects
            .range(start..)
            .skip_while(|(k, _)| after.is_some_and(|a| *k <= a))
            .take_while(|(k, _)| {
                k.resource == qualified && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (items, inner.resource_version)
    }

    /// Creates an object; `manager` owns every field it sent.
    pub fn create(&self, resource: &Resource, mut obj: Value, manager: &str) -> ApiResult<Value> {
        let namespace = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = Key::new(resource, namespace.as_deref(), name_of(&obj));
        let mut inner = self.inner.write().expect("store lock");
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&resource.qualified(), &key.name));
        }
        let fields = apply::leaf_paths(&obj);
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        initialise(resource, &mut obj);
        write_managers(
            &mut obj,
            &resource.api_version(),
            &[(manager.to_owned(), "Update".into(), fields)],
            manager,
        );
        Ok(inner.commit(&self.events, &key, "ADDED", obj))
    }

    /// Replaces an object (PUT). A stale `metadata.resourceVersion` is a 409; `.status` is
    /// kept unless `status_only`, in which case only `.status` changes.
    pub fn replace(
        &self,
        resource: &Resource,
        key: &Key,
        mut obj: Value,
        manager: &str,
        status_only: bool,
    ) -> ApiResult<Value> {
        let mut inner = self.inner.write().expect("store lock");
        let live = inner.live(resource, key)?;
        if let Some(sent) = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            if sent
                != live["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            {
                return Err(ApiError::conflict(
                    &resource.qualified(),
                    &key.name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        let mut next = if status_only {
            let mut next = live.clone();
            next["status"] = obj.get("status").cloned().unwrap_or(Value::Null);
            next
        } else {
            for field in [
                "uid",
                "creationTimestamp",
                "managedFields",
                "deletionTimestamp",
            ] {
                if let Some(v) = live["metadata"].get(field) {
                    obj["metadata"][field] = v.clone();
                }
            }
            if resource.has_status {
                match live.get("status") {
                    Some(status) => obj["status"] = status.clone(),
                    None => {
                        if let Some(o) = obj.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            obj
        };
        Self::finish_update(resource, &live, &mut next, manager);
        if comparable(&next) == comparable(&live) {
            return Ok(live);
        }
        Ok(inner.commit(&self.events, key, "MODIFIED", next))
    }

    /// An update (PUT or patch): the server's own fields, then the updater takes the fields
    /// whose values it changed.
    fn finish_update(resource: &Resource, live: &Value, next: &mut Value, manager: &str) {
        derive_server_fields(resource, live, next);
        let before = apply::leaf_paths(live);
        let after = apply::leaf_paths(next);
        let changed: FieldSet = after
            .iter()
            .filter(|p| !before.contains(*p) || apply::get(live, p) != apply::get(next, p))
            .cloned()
            .collect();
        if !changed.is_empty() {
            let mut entries = managers(live);
            for (_, _, set) in entries.iter_mut() {
                set.retain(|p| !changed.contains(p) && after.contains(p));
            }
            match entries
                .iter_mut()
                .find(|(m, o, _)| m == manager && o == "Update")
            {
                Some((_, _, set)) => set.extend(changed),
                None => entries.push((manager.to_owned(), "Update".into(), changed)),
            }
            write_managers(next, &resource.api_version(), &entries, manager);
        } else if let Some(mf) = live["metadata"].get("managedFields") {
            next["metadata"]["managedFields"] = mf.clone();
        }
    }

    /// Server-side apply: creates when missing; otherwise merges the applied fields, refuses
    /// fields another manager owns with a different value (409) unless `force`, drops fields
    /// this manager applied before and no longer sends, and changes nothing (not even the
    /// resourceVersion) when the result equals the live object.
    pub fn apply(
        &self,
        resource: &Resource,
        key: &Key,
        applied: Value,
        manager: FieldManager<'_>,
    ) -> ApiResult<Written> {
        self.apply_or_try(resource, key, applied, manager, false)
    }

    /// As [`Store::apply`]; with `dry_run` the merged object is answered and nothing stored.
    pub fn apply_or_try(
        &self,
        resource: &Resource,
        key: &Key,
        applied: Value,
        manager: FieldManager<'_>,
        dry_run: bool,
    ) -> ApiResult<Written> {
        let mut inner = self.inner.write().expect("store lock");
        let applied_set = apply::leaf_paths(&applied);
        let Some(live) = inner.objects.get(key).map(|t| parse(t)) else {
            let mut obj = applied;
            if let Some(meta) = obj["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
                meta.remove("managedFields");
            }
            if resource.has_status {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
            initialise(resource, &mut obj);
            write_managers(
                &mut obj,
                &resource.api_version(),
                &[(manager.name.to_owned(), "Apply".into(), applied_set)],
                manager.name,
            );
            if dry_run {
                return Ok(Written {
                    created: true,
                    object: obj,
                });
            }
            return Ok(Written {
                created: true,
                object: inner.commit(&self.events, key, "ADDED", obj),
            });
        };

        let mut entries = managers(&live);
        let mut conflicts = Vec::new();
        for (other, operation, set) in &entries {
            if other == manager.name && operation == "Apply" {
                continue;
            }
            for path in &applied_set {
                for owned in set.iter().filter(|o| apply::overlaps(o, path)) {
                    // An empty map claims the map, not what others put in it; a map owned
                    // while empty stops being a leaf once others have filled it.
                    if owned.len() > path.len() && apply::empty_map(apply::get(&applied, path)) {
                        continue;
                    }
                    if path.len() > owned.len()
                        && apply::get(&live, owned)
                            .and_then(Value::as_object)
                            .is_some_and(|m| !m.is_empty())
                    {
                        continue;
                    }
                    let differs = apply::get(&live, owned) != apply::get(&applied, owned)
                        || apply::get(&live, path) != apply::get(&applied, path);
                    if differs {
                        conflicts.push((other.clone(), apply::display(owned)));
                    }
                }
            }
        }
        conflicts.sort();
        conflicts.dedup();
        if !conflicts.is_empty() && !manager.force {
            return Err(ApiError::apply_conflicts(
                &resource.qualified(),
                &key.name,
                &conflicts,
            ));
        }

        let mut next = live.clone();
        let previous: FieldSet = entries
            .iter()
            .find(|(m, o, _)| m == manager.name && o == "Apply")
            .map(|(_, _, s)| s.clone())
            .unwrap_or_default();
        for path in previous.difference(&applied_set) {
            let owned_elsewhere = entries
                .iter()
                .filter(|(m, o, _)| !(m == manager.name && o == "Apply"))
                .any(|(_, _, s)| s.contains(path));
            // A map this manager sent empty keeps what others put in it.
            let filled = apply::get(&next, path)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty());
            if !owned_elsewhere && !filled {
                apply::remove(&mut next, path);
            }
        }
        for path in &applied_set {
            let value = apply::get(&applied, path).cloned().unwrap_or(Value::Null);
            if apply::empty_map(Some(&value))
                && apply::get(&next, path).is_some_and(Value::is_object)
            {
                continue;
            }
            apply::set(&mut next, path, value);
        }
        // Ownership: a forced apply takes conflicting fields; equal values are shared.
        for (m, o, set) in entries.iter_mut() {
            if !(m == manager.name && o == "Apply") && manager.force {
                set.retain(|owned| !applied_set.iter().any(|p| apply::overlaps(owned, p)));
            }
        }
        match entries
            .iter_mut()
            .find(|(m, o, _)| m == manager.name && o == "Apply")
        {
            Some((_, _, set)) => *set = applied_set,
            None => entries.push((manager.name.to_owned(), "Apply".into(), applied_set)),
        }
        entries.retain(|(_, _, s)| !s.is_empty());

        if comparable(&next) == comparable(&live) && managers(&live) == entries {
            return Ok(Written {
                created: false,
                object: live,
            });
        }
        derive_server_fields(resource, &live, &mut next);
        write_managers(&mut next, &resource.api_version(), &entries, manager.name);
        if dry_run {
            return Ok(Written {
                created: false,
                object: next,
            });
        }
        Ok(Written {
            created: false,
            object: inner.commit(&self.events, key, "MODIFIED", next),
        })
    }

    /// Deletes one object and answers it as it was.
    pub fn delete(&self, resource: &Resource, key: &Key) -> ApiResult<Value> {
        let mut inner = self.inner.write().expect("store lock");
        let live = inner.live(resource, key)?;
        Ok(inner.commit(&self.events, key, "DELETED", live))
    }

    /// Marks a namespace Terminating (the first step of namespace deletion).
    pub fn mark_terminating(&self, resource: &Resource, key: &Key) -> ApiResult<Value> {
        let mut inner = self.inner.write().expect("store lock");
        let mut live = inner.live(resource, key)?;
        if live.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(live);
        }
        live["metadata"]["deletionTimestamp"] = json!(now());
        live["status"]["phase"] = json!("Terminating");
        Ok(inner.commit(&self.events, key, "MODIFIED", live))
    }

    /// Removes every object in `namespace`, then the namespace itself.
    pub fn finalize_namespace(&self, namespace: &str) {
        let mut inner = self.inner.write().expect("store lock");
        let doomed: Vec<(Key, Arc<str>)> = inner
            .objects
            .iter()
            .filter(|(k, _)| k.namespace == namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, text) in doomed {
            inner.commit(&self.events, &key, "DELETED", parse(&text));
        }
        let key = Key {
            resource: "namespaces".into(),
            namespace: String::new(),
            name: namespace.to_owned(),
        };
        if let Some(text) = inner.objects.get(&key).cloned() {
            inner.commit(&self.events, &key, "DELETED", parse(&text));
        }
    }

    /// Loads objects without events or managers, for a new cluster's initial state.
    pub fn seed(&self, resource: &Resource, mut obj: Value) {
        let namespace = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = Key::new(resource, namespace.as_deref(), name_of(&obj));
        initialise(resource, &mut obj);
        let mut inner = self.inner.write().expect("store lock");
        inner.resource_version += 1;
        inner.log_floor = inner.resource_version;
        obj["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        let text: Arc<str> = serde_json::to_string(&obj)
            .expect("JSON values serialise")
            .into();
        inner.objects.insert(key, text);
    }
}
