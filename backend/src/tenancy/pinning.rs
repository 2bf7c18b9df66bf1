//! Node-pool pinning that holds on clusters without the PodNodeSelector plugin, and its proof.
//!
//! The namespace annotations of the PodNodeSelector and PodTolerationRestriction admission
//! plugins do something only where those plugins run (off by default in kube-apiserver, not
//! offered on EKS or GKE). So besides them Berth writes, per node pool of a cluster, admission
//! policies that the API server itself serves, chosen at each sync (`mechanism`):
//! - a ValidatingAdmissionPolicy (Kubernetes ≥ 1.30) that refuses a pod which does not select
//!   the pool or which tolerates taints the pool does not have, saying what to add;
//! - where MutatingAdmissionPolicy is served (GA in 1.36), one that adds the pool's
//!   nodeSelector and tolerations to pods that lack them, so most pods need no change at all.
//!
//! Each is bound by namespace label (`berth.dev/pool`) to Berth's namespaces of the pool only,
//! so system namespaces and anything Berth does not manage are never matched.
//!
//! The proof (`prove`) does not trust any of this: it dry-runs two probe pods into the
//! namespace (server-side, nothing is created) and records what the server did with them.

use std::time::Duration;

use berth_frontend::api::{
    PinMechanism, PinVerdict, PinningProof, PolicyEngine, Probe, ProbeKind, ProbeOutcome, Taint,
};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::{Api, PostParams},
    Client,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::objects::FIELD_MANAGER;

/// The namespace label that binds a namespace to its pool's policies.
pub const POOL_LABEL: &str = "berth.dev/pool";
/// A toleration key no pool of Berth's taints with: the proof's foreign toleration.
pub const FOREIGN_TOLERATION: &str = "berth.dev/foreign-toleration-probe";

/// The mechanism for what a cluster serves: Kyverno's policies where an admin chose Kyverno
/// and the cluster serves them, else mutating where it can, validating otherwise, the
/// plugins' annotations alone where neither policy kind is served.
pub fn mechanism(validating: bool, mutating: Option<&str>, kyverno: Option<&str>) -> PinMechanism {
    match (kyverno, validating, mutating) {
        (Some(_), ..) => PinMechanism::Kyverno,
        (None, true, Some(_)) => PinMechanism::Mutating,
        (None, true, None) => PinMechanism::Validating,
        (None, false, _) => PinMechanism::Annotations,
    }
}

/// What a cluster serves for pinning, as the inventory read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub validating: bool,
    /// `v1` or `v1beta1`.
    pub mutating: Option<String>,
    /// The version of `policies.kyverno.io` to pin with: set only where the cluster serves
    /// Kyverno's MutatingPolicy and ValidatingPolicy and an admin chose Kyverno for it.
    pub kyverno: Option<String>,
}

impl Served {
    pub fn of(inventory: Option<&berth_frontend::api::InventoryState>) -> Served {
        inventory.map_or_else(Served::default, |i| Served {
            validating: i.validating_policies,
            mutating: i.mutating_policies.clone(),
            kyverno: i
                .kyverno_policies
                .clone()
                .filter(|_| i.pinning == PinMechanism::Kyverno),
        })
    }

    pub fn mechanism(&self) -> PinMechanism {
        mechanism(
            self.validating,
            self.mutating.as_deref(),
            self.kyverno.as_deref(),
        )
    }
}

/// The Kyverno version to pin with: what the cluster serves, where the admin chose Kyverno.
pub fn kyverno_in_use(engine: PolicyEngine, served: Option<String>) -> Option<String> {
    served.filter(|_| engine == PolicyEngine::Kyverno)
}

/// After an admin switched a cluster's policy engine: every live namespace of the cluster is
/// applied again (which writes the new engine's pool policies and proves them), and a prune
/// removes the old engine's once those applies are done. In the caller's transaction; returns
/// how many namespaces were queued.
pub async fn engine_changed(
    tx: &mut sqlx::PgConnection,
    cluster_id: uuid::Uuid,
) -> crate::Result<usize> {
    let reapplied = super::provision::reapply(
        tx,
        super::provision::Reapply {
            cluster_id: Some(cluster_id),
            ..Default::default()
        },
    )
    .await?;
    super::shared::enqueue(tx, cluster_id).await?;
    Ok(reapplied)
}

