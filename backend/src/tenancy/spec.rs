//! Namespace names and specs parsed into typed values, with every consistency rule a
//! quota and LimitRange must satisfy. Errors name the field that is wrong.

use crate::{
    error::FieldErrors,
    quantity::{Quantity, QuantityError},
    Error, Result,
};
use std::collections::BTreeMap;

use berth_frontend::api::{Amounts, ClassQuota, LimitSpec, NamespaceSpec, QuotaSpec};
use berth_kube::resources;

/// A Kubernetes quantity in the unit Berth adds up: millicores for CPU, bytes otherwise,
/// rounded up like the API server's `MilliValue`/`Value`. The exact quantity is kept too,
/// for the comparisons the API server makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(pub i64);

fn quantity(raw: &str) -> std::result::Result<Quantity, String> {
    let raw = raw.trim();
    let q = Quantity::parse(raw).map_err(|e| match e {
        QuantityError::Empty => e.to_string(),
        _ => format!("{raw:?} {e}"),
    })?;
    if q.is_negative() {
        return Err("must not be negative".into());
    }
    Ok(q)
}

impl Amount {
    pub fn cpu(field: &str, raw: &str) -> Result<Amount> {
        quantity(raw)
            .map(|q| Amount(q.millis()))
            .map_err(|m| Error::invalid(field, m))
    }

    pub fn bytes(field: &str, raw: &str) -> Result<Amount> {
        quantity(raw)
            .map(|q| Amount(q.units()))
            .map_err(|m| Error::invalid(field, m))
    }

    /// Bytes that must be whole: the server counts per-class storage quota
    /// (`<class>.storageclass.storage.k8s.io/requests.storage`) as an integer resource.
    pub fn whole_bytes(field: &str, raw: &str) -> Result<Amount> {
        let q = quantity(raw).map_err(|m| Error::invalid(field, m))?;
        if !q.is_whole() {
            return Err(Error::invalid(field, "must be a whole number of bytes"));
        }
        Ok(Amount(q.units()))
    }
}

/// `maxLimitRequestRatio`: a quantity of at least 1, kept exactly.
fn ratio(field: &str, raw: &Option<String>) -> Result<Option<Quantity>> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(r) => {
            let q = quantity(r).map_err(|m| Error::invalid(field, m))?;
            if q < Quantity::from_units(1) {
                return Err(Error::invalid(field, "must be at least 1"));
            }
            Ok(Some(q))
        }
    }
}

/// Some(max ÷ min) when `ratio` exceeds it: the API server's own rule (`ValidateLimitRange`),
/// computed as it computes it — in thousandths (`MilliValue()`) unless a value is too large.
fn ratio_exceeds_bounds(ratio: Quantity, min: Quantity, max: Quantity) -> Option<f64> {
    const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;
    let small = [ratio, min, max]
        .iter()
        .all(|q| q.units() < MAX_MILLI_VALUE);
    let (ratio, limit) = if small {
        (
            ratio.millis() as f64 / 1000.0,
            max.millis() as f64 / min.millis() as f64,
        )
    } else {
        (
            ratio.units() as f64,
            max.units() as f64 / min.units() as f64,
        )
    };
    (ratio > limit).then_some(limit)
}

fn count(field: &str, n: i64, max: i64) -> Result<i64> {
    if !(0..=max).contains(&n) {
        return Err(Error::invalid(
            field,
            format!("must be between 0 and {max}"),
        ));
    }
    Ok(n)
}

/// What a key of `quota.other` limits, and so how its value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// Objects of a kind (`count/deployments.apps`, `services.loadbalancers`): a whole
    /// number; left out, the kind is not limited.
    Count,
    /// An extended resource's requests (`requests.nvidia.com/gpu`): a whole number; left
    /// out, 0 on every cluster whose nodes advertise it.
    Extended,
    /// Ephemeral storage or huge pages: bytes.
    Bytes,
}

/// The most keys `quota.other` may hold.
pub const MAX_OTHER_KEYS: usize = 32;

