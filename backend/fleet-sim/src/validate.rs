//! What kube-apiserver's validation refuses in ResourceQuotas and LimitRanges
//! (`ValidateResourceQuotaSpec`, `ValidateLimitRange` in pkg/apis/core/validation), with the
//! field paths and messages the server gives, so clients see the same 422.

use std::collections::{BTreeMap, BTreeSet};

use berth_kube::{quantity::Quantity, resources};
use serde_json::Value;

type Causes = Vec<(String, String)>;

fn quantities(v: &Value) -> BTreeMap<String, (String, Option<Quantity>)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let raw = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let q = Quantity::parse(&raw).ok();
            (k.clone(), (raw, q))
        })
        .collect()
}

pub fn resource_quota(obj: &Value) -> Causes {
    let mut causes = Causes::new();
    for (key, (raw, q)) in quantities(&obj["spec"]["hard"]) {
        let field = format!("spec.hard[{key}]");
        if let Err(m) = resources::quota_key(&key) {
            causes.push((field.clone(), format!("Invalid value: {key:?}: {m}")));
        }
        let Some(q) = q else { continue };
        if q.is_negative() {
            causes.push((
                field.clone(),
                format!("Invalid value: {raw:?}: must be greater than or equal to 0"),
            ));
        }
        if resources::is_integer(&key) && !q.is_whole() {
            causes.push((field, format!("Invalid value: {raw:?}: must be an integer")));
        }
    }
    causes
}

pub fn limit_range(obj: &Value) -> Causes {
    let mut causes = Causes::new();
    let mut types = BTreeSet::new();
    for (i, limit) in obj["spec"]["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = |part: &str, key: &str| format!("spec.limits[{i}].{part}[{key}]");
        let kind = limit["type"].as_str().unwrap_or_default();
        if !matches!(kind, "Pod" | "Container" | "PersistentVolumeClaim") && !kind.contains('/') {
            causes.push((
                format!("spec.limits[{i}].type"),
                format!(
                    "Invalid value: {kind:?}: must be a standard limit type or fully qualified"
                ),
            ));
        }
        if !types.insert(kind.to_owned()) {
            causes.push((
                format!("spec.limits[{i}].type"),
                format!("Duplicate value: {kind:?}"),
            ));
        }
        let part = |name: &str| quantities(&limit[name]);
        let (min, max, default, request, ratio) = (
            part("min"),
            part("max"),
            part("default"),
            part("defaultRequest"),
            part("maxLimitRequestRatio"),
        );
        if kind == "Pod" {
            for name in ["default", "defaultRequest"] {
                if limit[name].as_object().is_some_and(|m| !m.is_empty()) {
                    causes.push((
                        format!("spec.limits[{i}].{name}"),
                        "Forbidden: may not be specified when `type` is 'Pod'".into(),
                    ));
                }
            }
        }
        let mut keys = BTreeSet::new();
        for (name, values) in [
            ("max", &max),
            ("min", &min),
            ("default", &default),
            ("defaultRequest", &request),
            ("maxLimitRequestRatio", &ratio),
        ] {
            for key in values.keys() {
                keys.insert(key.clone());
                let check = if matches!(kind, "Pod" | "Container") {
                    resources::container_resource(key)
                } else {
                    resources::qualified_name(key)
                };
                if let Err(m) = check {
                    causes.push((at(name, key), format!("Invalid value: {key:?}: {m}")));
                }
            }
        }
        for key in &keys {
            let get = |m: &BTreeMap<String, (String, Option<Quantity>)>| {
                m.get(key).and_then(|(raw, q)| q.map(|q| (raw.clone(), q)))
            };
            let (lo, hi, d, r, ratio) = (
                get(&min),
                get(&max),
                get(&default),
                get(&request),
                get(&ratio),
            );
            let mut greater = |field: String,
                               a: &Option<(String, Quantity)>,
                               an: &str,
                               b: &Option<(String, Quantity)>,
                               bn: &str,
                               shown: &str| {
                if let (Some((ar, aq)), Some((br, bq))) = (a, b) {
                    if aq > bq {
                        causes.push((field, format!("Invalid value: {shown:?}: {an} value {ar} is greater than {bn} value {br}")));
                    }
                }
            };
            greater(
                at("min", key),
                &lo,
                "min",
                &hi,
                "max",
                lo.as_ref().map_or("", |v| &v.0),
            );
            greater(
                at("defaultRequest", key),
                &lo,
                "min",
                &r,
                "default request",
                r.as_ref().map_or("", |v| &v.0),
            );
            greater(
                at("defaultRequest", key),
                &r,
                "default request",
                &hi,
                "max",
                r.as_ref().map_or("", |v| &v.0),
            );
            greater(
                at("defaultRequest", key),
                &r,
                "default request",
                &d,
                "default limit",
                r.as_ref().map_or("", |v| &v.0),
            );
            greater(
                at("default", key),
                &lo,
                "min",
                &d,
                "default",
                lo.as_ref().map_or("", |v| &v.0),
            );
            greater(
                at("default", key),
                &d,
                "default",
                &hi,
                "max",
                hi.as_ref().map_or("", |v| &v.0),
            );
            if let Some((raw, q)) = &ratio {
                if *q < Quantity::from_units(1) {
                    causes.push((
                        at("maxLimitRequestRatio", key),
                        format!("Invalid value: {raw:?}: ratio {raw} is less than 1"),
                    ));
                }
                if let (Some((_, lo)), Some((_, hi))) = (&lo, &hi) {
                    const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;
                    let small = [*q, *lo, *hi].iter().all(|v| v.units() < MAX_MILLI_VALUE);
                    let (value, bound) = if small {
                        (
                            q.millis() as f64 / 1000.0,
                            hi.millis() as f64 / lo.millis() as f64,
                        )
                    } else {
                        (q.units() as f64, hi.units() as f64 / lo.units() as f64)
                    };
                    if value > bound {
                        causes.push((at("maxLimitRequestRatio", key), format!("Invalid value: {raw:?}: ratio {raw} is greater than max/min = {bound:.6}")));
                    }
                }
            }
            if !resources::overcommit_allowed(key) {
                if let (Some((dr, dq)), Some((rr, rq))) = (&d, &r) {
                    if dq != rq {
                        causes.push((at("defaultRequest", key), format!("Invalid value: {rr:?}: default value {dr} must equal to defaultRequest value {rr} in {key}")));
                    }
                }
            }
        }
    }
    causes
}