/// A node pool as pinning sees it. A pool without a label key (the fallback `default`)
/// cannot be pinned.
pub struct Pool<'a> {
    pub name: &'a str,
    pub label_key: &'a str,
    pub taints: &'a [Taint],
}

impl Pool<'_> {
    pub fn pinnable(&self) -> bool {
        !self.label_key.is_empty()
    }

    /// The tolerations a pod needs to run on the pool: one per taint.
    pub fn tolerations(&self) -> Vec<Value> {
        self.taints.iter().map(toleration).collect()
    }
}

fn toleration(t: &Taint) -> Value {
    match &t.value {
        Some(v) => json!({"key": t.key, "operator": "Equal", "value": v, "effect": t.effect}),
        None => json!({"key": t.key, "operator": "Exists", "effect": t.effect}),
    }
}

/// `workload=spot:NoSchedule`, as kubectl shows a taint.
fn taint_text(t: &Taint) -> String {
    match &t.value {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// The tolerations the API server adds itself (DefaultTolerationSeconds) or that only matter
/// for node conditions: allowed on every pool.
const CONDITION_PREFIX: &str = "node.kubernetes.io/";

/// The PodNodeSelector / PodTolerationRestriction annotations for the namespace.
pub fn annotations(pool: &Pool) -> Vec<(&'static str, String)> {
    if !pool.pinnable() {
        return Vec::new();
    }
    let mut out = vec![(
        "scheduler.alpha.kubernetes.io/node-selector",
        format!("{}={}", pool.label_key, pool.name),
    )];
    let defaults = pool.tolerations();
    if !defaults.is_empty() {
        out.push((
            "scheduler.alpha.kubernetes.io/defaultTolerations",
            Value::Array(defaults.clone()).to_string(),
        ));
    }
    // The whitelist is what pods may carry after the defaults are merged: the pool's own
    // tolerations and the ones the API server adds itself (not-ready and unreachable by
    // DefaultTolerationSeconds, memory-pressure by the plugin for pods with requests).
    let mut whitelist = defaults;
    for key in ["not-ready", "unreachable", "memory-pressure"] {
        whitelist.push(json!({"key": format!("{CONDITION_PREFIX}{key}"), "operator": "Exists"}));
    }
    out.push((
        "scheduler.alpha.kubernetes.io/tolerationsWhitelist",
        Value::Array(whitelist).to_string(),
    ));
    out
}

/// A CEL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The name of a pool's policies and bindings: `berth-pool-<pool>`, lower-cased, with a
/// short hash when the pool's name is not already a valid object name.
pub fn policy_name(pool: &str) -> String {
    let slug: String = pool
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    if slug == pool {
        format!("berth-pool-{pool}")
    } else {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(pool.as_bytes());
        format!(
            "berth-pool-{slug}-{:02x}{:02x}{:02x}",
            hash[0], hash[1], hash[2]
        )
    }
}

fn policy_meta(name: &str) -> Value {
    json!({"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}})
}

fn pod_rules() -> Value {
    json!({"resourceRules": [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
    }]})
}

fn binding_match(pool: &Pool) -> Value {
    json!({"namespaceSelector": {"matchLabels": {
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        POOL_LABEL: pool.name,
    }}})
}

/// CEL: toleration `t` is one the pool allows.
fn allowed_toleration(pool: &Pool) -> String {
    let mut any = vec![format!("t.key.startsWith({})", lit(CONDITION_PREFIX))];
    for taint in pool.taints {
        let value = taint.value.as_deref().unwrap_or("");
        any.push(format!(
            "(t.key == {key} && ((has(t.operator) && t.operator == 'Exists') || (has(t.value) ? t.value : '') == {value}) && (!has(t.effect) || t.effect == '' || t.effect == {effect}))",
            key = lit(&taint.key),
            value = lit(value),
            effect = lit(&taint.effect),
        ));
    }
    format!("has(t.key) && ({})", any.join(" || "))
}

/// The ValidatingAdmissionPolicy and its binding for a pool.
pub fn validating(pool: &Pool) -> [(&'static str, String, Value); 2] {
    let name = policy_name(pool.name);
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": policy_meta(&name),
        "spec": validating_spec(pool),
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": policy_meta(&name),
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": binding_match(pool),
        },
    });
    [
        ("ValidatingAdmissionPolicy", name.clone(), policy),
        ("ValidatingAdmissionPolicyBinding", name, binding),
    ]
}

/// What a pool's validating policy checks, the same for the API server's and Kyverno's.
fn validating_spec(pool: &Pool) -> Value {
    let key = lit(pool.label_key);
    let value = lit(pool.name);
    let selected = format!(
        "has(object.spec.nodeSelector) && {key} in object.spec.nodeSelector && object.spec.nodeSelector[{key}] == {value}"
    );
    let affinity = format!(
        "has(object.spec.affinity) && has(object.spec.affinity.nodeAffinity) && \
         has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) && \
         object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.all(term, \
         has(term.matchExpressions) && term.matchExpressions.exists(e, e.key == {key} && e.operator == 'In' && \
         has(e.values) && size(e.values) > 0 && e.values.all(v, v == {value})))"
    );
    let taints = if pool.taints.is_empty() {
        "it has no taints".to_owned()
    } else {
        pool.taints
            .iter()
            .map(taint_text)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tolerations_hint = if pool.taints.is_empty() {
        String::new()
    } else {
        format!(" and tolerations {}", Value::Array(pool.tolerations()))
    };
    json!({
        "failurePolicy": "Fail",
        "matchConstraints": pod_rules(),
        "variables": [
            {"name": "selected", "expression": selected},
            {"name": "affinity", "expression": affinity},
        ],
        "validations": [
            {
                "expression": "variables.selected || variables.affinity",
                "reason": "Forbidden",
                "message": format!(
                    "pods in this namespace run on node pool {pool}: add nodeSelector {{\"{label}\": \"{pool}\"}}{tolerations_hint} (or a required node affinity {label} In [{pool}])",
                    pool = pool.name, label = pool.label_key,
                ),
            },
            {
                "expression": "!has(object.spec.nodeName)",
                "reason": "Forbidden",
                "message": format!("pods in this namespace are scheduled onto node pool {}: set a nodeSelector, not spec.nodeName", pool.name),
            },
            {
                "expression": format!("!has(object.spec.tolerations) || object.spec.tolerations.all(t, {})", allowed_toleration(pool)),
                "reason": "Forbidden",
                "message": format!(
                    "pods in this namespace may tolerate only the taints of node pool {} ({taints}) and node conditions (node.kubernetes.io/…): remove the other tolerations",
                    pool.name,
                ),
            },
        ],
    })
}

/// CEL for a toleration value in a JSON patch.
fn toleration_object(t: &Taint) -> String {
    match &t.value {
        Some(v) => format!(
            "Object.spec.tolerations{{key: {}, operator: 'Equal', value: {}, effect: {}}}",
            lit(&t.key),
            lit(v),
            lit(&t.effect)
        ),
        None => format!(
            "Object.spec.tolerations{{key: {}, operator: 'Exists', effect: {}}}",
            lit(&t.key),
            lit(&t.effect)
        ),
    }
}

/// The MutatingAdmissionPolicy and its binding for a pool: JSON patches that add the
/// nodeSelector entry and each missing toleration, leaving what the pod has alone.
pub fn mutating(pool: &Pool, version: &str) -> [(&'static str, String, Value); 2] {
    let name = policy_name(pool.name);
    let api_version = format!("admissionregistration.k8s.io/{version}");
    let policy = json!({
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicy",
        "metadata": policy_meta(&name),
        "spec": mutating_spec(pool),
    });
    let binding = json!({
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": policy_meta(&name),
        "spec": {
            "policyName": name,
            "matchResources": binding_match(pool),
        },
    });
    [
        ("MutatingAdmissionPolicy", name.clone(), policy),
        ("MutatingAdmissionPolicyBinding", name, binding),
    ]
}

/// What a pool's mutating policy patches, the same for the API server's and Kyverno's.
fn mutating_spec(pool: &Pool) -> Value {
    let key = lit(pool.label_key);
    let value = lit(pool.name);
    let mut patches = vec![format!(
        "(!has(object.spec.nodeSelector) ? [JSONPatch{{op: 'add', path: '/spec/nodeSelector', value: {{{key}: {value}}}}}] : \
         ({key} in object.spec.nodeSelector ? [] : [JSONPatch{{op: 'add', path: '/spec/nodeSelector/' + jsonpatch.escapeKey({key}), value: {value}}}]))"
    )];
    if !pool.taints.is_empty() {
        let all: Vec<String> = pool.taints.iter().map(toleration_object).collect();
        let each: Vec<String> = pool
            .taints
            .iter()
            .map(|t| {
                format!(
                    "(object.spec.tolerations.exists(t, has(t.key) && t.key == {} && (!has(t.effect) || t.effect == '' || t.effect == {})) ? [] : \
                     [JSONPatch{{op: 'add', path: '/spec/tolerations/-', value: {}}}])",
                    lit(&t.key),
                    lit(&t.effect),
                    toleration_object(t)
                )
            })
            .collect();
        patches.push(format!(
            "(!has(object.spec.tolerations) ? [JSONPatch{{op: 'add', path: '/spec/tolerations', value: [{}]}}] : ({}))",
            all.join(", "),
            each.join(" + ")
        ));
    }
    json!({
        "failurePolicy": "Fail",
        "reinvocationPolicy": "IfNeeded",
        "matchConstraints": pod_rules(),
        "mutations": [{
            "patchType": "JSONPatch",
            "jsonPatch": {"expression": patches.join(" + ")},
        }],
    })
}

/// Kyverno's MutatingPolicy and ValidatingPolicy for a pool (`policies.kyverno.io`): the same
/// CEL as the API server's policies, matched to the pool's namespaces by their labels (Kyverno's
/// policies need no binding), evaluated at admission only, and never extended to the pod
/// controllers (Kyverno's autogen): a Deployment without the selector is fine, its pods get it.
pub fn kyverno(pool: &Pool, version: &str) -> [(&'static str, String, Value); 2] {
    let name = policy_name(pool.name);
    let api_version = format!("policies.kyverno.io/{version}");
    let scoped = |mut spec: Value| {
        spec["matchConstraints"]["namespaceSelector"] =
            binding_match(pool)["namespaceSelector"].clone();
        spec["evaluation"] =
            json!({"admission": {"enabled": true}, "background": {"enabled": false}});
        spec["autogen"] = json!({"podControllers": {"controllers": []}});
        spec
    };
    let mut validating = scoped(validating_spec(pool));
    validating["validationActions"] = json!(["Deny"]);
    let mutating = scoped(mutating_spec(pool));
    [
        (
            "MutatingPolicy",
            name.clone(),
            json!({"apiVersion": api_version, "kind": "MutatingPolicy", "metadata": policy_meta(&name), "spec": mutating}),
        ),
        (
            "ValidatingPolicy",
            name.clone(),
            json!({"apiVersion": api_version, "kind": "ValidatingPolicy", "metadata": policy_meta(&name), "spec": validating}),
        ),
    ]
}

/// The cluster-scoped objects that pin a pool where `served` allows: none for a pool that
/// cannot be pinned or a cluster that serves neither policy kind.
pub fn policies(pool: &Pool, served: &Served) -> Vec<(&'static str, String, Value)> {
    if !pool.pinnable() {
        return Vec::new();
    }
    if let Some(version) = &served.kyverno {
        return kyverno(pool, version).into();
    }
    if !served.validating {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(version) = &served.mutating {
        out.extend(mutating(pool, version));
    }
    out.extend(validating(pool));
    out
}

/// A probe pod: compliant with Pod Security `restricted` and Berth's workload standards,
/// sized by the LimitRange's defaults, running as Berth's own `deployer` ServiceAccount (which exists from the first
/// apply, unlike `default`, which a controller creates later).
fn probe_pod(namespace: &str, kind: ProbeKind, pool: &Pool) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("berth-proof-{}", kind.as_str().replace('_', "-")),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER},
        },
        "spec": {
            "serviceAccountName": "deployer",
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe",
                "image": "registry.k8s.io/pause:3.10",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                // Never run (a dry-run), but the workload standards may require them.
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "livenessProbe": {"tcpSocket": {"port": 8080}},
            }],
        },
    });
    if kind == ProbeKind::ForeignToleration {
        let mut tolerations = pool.tolerations();
        tolerations
            .push(json!({"key": FOREIGN_TOLERATION, "operator": "Exists", "effect": "NoSchedule"}));
        pod["spec"]["nodeSelector"] = json!({pool.label_key: pool.name});
        pod["spec"]["tolerations"] = Value::Array(tolerations);
    }
    pod
}