/// What Berth takes as a key of `quota.other`: a key kube-apiserver takes in `spec.hard`
/// (the shared `berth_kube::resources` rules), that no field of its own already sets, in the
/// one spelling the quota controller counts.
pub fn other_key(key: &str) -> std::result::Result<OtherKind, String> {
    resources::quota_key(key)?;
    let own = match key {
        "cpu" | "requests.cpu" => Some("requests_cpu"),
        "memory" | "requests.memory" => Some("requests_memory"),
        "limits.cpu" => Some("limits_cpu"),
        "limits.memory" => Some("limits_memory"),
        "pods" => Some("pods"),
        "services" => Some("services"),
        "persistentvolumeclaims" => Some("persistentvolumeclaims"),
        "requests.storage" => Some("requests_storage"),
        _ => None,
    };
    if let Some(field) = own {
        return Err(format!("is set by quota.{field}"));
    }
    if key.contains(".storageclass.storage.k8s.io/") {
        return Err("per-class storage is set under storage_classes".into());
    }
    if let Some(rest) = key.strip_prefix("count/") {
        let (resource, group) = rest.split_once('.').unwrap_or((rest, ""));
        let label = |s: &str| resources::is_dns_subdomain(s) && !s.contains('.');
        if !label(resource) || !(group.is_empty() || resources::is_dns_subdomain(group)) {
            return Err(
                "must be count/<resource> or count/<resource>.<group>, such as count/deployments.apps"
                    .into(),
            );
        }
        return Ok(OtherKind::Count);
    }
    match key {
        "services.nodeports"
        | "services.loadbalancers"
        | "configmaps"
        | "secrets"
        | "replicationcontrollers"
        | "resourcequotas" => return Ok(OtherKind::Count),
        "requests.ephemeral-storage" | "limits.ephemeral-storage" => return Ok(OtherKind::Bytes),
        "ephemeral-storage" => {
            return Err(
                "write it as requests.ephemeral-storage (or limits.ephemeral-storage)".into(),
            )
        }
        _ => {}
    }
    if key.starts_with("requests.hugepages-") {
        return Ok(OtherKind::Bytes);
    }
    if key.starts_with("hugepages-") {
        return Err(format!("write it as requests.{key}"));
    }
    if let Some(rest) = key.strip_prefix("requests.") {
        if resources::is_extended(rest) {
            return Ok(OtherKind::Extended);
        }
    }
    if let Some(rest) = key.strip_prefix("limits.") {
        if resources::is_extended(rest) {
            return Err(format!(
                "extended resources are limited by requests.{rest} alone: Kubernetes never lets their limit differ from the request"
            ));
        }
    }
    if resources::is_extended(key) {
        return Err(format!(
            "write it as requests.{key}: quotas count extended resources by their requests"
        ));
    }
    Err("is not a quota key Berth applies (an extended resource, count/…, services.nodeports, services.loadbalancers, ephemeral storage or huge pages)".into())
}

/// The extended resource a `requests.<name>` key limits (`nvidia.com/gpu`).
pub fn extended_resource(key: &str) -> Option<&str> {
    key.strip_prefix("requests.")
        .filter(|rest| resources::is_extended(rest))
}

/// The keys and values of `quota.other`, parsed; values of counts in canonical notation.
fn parse_other(
    errors: &mut FieldErrors,
    other: &BTreeMap<String, String>,
) -> (BTreeMap<String, (OtherKind, i64)>, BTreeMap<String, String>) {
    let mut parsed = BTreeMap::new();
    let mut text = BTreeMap::new();
    if other.len() > MAX_OTHER_KEYS {
        errors.insert(
            "quota.other".into(),
            format!("may hold at most {MAX_OTHER_KEYS} keys"),
        );
        return (parsed, text);
    }
    for (raw_key, raw) in other {
        let key = raw_key.trim();
        let field = format!("quota.other[{key}]");
        // " requests.x" and "requests.x" are two JSON keys but one quota key.
        if parsed.contains_key(key) {
            errors.insert(field, "is listed twice".into());
            continue;
        }
        let kind = match other_key(key) {
            Ok(k) => k,
            Err(m) => {
                errors.insert(field, m);
                continue;
            }
        };
        let value = match kind {
            OtherKind::Bytes => Amount::bytes(&field, raw).map(|a| (a.0, raw.trim().to_owned())),
            OtherKind::Count | OtherKind::Extended => quantity(raw)
                .map_err(|m| Error::invalid(&field, m))
                .and_then(|q| {
                    if !q.is_whole() {
                        Err(Error::invalid(&field, "must be a whole number, such as 4"))
                    } else if q.units() > 1_000_000 {
                        Err(Error::invalid(&field, "must be at most 1000000"))
                    } else {
                        Ok((q.units(), q.units().to_string()))
                    }
                }),
        };
        if let Some((v, t)) = take(errors, value) {
            parsed.insert(key.to_owned(), (kind, v));
            text.insert(key.to_owned(), t);
        }
    }
    (parsed, text)
}