/// Whether a refusal came from pinning (a Berth policy of the API server's or Kyverno's, or
/// one of the two plugins).
fn refused_by_pinning(message: &str) -> bool {
    message.contains("ValidatingAdmissionPolicy 'berth-pool-")
        || (message.contains("kyverno") && message.contains("berth-pool-"))
        || message.contains("node label selector")
        || (message.contains("toleration") && message.contains("whitelist"))
}

/// The quota controller has not yet computed the new quota's usage: the API server refuses
/// every pod until it has.
fn quota_not_ready(message: &str) -> bool {
    message.contains("status unknown for quota")
}

async fn dry_run(api: &Api<Pod>, pod: &Value) -> Result<Pod, kube::Error> {
    let pod: Pod = serde_json::from_value(pod.clone()).expect("the probe is a Pod");
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let mut attempt = 0;
    loop {
        let result = api.create(&params, &pod).await;
        match &result {
            Err(kube::Error::Api(s)) if quota_not_ready(&s.message) && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => return result,
        }
    }
}

fn outcome_of(kind: ProbeKind, pool: &Pool, result: Result<Pod, kube::Error>) -> Probe {
    let (outcome, detail) = match result {
        Ok(pod) => {
            let spec = pod.spec.unwrap_or_default();
            let selected = spec
                .node_selector
                .as_ref()
                .and_then(|s| s.get(pool.label_key))
                .is_some_and(|v| v == pool.name);
            let has = |key: &str| {
                spec.tolerations
                    .iter()
                    .flatten()
                    .any(|t| t.key.as_deref() == Some(key))
            };
            match kind {
                ProbeKind::Unpinned if selected => {
                    let missing: Vec<String> = pool
                        .taints
                        .iter()
                        .filter(|t| !has(&t.key))
                        .map(taint_text)
                        .collect();
                    let detail = if missing.is_empty() {
                        format!("admitted with nodeSelector {}={} added", pool.label_key, pool.name)
                    } else {
                        format!(
                            "admitted with nodeSelector {}={} added but no toleration for {}: such pods stay Pending",
                            pool.label_key,
                            pool.name,
                            missing.join(", ")
                        )
                    };
                    (ProbeOutcome::Mutated, detail)
                }
                ProbeKind::Unpinned => (
                    ProbeOutcome::NotEnforced,
                    format!(
                        "a pod without nodeSelector {}={} was admitted unchanged: it may run on any pool",
                        pool.label_key, pool.name
                    ),
                ),
                ProbeKind::ForeignToleration => (
                    ProbeOutcome::NotEnforced,
                    format!("a pod tolerating {FOREIGN_TOLERATION} (a taint of no pool) was admitted"),
                ),
            }
        }
        Err(kube::Error::Api(status)) if refused_by_pinning(&status.message) => {
            (ProbeOutcome::Refused, status.message)
        }
        Err(kube::Error::Api(status)) => (
            ProbeOutcome::Inconclusive,
            format!(
                "refused for another reason ({}): {}",
                status.code, status.message
            ),
        ),
        Err(other) => (
            ProbeOutcome::Inconclusive,
            super::provision::describe(&other),
        ),
    };
    Probe {
        probe: kind,
        outcome,
        detail,
    }
}

/// The verdict of a set of probes: any escape is `not_enforced`, any doubt `inconclusive`.
pub fn verdict(probes: &[Probe]) -> PinVerdict {
    if probes
        .iter()
        .any(|p| p.outcome == ProbeOutcome::NotEnforced)
    {
        PinVerdict::NotEnforced
    } else if probes
        .iter()
        .any(|p| p.outcome == ProbeOutcome::Inconclusive)
    {
        PinVerdict::Inconclusive
    } else {
        PinVerdict::Enforced
    }
}

/// Dry-runs the probes into `namespace` and says what the server did.
pub async fn prove(
    client: &Client,
    namespace: &str,
    pool: &Pool<'_>,
    mechanism: PinMechanism,
) -> PinningProof {
    let checked_at = OffsetDateTime::now_utc();
    if !pool.pinnable() {
        return PinningProof {
            verdict: PinVerdict::NotPinnable,
            mechanism,
            probes: Vec::new(),
            checked_at,
        };
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut probes = Vec::new();
    // Policies the API server was just given take effect once its admission plugin has seen
    // them (about a second; Kyverno's, once Kyverno has compiled them and updated its
    // webhooks, a few seconds): where Berth wrote policies, an escape — or, where a mutating
    // policy should add the selector, a refusal by the validating one — is tried again
    // briefly before it is reported.
    let attempts = if mechanism == PinMechanism::Kyverno {
        30
    } else {
        10
    };
    for attempt in 0.. {
        probes.clear();
        for kind in ProbeKind::ALL.iter().copied() {
            let result = dry_run(&api, &probe_pod(namespace, kind, pool)).await;
            probes.push(outcome_of(kind, pool, result));
        }
        let escaped = verdict(&probes) == PinVerdict::NotEnforced;
        let not_mutated = matches!(mechanism, PinMechanism::Mutating | PinMechanism::Kyverno)
            && probes
                .iter()
                .any(|p| p.probe == ProbeKind::Unpinned && p.outcome == ProbeOutcome::Refused);
        if !(escaped || not_mutated)
            || mechanism == PinMechanism::Annotations
            || attempt >= attempts
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    PinningProof {
        verdict: verdict(&probes),
        mechanism,
        probes,
        checked_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot() -> Vec<Taint> {
        vec![Taint {
            key: "workload".into(),
            value: Some("spot".into()),
            effect: "NoSchedule".into(),
        }]
    }

    #[test]
    fn the_mechanism_follows_what_the_server_serves() {
        assert_eq!(mechanism(true, Some("v1"), None), PinMechanism::Mutating);
        assert_eq!(mechanism(true, None, None), PinMechanism::Validating);
        assert_eq!(
            mechanism(false, Some("v1"), None),
            PinMechanism::Annotations
        );
        assert_eq!(mechanism(false, None, None), PinMechanism::Annotations);
        // Kyverno wherever it is chosen and served, even without the API server's policies.
        assert_eq!(
            mechanism(true, Some("v1"), Some("v1")),
            PinMechanism::Kyverno
        );
        assert_eq!(mechanism(false, None, Some("v1")), PinMechanism::Kyverno);
        assert_eq!(
            kyverno_in_use(PolicyEngine::Kubernetes, Some("v1".into())),
            None
        );
        assert_eq!(kyverno_in_use(PolicyEngine::Kyverno, None), None);
        assert_eq!(
            kyverno_in_use(PolicyEngine::Kyverno, Some("v1".into())).as_deref(),
            Some("v1")
        );
    }

    #[test]
    fn policy_names_are_object_names() {
        assert_eq!(policy_name("spot"), "berth-pool-spot");
        let odd = policy_name("GPU_pool");
        assert!(odd.starts_with("berth-pool-gpu-pool-"), "{odd}");
        assert_ne!(policy_name("GPU_pool"), policy_name("gpu-pool"));
    }

    #[test]
    fn the_fallback_pool_gets_no_annotations_and_no_policies() {
        let pool = Pool {
            name: "default",
            label_key: "",
            taints: &[],
        };
        assert!(annotations(&pool).is_empty());
        let served = Served {
            validating: true,
            mutating: Some("v1".into()),
            kyverno: Some("v1".into()),
        };
        assert!(policies(&pool, &served).is_empty());
    }

    #[test]
    fn the_whitelist_holds_the_pools_tolerations_and_the_servers_own() {
        let taints = spot();
        let pool = Pool {
            name: "spot",
            label_key: "node-pool",
            taints: &taints,
        };
        let found = annotations(&pool);
        let get = |k: &str| found.iter().find(|(a, _)| *a == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("scheduler.alpha.kubernetes.io/node-selector").unwrap(),
            "node-pool=spot"
        );
        let whitelist: Vec<Value> = serde_json::from_str(
            &get("scheduler.alpha.kubernetes.io/tolerationsWhitelist").unwrap(),
        )
        .unwrap();
        assert_eq!(whitelist.len(), 4);
        assert_eq!(whitelist[0]["value"], "spot");
    }

    #[test]
    fn a_cluster_without_policies_gets_annotations_only() {
        let taints = spot();
        let pool = Pool {
            name: "spot",
            label_key: "node-pool",
            taints: &taints,
        };
        assert!(policies(&pool, &Served::default()).is_empty());
        let kinds: Vec<&str> = policies(
            &pool,
            &Served {
                validating: true,
                mutating: None,
                kyverno: None,
            },
        )
        .iter()
        .map(|o| o.0)
        .collect();
        assert_eq!(
            kinds,
            [
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding"
            ]
        );
    }

    #[test]
    fn kyverno_gets_the_same_checks_scoped_to_the_pools_namespaces() {
        let taints = spot();
        let pool = Pool {
            name: "spot",
            label_key: "node-pool",
            taints: &taints,
        };
        let served = Served {
            validating: true,
            mutating: Some("v1".into()),
            kyverno: Some("v1".into()),
        };
        let objects = policies(&pool, &served);
        let kinds: Vec<&str> = objects.iter().map(|o| o.0).collect();
        // Instead of the API server's policies, not beside them.
        assert_eq!(kinds, ["MutatingPolicy", "ValidatingPolicy"]);
        let [(_, _, mutating), (_, _, validating)] = kyverno(&pool, "v1");
        assert_eq!(validating["apiVersion"], "policies.kyverno.io/v1");
        assert_eq!(
            validating["spec"]["validations"],
            validating_spec(&pool)["validations"]
        );
        assert_eq!(
            mutating["spec"]["mutations"],
            mutating_spec(&pool)["mutations"]
        );
        for policy in [&mutating, &validating] {
            let selector = &policy["spec"]["matchConstraints"]["namespaceSelector"]["matchLabels"];
            assert_eq!(selector[POOL_LABEL], "spot");
            assert_eq!(selector["app.kubernetes.io/managed-by"], FIELD_MANAGER);
            assert_eq!(
                policy["spec"]["autogen"]["podControllers"]["controllers"],
                json!([])
            );
            assert_eq!(policy["spec"]["evaluation"]["background"]["enabled"], false);
        }
        assert_eq!(validating["spec"]["validationActions"], json!(["Deny"]));
    }

    #[test]
    fn kyverno_refusals_are_recognised() {
        assert!(refused_by_pinning(
            "admission webhook \"vpol.validate.kyverno.svc-fail\" denied the request: Policy berth-pool-spot failed: pods in this namespace run on node pool spot"
        ));
        assert!(!refused_by_pinning(
            "admission webhook \"vpol.validate.kyverno.svc-fail\" denied the request: Policy require-labels failed"
        ));
    }

    #[test]
    fn cel_literals_are_escaped() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
    }
}