/// A namespace name: a DNS-1123 label of at most 63 characters that starts with `<team>-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceName(String);

impl NamespaceName {
    pub fn parse(field: &str, raw: &str, team: &str) -> Result<Self> {
        let name = raw.trim();
        let dns = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && !name.ends_with('-');
        let problem = if !dns {
            Some("must be a DNS-1123 label: 1–63 lower-case letters, digits and '-', starting and ending with a letter or digit".to_owned())
        } else if name == "default"
            || name.starts_with("kube-")
            || name.starts_with("openshift-")
            || name == "kube-system"
        {
            Some("is reserved for the system".to_owned())
        } else if !name.starts_with(&format!("{team}-")) || name.len() == team.len() + 1 {
            Some(format!("must start with the team's prefix {team}-"))
        } else {
            None
        };
        match problem {
            Some(message) => Err(Error::invalid(field, message)),
            None => Ok(NamespaceName(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassLimit {
    pub name: String,
    pub storage: Amount,
    pub pvcs: i64,
}

/// A spec whose every quantity parsed and whose every rule holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    pub requests_cpu: Amount,
    pub requests_memory: Amount,
    pub limits_cpu: Amount,
    pub limits_memory: Amount,
    pub pods: i64,
    pub services: i64,
    pub pvcs: i64,
    pub storage: Amount,
    pub classes: Vec<ClassLimit>,
    /// `quota.other`, parsed: counts and extended resources in units, the rest in bytes.
    pub other: BTreeMap<String, (OtherKind, i64)>,
    pub limits: LimitAmounts,
    /// The spec as given (quantities in the requester's notation), for applying.
    pub spec: NamespaceSpec,
}

/// The LimitRange, parsed: CPU in millicores, memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitAmounts {
    pub default_request_cpu: Amount,
    pub default_request_memory: Amount,
    pub default_limit_cpu: Amount,
    pub default_limit_memory: Amount,
    pub min_cpu: Amount,
    pub min_memory: Amount,
    pub max_cpu: Amount,
    pub max_memory: Amount,
    /// None: no ratio, which is looser than any.
    pub ratio_cpu: Option<Quantity>,
    pub ratio_memory: Option<Quantity>,
}

impl LimitAmounts {
    /// No bound of `self` is wider than `other`'s: maxima, defaults and ratios at most
    /// theirs, minima at least theirs.
    pub fn within(&self, other: &LimitAmounts) -> bool {
        let ratio = |a: Option<Quantity>, b: Option<Quantity>| match (a, b) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        self.max_cpu <= other.max_cpu
            && self.max_memory <= other.max_memory
            && self.default_limit_cpu <= other.default_limit_cpu
            && self.default_limit_memory <= other.default_limit_memory
            && self.default_request_cpu <= other.default_request_cpu
            && self.default_request_memory <= other.default_request_memory
            && self.min_cpu >= other.min_cpu
            && self.min_memory >= other.min_memory
            && ratio(self.ratio_cpu, other.ratio_cpu)
            && ratio(self.ratio_memory, other.ratio_memory)
    }
}

impl Sized {
    /// What budgets and pools add up.
    pub fn amounts(&self) -> Amounts {
        Amounts {
            cpu_millis: self.requests_cpu.0,
            memory_bytes: self.requests_memory.0,
            storage_bytes: self.storage.0,
        }
    }

    /// Nothing of `self` is above `other`'s: quota totals and the LimitRange's bounds,
    /// defaults and ratios (what "not above preset X" means).
    pub fn within(&self, other: &Sized) -> bool {
        self.fits_within(other) && self.limits.within(&other.limits)
    }

    /// Takes nothing more than `current` in any dimension: [`Sized::within`], and every
    /// storage class it allows `current` allows too, with at most its storage and claims.
    /// Only such a change is a decrease.
    pub fn takes_no_more_than(&self, current: &Sized) -> bool {
        self.within(current)
            && self.classes.iter().all(|c| {
                current
                    .classes
                    .iter()
                    .any(|o| o.name == c.name && c.storage <= o.storage && c.pvcs <= o.pvcs)
            })
    }

    /// Every quota total of `self` is at most that of `other`.
    pub fn fits_within(&self, other: &Sized) -> bool {
        self.requests_cpu <= other.requests_cpu
            && self.requests_memory <= other.requests_memory
            && self.limits_cpu <= other.limits_cpu
            && self.limits_memory <= other.limits_memory
            && self.pods <= other.pods
            && self.services <= other.services
            && self.pvcs <= other.pvcs
            && self.storage <= other.storage
            && self.other.keys().chain(other.other.keys()).all(|k| {
                match (self.other_value(k), other.other_value(k)) {
                    (_, None) => true,
                    (None, Some(_)) => false,
                    (Some(a), Some(b)) => a <= b,
                }
            })
    }

    /// The limit on a `quota.other` key: its value; for an extended resource left out, 0;
    /// None where nothing limits it.
    pub fn other_value(&self, key: &str) -> Option<i64> {
        match self.other.get(key) {
            Some((_, v)) => Some(*v),
            None => extended_resource(key).map(|_| 0),
        }
    }

    /// The extended resources this spec requests, by resource (`nvidia.com/gpu` → 2).
    pub fn extended(&self) -> BTreeMap<String, i64> {
        self.other
            .iter()
            .filter(|(_, (kind, v))| *kind == OtherKind::Extended && *v > 0)
            .filter_map(|(k, (_, v))| extended_resource(k).map(|r| (r.to_owned(), *v)))
            .collect()
    }
}

/// Records the error of `result` under its field and yields the value, if any.
fn take<T>(errors: &mut FieldErrors, result: Result<T>) -> Option<T> {
    crate::fields::collect(errors, result)
}

/// Parses `spec` (fields prefixed by `prefix`, e.g. `quota.requests_cpu`) and checks:
/// limits ≥ requests; min ≤ default request ≤ default limit ≤ max; the default limit over
/// the default request within maxLimitRequestRatio; one pod at the defaults fits the quota;
/// the per-class storage adds up to at most requests.storage. Storage class names are
/// checked against the cluster by the caller.
pub fn parse(spec: &NamespaceSpec) -> std::result::Result<Sized, FieldErrors> {
    let mut e = FieldErrors::new();
    let q: &QuotaSpec = &spec.quota;
    let l: &LimitSpec = &spec.limits;
    let rc = take(&mut e, Amount::cpu("quota.requests_cpu", &q.requests_cpu));
    let rm = take(
        &mut e,
        Amount::bytes("quota.requests_memory", &q.requests_memory),
    );
    let lc = take(&mut e, Amount::cpu("quota.limits_cpu", &q.limits_cpu));
    let lm = take(
        &mut e,
        Amount::bytes("quota.limits_memory", &q.limits_memory),
    );
    let pods = take(&mut e, count("quota.pods", q.pods, 100_000));
    let services = take(&mut e, count("quota.services", q.services, 10_000));
    let pvcs = take(
        &mut e,
        count(
            "quota.persistentvolumeclaims",
            q.persistentvolumeclaims,
            10_000,
        ),
    );
    let storage = take(
        &mut e,
        Amount::bytes("quota.requests_storage", &q.requests_storage),
    );
    let drc = take(
        &mut e,
        Amount::cpu("limits.default_request_cpu", &l.default_request_cpu),
    );
    let drm = take(
        &mut e,
        Amount::bytes("limits.default_request_memory", &l.default_request_memory),
    );
    let dlc = take(
        &mut e,
        Amount::cpu("limits.default_limit_cpu", &l.default_limit_cpu),
    );
    let dlm = take(
        &mut e,
        Amount::bytes("limits.default_limit_memory", &l.default_limit_memory),
    );
    let minc = take(&mut e, Amount::cpu("limits.min_cpu", &l.min_cpu));
    let minm = take(&mut e, Amount::bytes("limits.min_memory", &l.min_memory));
    let maxc = take(&mut e, Amount::cpu("limits.max_cpu", &l.max_cpu));
    let maxm = take(&mut e, Amount::bytes("limits.max_memory", &l.max_memory));
    let ratio_c = take(
        &mut e,
        ratio(
            "limits.max_limit_request_ratio_cpu",
            &l.max_limit_request_ratio_cpu,
        ),
    );
    let ratio_m = take(
        &mut e,
        ratio(
            "limits.max_limit_request_ratio_memory",
            &l.max_limit_request_ratio_memory,
        ),
    );

    let mut classes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in spec.storage_classes.iter().enumerate() {
        let field = format!("storage_classes[{i}]");
        if c.name.trim().is_empty() {
            e.insert(format!("{field}.name"), "is required".into());
            continue;
        }
        if !seen.insert(c.name.trim().to_owned()) {
            e.insert(format!("{field}.name"), "is listed twice".into());
            continue;
        }
        let s = take(
            &mut e,
            Amount::whole_bytes(&format!("{field}.storage"), &c.storage),
        );
        let n = take(
            &mut e,
            count(
                &format!("{field}.persistentvolumeclaims"),
                c.persistentvolumeclaims,
                10_000,
            ),
        );
        if let (Some(storage), Some(pvcs)) = (s, n) {
            classes.push(ClassLimit {
                name: c.name.trim().to_owned(),
                storage,
                pvcs,
            });
        }
    }

    let (other, other_text) = parse_other(&mut e, &q.other);

    let mut rule = |field: &str, ok: bool, message: &str| {
        if !ok && !e.contains_key(field) {
            e.insert(field.to_owned(), message.to_owned());
        }
    };
    if let (Some(rc), Some(lc)) = (rc, lc) {
        rule(
            "quota.limits_cpu",
            lc >= rc,
            "must be at least requests.cpu",
        );
    }
    if let (Some(rm), Some(lm)) = (rm, lm) {
        rule(
            "quota.limits_memory",
            lm >= rm,
            "must be at least requests.memory",
        );
    }
    for (min, dr, dl, max, res) in [
        (minc, drc, dlc, maxc, "cpu"),
        (minm, drm, dlm, maxm, "memory"),
    ] {
        if let (Some(min), Some(dr)) = (min, dr) {
            rule(
                &format!("limits.default_request_{res}"),
                min <= dr,
                "must be at least the minimum",
            );
        }
        if let (Some(dr), Some(dl)) = (dr, dl) {
            rule(
                &format!("limits.default_limit_{res}"),
                dr <= dl,
                "must be at least the default request",
            );
        }
        if let (Some(dl), Some(max)) = (dl, max) {
            rule(
                &format!("limits.max_{res}"),
                dl <= max,
                "must be at least the default limit",
            );
        }
        if let (Some(min), Some(max)) = (min, max) {
            rule(
                &format!("limits.min_{res}"),
                min <= max,
                "must be at most the maximum",
            );
        }
    }
    let exact = |raw: &str| Quantity::parse(raw.trim()).ok();
    for (ratio, dr, dl, min, max, res) in [
        (ratio_c, drc, dlc, &l.min_cpu, &l.max_cpu, "cpu"),
        (ratio_m, drm, dlm, &l.min_memory, &l.max_memory, "memory"),
    ] {
        let field = format!("limits.max_limit_request_ratio_{res}");
        let Some(Some(ratio)) = ratio else { continue };
        if let (Some(min), Some(max)) = (exact(min), exact(max)) {
            if let Some(limit) = ratio_exceeds_bounds(ratio, min, max) {
                rule(
                    &field,
                    false,
                    &format!("is greater than the maximum divided by the minimum ({limit:.2}); the cluster refuses it"),
                );
            }
        }
        if let (Some(dr), Some(dl)) = (dr, dl) {
            let ok = dr.0 > 0 && (dl.0 as f64) <= ratio.as_f64() * dr.0 as f64 + 1e-9;
            rule(
                &field,
                ok,
                "the default limit divided by the default request exceeds this ratio",
            );
        }
    }
    // One pod at the LimitRange defaults must fit the quota.
    if let Some(pods) = pods {
        rule("quota.pods", pods >= 1, "must admit at least one pod");
    }
    for (field, default, quota, what) in [
        ("quota.requests_cpu", drc, rc, "the default CPU request"),
        (
            "quota.requests_memory",
            drm,
            rm,
            "the default memory request",
        ),
        ("quota.limits_cpu", dlc, lc, "the default CPU limit"),
        ("quota.limits_memory", dlm, lm, "the default memory limit"),
    ] {
        if let (Some(d), Some(q)) = (default, quota) {
            rule(field, d <= q, &format!("must admit one pod at {what}"));
        }
    }
    if let Some(storage) = storage {
        let sum: i64 = classes.iter().map(|c| c.storage.0).sum();
        rule(
            "storage_classes",
            sum <= storage.0,
            "the storage of the classes adds up to more than requests.storage",
        );
    }
    if let Some(pvcs) = pvcs {
        for (i, c) in classes.iter().enumerate() {
            rule(
                &format!("storage_classes[{i}].persistentvolumeclaims"),
                c.pvcs <= pvcs,
                "must be at most the namespace's persistentvolumeclaims",
            );
        }
    }
    if !e.is_empty() {
        return Err(e);
    }
    Ok(Sized {
        requests_cpu: rc.unwrap(),
        requests_memory: rm.unwrap(),
        limits_cpu: lc.unwrap(),
        limits_memory: lm.unwrap(),
        pods: pods.unwrap(),
        services: services.unwrap(),
        pvcs: pvcs.unwrap(),
        storage: storage.unwrap(),
        classes,
        other,
        limits: LimitAmounts {
            default_request_cpu: drc.unwrap(),
            default_request_memory: drm.unwrap(),
            default_limit_cpu: dlc.unwrap(),
            default_limit_memory: dlm.unwrap(),
            min_cpu: minc.unwrap(),
            min_memory: minm.unwrap(),
            max_cpu: maxc.unwrap(),
            max_memory: maxm.unwrap(),
            ratio_cpu: ratio_c.flatten(),
            ratio_memory: ratio_m.flatten(),
        },
        spec: normalized(spec, other_text),
    })
}

/// The spec with whitespace trimmed (and counts in `quota.other` as plain integers), as it is
/// stored and applied.
fn normalized(spec: &NamespaceSpec, other: BTreeMap<String, String>) -> NamespaceSpec {
    let t = |s: &String| s.trim().to_owned();
    let q = &spec.quota;
    let l = &spec.limits;
    NamespaceSpec {
        quota: QuotaSpec {
            requests_cpu: t(&q.requests_cpu),
            requests_memory: t(&q.requests_memory),
            limits_cpu: t(&q.limits_cpu),
            limits_memory: t(&q.limits_memory),
            pods: q.pods,
            services: q.services,
            persistentvolumeclaims: q.persistentvolumeclaims,
            requests_storage: t(&q.requests_storage),
            other,
        },
        limits: LimitSpec {
            default_request_cpu: t(&l.default_request_cpu),
            default_request_memory: t(&l.default_request_memory),
            default_limit_cpu: t(&l.default_limit_cpu),
            default_limit_memory: t(&l.default_limit_memory),
            min_cpu: t(&l.min_cpu),
            min_memory: t(&l.min_memory),
            max_cpu: t(&l.max_cpu),
            max_memory: t(&l.max_memory),
            max_limit_request_ratio_cpu: l
                .max_limit_request_ratio_cpu
                .as_ref()
                .map(t)
                .filter(|s| !s.is_empty()),
            max_limit_request_ratio_memory: l
                .max_limit_request_ratio_memory
                .as_ref()
                .map(t)
                .filter(|s| !s.is_empty()),
        },
        storage_classes: spec
            .storage_classes
            .iter()
            .map(|c| ClassQuota {
                name: c.name.trim().to_owned(),
                storage: c.storage.trim().to_owned(),
                persistentvolumeclaims: c.persistentvolumeclaims,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NamespaceSpec {
        NamespaceSpec {
            quota: QuotaSpec {
                requests_cpu: "4".into(),
                requests_memory: "8Gi".into(),
                limits_cpu: "8".into(),
                limits_memory: "16Gi".into(),
                pods: 20,
                services: 5,
                persistentvolumeclaims: 4,
                requests_storage: "100Gi".into(),
                other: BTreeMap::new(),
            },
            limits: LimitSpec {
                default_request_cpu: "100m".into(),
                default_request_memory: "128Mi".into(),
                default_limit_cpu: "500m".into(),
                default_limit_memory: "512Mi".into(),
                min_cpu: "10m".into(),
                min_memory: "16Mi".into(),
                max_cpu: "2".into(),
                max_memory: "4Gi".into(),
                max_limit_request_ratio_cpu: Some("5".into()),
                max_limit_request_ratio_memory: None,
            },
            storage_classes: vec![ClassQuota {
                name: "gp3".into(),
                storage: "60Gi".into(),
                persistentvolumeclaims: 4,
            }],
        }
    }

    #[test]
    fn quantities_follow_kubernetes_semantics() {
        assert_eq!(Amount::cpu("f", "500m").unwrap(), Amount(500));
        assert_eq!(Amount::cpu("f", "0.5").unwrap(), Amount(500));
        assert_eq!(Amount::cpu("f", "2").unwrap(), Amount(2000));
        assert_eq!(Amount::cpu("f", "0.1").unwrap(), Amount(100));
        assert_eq!(Amount::cpu("f", "1e3").unwrap(), Amount(1_000_000));
        assert_eq!(Amount::bytes("f", "1Gi").unwrap(), Amount(1 << 30));
        assert_eq!(Amount::bytes("f", "1G").unwrap(), Amount(1_000_000_000));
        assert_eq!(Amount::bytes("f", "1.5Ki").unwrap(), Amount(1536));
        // the API server rounds sub-millicore CPU up
        assert_eq!(Amount::cpu("f", "0.0001").unwrap(), Amount(1));
        for bad in ["", "abc", "1GB", "-1", "1.2.3", "5 Gi"] {
            assert!(Amount::bytes("f", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn namespace_names_are_prefixed_dns_labels() {
        assert!(NamespaceName::parse("name", "payments-api", "payments").is_ok());
        for bad in [
            "payments",
            "payments-",
            "api",
            "Payments-api",
            "payments_api",
            "default",
            "kube-payments",
            &format!("payments-{}", "x".repeat(60)),
        ] {
            assert!(
                NamespaceName::parse("name", bad, "payments").is_err(),
                "{bad} accepted"
            );
        }
        let err = NamespaceName::parse("name", "search-x", "payments").unwrap_err();
        assert!(err.to_string().contains("invalid") || matches!(err, Error::Invalid(_)));
    }

    #[test]
    fn a_consistent_spec_parses() {
        let sized = parse(&spec()).unwrap();
        assert_eq!(sized.requests_cpu, Amount(4000));
        assert_eq!(sized.classes[0].storage, Amount(60 << 30));
    }

    fn errors(f: impl FnOnce(&mut NamespaceSpec)) -> FieldErrors {
        let mut s = spec();
        f(&mut s);
        parse(&s).unwrap_err()
    }

    #[test]
    fn inconsistent_specs_name_the_field() {
        assert!(errors(|s| s.quota.limits_cpu = "2".into()).contains_key("quota.limits_cpu"));
        assert!(
            errors(|s| s.quota.limits_memory = "1Gi".into()).contains_key("quota.limits_memory")
        );
        assert!(
            errors(|s| s.limits.min_cpu = "200m".into()).contains_key("limits.default_request_cpu")
        );
        assert!(errors(|s| s.limits.default_limit_cpu = "50m".into())
            .contains_key("limits.default_limit_cpu"));
        assert!(errors(|s| s.limits.max_memory = "256Mi".into()).contains_key("limits.max_memory"));
        assert!(errors(|s| s.limits.default_limit_cpu = "1".into())
            .contains_key("limits.max_limit_request_ratio_cpu"));
        assert!(errors(|s| s.quota.pods = 0).contains_key("quota.pods"));
        assert!(errors(|s| s.quota.requests_memory = "64Mi".into())
            .contains_key("quota.requests_memory"));
        assert!(errors(|s| s.storage_classes[0].storage = "200Gi".into())
            .contains_key("storage_classes"));
        assert!(errors(|s| s.quota.requests_cpu = "lots".into()).contains_key("quota.requests_cpu"));
        assert!(errors(|s| s.quota.services = -1).contains_key("quota.services"));
        assert!(
            errors(|s| s.storage_classes.push(s.storage_classes[0].clone()))
                .contains_key("storage_classes[1].name")
        );
    }

    #[test]
    fn other_quota_keys_parse_by_kind_and_counts_become_plain_integers() {
        let mut s = spec();
        s.quota.other = BTreeMap::from([
            ("requests.nvidia.com/gpu".into(), "2".into()),
            ("count/deployments.apps".into(), " 1k ".into()),
            ("services.loadbalancers".into(), "0".into()),
            ("requests.ephemeral-storage".into(), "20Gi".into()),
            ("requests.hugepages-2Mi".into(), "1Gi".into()),
        ]);
        let sized = parse(&s).unwrap();
        assert_eq!(
            sized.other["requests.nvidia.com/gpu"],
            (OtherKind::Extended, 2)
        );
        assert_eq!(
            sized.other["count/deployments.apps"],
            (OtherKind::Count, 1000)
        );
        assert_eq!(
            sized.other["requests.ephemeral-storage"],
            (OtherKind::Bytes, 20 << 30)
        );
        assert_eq!(sized.spec.quota.other["count/deployments.apps"], "1000");
        assert_eq!(sized.spec.quota.other["requests.ephemeral-storage"], "20Gi");
        assert_eq!(
            sized.extended(),
            BTreeMap::from([("nvidia.com/gpu".to_owned(), 2)])
        );
    }

    #[test]
    fn other_quota_keys_that_berth_will_not_apply_name_the_key_and_why() {
        let with = |key: &str, value: &str| {
            let mut s = spec();
            s.quota.other = BTreeMap::from([(key.to_owned(), value.to_owned())]);
            parse(&s)
                .unwrap_err()
                .remove(&format!("quota.other[{key}]"))
                .unwrap_or_else(|| panic!("{key}: {value} accepted"))
        };
        assert!(with("requests.cpu", "1").contains("quota.requests_cpu"));
        assert!(with("pods", "1").contains("quota.pods"));
        assert!(
            with("gp3.storageclass.storage.k8s.io/requests.storage", "1Gi")
                .contains("storage_classes")
        );
        assert!(with("nvidia.com/gpu", "1").contains("requests.nvidia.com/gpu"));
        assert!(with("limits.nvidia.com/gpu", "1").contains("requests.nvidia.com/gpu"));
        assert!(with("ephemeral-storage", "1Gi").contains("requests.ephemeral-storage"));
        assert!(with("requests.gpu", "1").contains("standard"));
        assert!(with("bogus", "1").contains("standard"));
        assert!(with("count/Deployments", "1").contains("count/"));
        assert!(with("requests.kubernetes.io/thing", "1").contains("quota key"));
        assert!(with("requests.nvidia.com/gpu", "0.5").contains("whole"));
        assert!(with("count/deployments.apps", "-1").contains("negative"));
        assert!(with("count/deployments.apps", "lots").contains("lots"));
        with("requests.ephemeral-storage", "");
        let mut s = spec();
        s.quota.other = (0..=MAX_OTHER_KEYS)
            .map(|i| (format!("count/things{i}.example.com"), "1".to_owned()))
            .collect();
        assert!(parse(&s).unwrap_err().contains_key("quota.other"));
    }

    #[test]
    fn an_extended_resource_left_out_is_zero_and_a_count_left_out_is_unlimited() {
        let base = parse(&spec()).unwrap();
        let with = |key: &str, value: &str| {
            let mut s = spec();
            s.quota.other = BTreeMap::from([(key.to_owned(), value.to_owned())]);
            parse(&s).unwrap()
        };
        let gpu = with("requests.nvidia.com/gpu", "1");
        assert!(!gpu.fits_within(&base), "a GPU is more than none");
        assert!(base.fits_within(&gpu));
        let counted = with("count/deployments.apps", "5");
        assert!(counted.fits_within(&base), "a limit is within no limit");
        assert!(!base.fits_within(&counted));
        assert!(!with("count/deployments.apps", "6").fits_within(&counted));
    }
}
