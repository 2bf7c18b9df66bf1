//! Workload guardrails per environment: the Pod Security Admission levels written on each
//! Berth namespace, and four workload standards written per cluster as
//! ValidatingAdmissionPolicies — requests and limits set, readiness and liveness probes, no
//! `:latest` or untagged image, no privileged container. Each standard's mode (off, warn,
//! audit, deny) is a namespace label; three static bindings per standard select namespaces
//! by that label, so changing a mode is a re-apply of the namespaces, never a deletion.
//!
//! Each cluster layer adds its own on top (`layer_guardrails`): a namespace gets the stricter
//! of its environment's and its layer's level or mode for every rule, and the layer's default
//! PriorityClass if an admin set one — written on the layer's clusters and given, by a
//! MutatingAdmissionPolicy where the cluster serves it, to every pod that names none.
//!
//! Admins edit the guardrails of an environment or a layer; every namespace they cover is
//! re-applied from a durable job in the same transaction.

use berth_frontend::api::{
    Environment, Guardrails, GuardrailsInput, LayerGuardrails, LayerGuardrailsInput,
    PodSecurityLevel, RuleMode, Scope,
};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::{objects::FIELD_MANAGER, pinning::Served};
use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, word},
    App, Error, Result,
};

/// A workload standard: its name in labels and objects, what it checks (CEL over the
/// `containers` and `spec` variables) and what it tells the developer.
struct Standard {
    name: &'static str,
    expression: &'static str,
    message: &'static str,
}

const STANDARDS: [Standard; 4] = [
    Standard {
        name: "require-resources",
        expression: "variables.containers.all(c, has(c.resources) && has(c.resources.requests) && has(c.resources.limits) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests && 'memory' in c.resources.limits)",
        message: "every container must set CPU and memory requests and a memory limit (resources.requests.cpu, resources.requests.memory, resources.limits.memory)",
    },
    Standard {
        name: "require-probes",
        expression: "variables.batch || variables.spec.containers.all(c, has(c.readinessProbe) && has(c.livenessProbe))",
        message: "every container must have a readinessProbe and a livenessProbe",
    },
    Standard {
        name: "forbid-latest",
        expression: "variables.containers.all(c, c.image.contains('@') || (c.image.lastIndexOf(':') > c.image.lastIndexOf('/') && !c.image.endsWith(':latest')))",
        message: "every image must be pinned to a tag other than latest, or to a digest (image: registry/app:1.4.2)",
    },
    Standard {
        name: "forbid-privileged",
        expression: "variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)",
        message: "containers must not run privileged (securityContext.privileged: true)",
    },
];

const LABEL_PREFIX: &str = "berth.dev/guardrail-";

fn mode_of(g: &Guardrails, standard: &str) -> RuleMode {
    match standard {
        "require-resources" => g.require_resources,
        "require-probes" => g.require_probes,
        "forbid-latest" => g.forbid_latest,
        _ => g.forbid_privileged,
    }
}

/// The labels a namespace of `g`'s environment carries: Pod Security levels and each
/// standard's mode.
pub fn namespace_labels(g: &Guardrails) -> Vec<(String, String)> {
    let mut out = vec![
        (
            "pod-security.kubernetes.io/enforce".to_owned(),
            g.pod_security_enforce.as_str().to_owned(),
        ),
        (
            "pod-security.kubernetes.io/warn".to_owned(),
            g.pod_security_warn.as_str().to_owned(),
        ),
        (
            "pod-security.kubernetes.io/audit".to_owned(),
            g.pod_security_audit.as_str().to_owned(),
        ),
    ];
    for s in &STANDARDS {
        out.push((
            format!("{LABEL_PREFIX}{}", s.name),
            mode_of(g, s.name).as_str().to_owned(),
        ));
    }
    out
}

/// The standards' policies and bindings, the same on every cluster that serves
/// ValidatingAdmissionPolicy. They match pods and the workloads that make them, so a
/// Deployment that breaks a standard is refused (or warned about) when it is applied.
pub fn policies() -> Vec<(&'static str, String, Value)> {
    let mut out = Vec::new();
    for s in &STANDARDS {
        let name = format!("berth-workload-{}", s.name);
        out.push((
            "ValidatingAdmissionPolicy",
            name.clone(),
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": [
                        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]},
                        {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                         "resources": ["deployments", "statefulsets", "daemonsets"]},
                        {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                         "resources": ["jobs", "cronjobs"]},
                    ]},
                    "variables": [
                        {"name": "spec", "expression": "object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)"},
                        {"name": "containers", "expression": "variables.spec.containers + (has(variables.spec.initContainers) ? variables.spec.initContainers : [])"},
                        // Jobs run to completion: probes do not apply to them or their pods.
                        {"name": "batch", "expression": "object.kind == 'Job' || object.kind == 'CronJob' || (has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, o.kind == 'Job'))"},
                    ],
                    "validations": [{
                        "expression": s.expression,
                        "reason": "Forbidden",
                        "message": format!("{}: {}", name, s.message),
                    }],
                },
            }),
        ));
        for (mode, actions) in [
            (RuleMode::Warn, json!(["Warn"])),
            (RuleMode::Audit, json!(["Audit"])),
            (RuleMode::Deny, json!(["Deny"])),
        ] {
            let binding = format!("{name}-{mode}");
            out.push((
                "ValidatingAdmissionPolicyBinding",
                binding.clone(),
                json!({
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": binding, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
                    "spec": {
                        "policyName": name,
                        "validationActions": actions,
                        "matchResources": {"namespaceSelector": {"matchLabels": {
                            "app.kubernetes.io/managed-by": FIELD_MANAGER,
                            format!("{LABEL_PREFIX}{}", s.name): mode.as_str(),
                        }}},
                    },
                }),
            ));
        }
    }
    out
}

/// A namespace's rules: for each, the stricter of its environment's and its layer's.
pub fn effective(environment: &Guardrails, layer: &LayerGuardrails) -> Guardrails {
    Guardrails {
        environment: environment.environment,
        pod_security_enforce: environment
            .pod_security_enforce
            .max(layer.pod_security_enforce),
        pod_security_warn: environment.pod_security_warn.max(layer.pod_security_warn),
        pod_security_audit: environment.pod_security_audit.max(layer.pod_security_audit),
        require_resources: environment.require_resources.max(layer.require_resources),
        require_probes: environment.require_probes.max(layer.require_probes),
        forbid_latest: environment.forbid_latest.max(layer.forbid_latest),
        forbid_privileged: environment.forbid_privileged.max(layer.forbid_privileged),
    }
}

/// The namespace label that binds a namespace to its layer's priority defaulting.
pub const PRIORITY_LABEL: &str = "berth.dev/priority-class";

/// A layer's default PriorityClass and, where the cluster serves MutatingAdmissionPolicy, the
/// policy that gives it to pods naming no class. The Priority admission plugin has already
/// resolved such a pod to priority 0 when the policy runs, and runs again after it; so the
/// policy sets the class's value and preemption policy with its name, which is what the
/// plugin then computes itself (proven on the real API server).
pub fn priority_objects(
    class: &str,
    value: i32,
    served: &Served,
) -> Vec<(&'static str, String, Value)> {
    let labels = json!({"app.kubernetes.io/managed-by": FIELD_MANAGER});
    let mut out = vec![(
        "PriorityClass",
        class.to_owned(),
        json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": class, "labels": labels},
            "value": value,
            "globalDefault": false,
            "preemptionPolicy": "PreemptLowerPriority",
            "description": format!("Berth: the default for pods in namespaces labelled {PRIORITY_LABEL}={class}"),
        }),
    )];
    let Some(version) = served.mutating.as_deref() else {
        return out;
    };
    let name = format!("berth-priority-{class}");
    let api_version = format!("admissionregistration.k8s.io/{version}");
    out.push((
        "MutatingAdmissionPolicy",
        name.clone(),
        json!({
            "apiVersion": api_version,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "IfNeeded",
                "matchConstraints": {"resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]},
                ]},
                "matchConditions": [{
                    "name": "names-no-priority-class",
                    "expression": "!has(object.spec.priorityClassName) || object.spec.priorityClassName == ''",
                }],
                "mutations": [{
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {"expression": format!(
                        "Object{{spec: Object.spec{{priorityClassName: '{class}', priority: {value}, preemptionPolicy: 'PreemptLowerPriority'}}}}"
                    )},
                }],
            },
        }),
    ));
    out.push((
        "MutatingAdmissionPolicyBinding",
        name.clone(),
        json!({
            "apiVersion": api_version,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "policyName": name,
                "matchResources": {"namespaceSelector": {"matchLabels": {
                    "app.kubernetes.io/managed-by": FIELD_MANAGER,
                    PRIORITY_LABEL: class,
                }}},
            },
        }),
    ));
    out
}

struct Row {
    environment: Environment,
    pod_security_enforce: PodSecurityLevel,
    pod_security_warn: PodSecurityLevel,
    pod_security_audit: PodSecurityLevel,
    require_resources: RuleMode,
    require_probes: RuleMode,
    forbid_latest: RuleMode,
    forbid_privileged: RuleMode,
}

impl From<Row> for Guardrails {
    fn from(r: Row) -> Self {
        Guardrails {
            environment: r.environment,
            pod_security_enforce: r.pod_security_enforce,
            pod_security_warn: r.pod_security_warn,
            pod_security_audit: r.pod_security_audit,
            require_resources: r.require_resources,
            require_probes: r.require_probes,
            forbid_latest: r.forbid_latest,
            forbid_privileged: r.forbid_privileged,
        }
    }
}

/// Every environment's guardrails, prod first.
pub async fn load_all(conn: &mut PgConnection) -> Result<Vec<Guardrails>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT environment AS "environment: Environment",
                  pod_security_enforce AS "pod_security_enforce: PodSecurityLevel",
                  pod_security_warn AS "pod_security_warn: PodSecurityLevel",
                  pod_security_audit AS "pod_security_audit: PodSecurityLevel",
                  require_resources AS "require_resources: RuleMode",
                  require_probes AS "require_probes: RuleMode",
                  forbid_latest AS "forbid_latest: RuleMode",
                  forbid_privileged AS "forbid_privileged: RuleMode"
           FROM guardrails
           ORDER BY CASE environment WHEN 'prod' THEN 0 WHEN 'staging' THEN 1 ELSE 2 END"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Guardrails::from).collect())
}

/// One environment's guardrails (every environment has a row from the first migration on).
pub async fn load(conn: &mut PgConnection, environment: Environment) -> Result<Guardrails> {
    load_all(conn)
        .await?
        .into_iter()
        .find(|g| g.environment == environment)
        .ok_or(Error::NotFound("guardrails"))
}

/// Everyone reads the guardrails: developers see what their namespaces will enforce.
pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<Guardrails>> {
    ctx.require(Scope::Read)?;
    load_all(&mut *app.db.acquire().await?).await
}

fn parse(environment: Environment, input: &GuardrailsInput) -> Result<Guardrails> {
    let mut errors = FieldErrors::new();
    let level = |errors: &mut FieldErrors, field: &str, raw: &str| {
        collect(errors, word::<PodSecurityLevel>(field, raw))
    };
    let enforce = level(
        &mut errors,
        "pod_security_enforce",
        &input.pod_security_enforce,
    );
    let warn = level(&mut errors, "pod_security_warn", &input.pod_security_warn);
    let audit = level(&mut errors, "pod_security_audit", &input.pod_security_audit);
    let mode = |errors: &mut FieldErrors, field: &str, raw: &str| {
        collect(errors, word::<RuleMode>(field, raw))
    };
    let resources = mode(&mut errors, "require_resources", &input.require_resources);
    let probes = mode(&mut errors, "require_probes", &input.require_probes);
    let latest = mode(&mut errors, "forbid_latest", &input.forbid_latest);
    let privileged = mode(&mut errors, "forbid_privileged", &input.forbid_privileged);
    match (enforce, warn, audit, resources, probes, latest, privileged) {
        (Some(e), Some(w), Some(a), Some(r), Some(p), Some(l), Some(v)) if errors.is_empty() => {
            if w < e {
                errors.insert(
                    "pod_security_warn".into(),
                    format!("must be at least as strict as enforce ({e})"),
                );
            }
            if a < e {
                errors.insert(
                    "pod_security_audit".into(),
                    format!("must be at least as strict as enforce ({e})"),
                );
            }
            if !errors.is_empty() {
                return Err(Error::Invalid(errors));
            }
            Ok(Guardrails {
                environment,
                pod_security_enforce: e,
                pod_security_warn: w,
                pod_security_audit: a,
                require_resources: r,
                require_probes: p,
                forbid_latest: l,
                forbid_privileged: v,
            })
        }
        _ => Err(Error::Invalid(errors)),
    }
}

struct LayerRow {
    layer: String,
    pod_security_enforce: PodSecurityLevel,
    pod_security_warn: PodSecurityLevel,
    pod_security_audit: PodSecurityLevel,
    require_resources: RuleMode,
    require_probes: RuleMode,
    forbid_latest: RuleMode,
    forbid_privileged: RuleMode,
    priority_class: Option<String>,
    priority_value: Option<i32>,
}

impl From<LayerRow> for LayerGuardrails {
    fn from(r: LayerRow) -> Self {
        LayerGuardrails {
            layer: r.layer,
            pod_security_enforce: r.pod_security_enforce,
            pod_security_warn: r.pod_security_warn,
            pod_security_audit: r.pod_security_audit,
            require_resources: r.require_resources,
            require_probes: r.require_probes,
            forbid_latest: r.forbid_latest,
            forbid_privileged: r.forbid_privileged,
            priority_class: r.priority_class,
            priority_value: r.priority_value,
        }
    }
}

/// Every layer's guardrails, in the fleet's layer order.
pub async fn load_layers(conn: &mut PgConnection) -> Result<Vec<LayerGuardrails>> {
    let rows = sqlx::query_as!(
        LayerRow,
        r#"SELECT layer, pod_security_enforce AS "pod_security_enforce: PodSecurityLevel",
                  pod_security_warn AS "pod_security_warn: PodSecurityLevel",
                  pod_security_audit AS "pod_security_audit: PodSecurityLevel",
                  require_resources AS "require_resources: RuleMode",
                  require_probes AS "require_probes: RuleMode",
                  forbid_latest AS "forbid_latest: RuleMode",
                  forbid_privileged AS "forbid_privileged: RuleMode",
                  priority_class, priority_value
           FROM layer_guardrails
           ORDER BY array_position(ARRAY['shared-infra', 'online', 'offline', 'stateful', 'secure'], layer)"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(LayerGuardrails::from).collect())
}

/// The rules and default PriorityClass of a namespace of `environment` on a `layer` cluster.
pub async fn for_namespace(
    conn: &mut PgConnection,
    environment: Environment,
    layer: &str,
) -> Result<(Guardrails, LayerGuardrails)> {
    let env = load(&mut *conn, environment).await?;
    let layer = load_layers(conn)
        .await?
        .into_iter()
        .find(|l| l.layer == layer)
        .ok_or(Error::NotFound("layer"))?;
    Ok((effective(&env, &layer), layer))
}

/// Everyone reads the layers' guardrails, as they read the environments'.
pub async fn list_layers(app: &App, ctx: &Ctx) -> Result<Vec<LayerGuardrails>> {
    ctx.require(Scope::Read)?;
    load_layers(&mut *app.db.acquire().await?).await
}

/// Reserved by Kubernetes for its own classes.
const SYSTEM_PRIORITY: &str = "system-";
/// The highest value Kubernetes allows a PriorityClass that is not a system one.
const MAX_PRIORITY: i32 = 1_000_000_000;

/// A PriorityClass name Berth can also put in a namespace label: a DNS label.
fn priority_class(field: &str, raw: &str) -> Result<String> {
    let name = raw.trim();
    let dns_label = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !dns_label {
        Err(Error::invalid(
            field,
            "must be a DNS label: 1–63 lower-case letters, digits and '-', not starting or ending with '-'",
        ))
    } else if name.starts_with(SYSTEM_PRIORITY) {
        Err(Error::invalid(
            field,
            "names starting with system- are reserved for Kubernetes",
        ))
    } else {
        Ok(name.to_owned())
    }
}

fn priority_value(field: &str, raw: &str) -> Result<i32> {
    match raw.trim().parse::<i32>() {
        Ok(v) if v <= MAX_PRIORITY => Ok(v),
        Ok(_) => Err(Error::invalid(
            field,
            format!("must be at most {MAX_PRIORITY}; higher values are Kubernetes' own"),
        )),
        Err(_) => Err(Error::invalid(
            field,
            format!("must be a whole number from -2147483648 to {MAX_PRIORITY}"),
        )),
    }
}

fn parse_layer(layer: &str, input: &LayerGuardrailsInput) -> Result<LayerGuardrails> {
    let rules = GuardrailsInput {
        pod_security_enforce: input.pod_security_enforce.clone(),
        pod_security_warn: input.pod_security_warn.clone(),
        pod_security_audit: input.pod_security_audit.clone(),
        require_resources: input.require_resources.clone(),
        require_probes: input.require_probes.clone(),
        forbid_latest: input.forbid_latest.clone(),
        forbid_privileged: input.forbid_privileged.clone(),
    };
    let mut errors = FieldErrors::new();
    let rules = collect(&mut errors, parse(Environment::Prod, &rules));
    let priority = match (
        input.priority_class.trim().is_empty(),
        input.priority_value.trim().is_empty(),
    ) {
        (true, true) => Some(None),
        (false, true) => {
            errors.insert(
                "priority_value".into(),
                "is required with a PriorityClass".into(),
            );
            None
        }
        (true, false) => {
            errors.insert(
                "priority_class".into(),
                "is required with a priority value".into(),
            );
            None
        }
        (false, false) => {
            let class = collect(
                &mut errors,
                priority_class("priority_class", &input.priority_class),
            );
            let value = collect(
                &mut errors,
                priority_value("priority_value", &input.priority_value),
            );
            class.zip(value).map(Some)
        }
    };
    match (rules, priority) {
        (Some(g), Some(priority)) if errors.is_empty() => Ok(LayerGuardrails {
            layer: layer.to_owned(),
            pod_security_enforce: g.pod_security_enforce,
            pod_security_warn: g.pod_security_warn,
            pod_security_audit: g.pod_security_audit,
            require_resources: g.require_resources,
            require_probes: g.require_probes,
            forbid_latest: g.forbid_latest,
            forbid_privileged: g.forbid_privileged,
            priority_class: priority.as_ref().map(|p| p.0.clone()),
            priority_value: priority.map(|p| p.1),
        }),
        _ => Err(Error::Invalid(errors)),
    }
}

/// Replaces one layer's guardrails (admins) and re-applies every namespace on the layer's
/// clusters, in one transaction with the audit row. A PriorityClass's value never changes in
/// Kubernetes, so a class keeps the value it was first given, whichever layer names it.
pub async fn update_layer(
    app: &App,
    ctx: &Ctx,
    layer: &str,
    input: LayerGuardrailsInput,
) -> Result<LayerGuardrails> {
    ctx.require_admin(Scope::Approve)?;
    if !crate::fleet::LAYERS.contains(&layer) {
        return Err(Error::NotFound("layer"));
    }
    let l = parse_layer(layer, &input)?;
    let mut tx = app.db.begin().await?;
    // One layer at a time, so two admins cannot give one class two values.
    sqlx::query!("SELECT layer FROM layer_guardrails FOR UPDATE")
        .fetch_all(&mut *tx)
        .await?;
    let before = sqlx::query_scalar!(
        "SELECT to_jsonb(l) - 'updated_at' FROM layer_guardrails l WHERE layer = $1",
        layer
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some((class, value)) = l.priority() {
        let taken = sqlx::query!(
            r#"SELECT layer, priority_value AS "value!" FROM layer_guardrails
               WHERE priority_class = $1 AND priority_value <> $2"#,
            class,
            value
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(t) = taken {
            return Err(Error::invalid(
                "priority_value",
                format!(
                    "PriorityClass {class} already has the value {} (layer {}); Kubernetes never changes a class's value, so give this one a new name",
                    t.value, t.layer
                ),
            ));
        }
    }
    sqlx::query!(
        "UPDATE layer_guardrails SET pod_security_enforce = $2, pod_security_warn = $3, pod_security_audit = $4,
                require_resources = $5, require_probes = $6, forbid_latest = $7, forbid_privileged = $8,
                priority_class = $9, priority_value = $10, updated_at = now()
         WHERE layer = $1",
        layer,
        l.pod_security_enforce.as_str(),
        l.pod_security_warn.as_str(),
        l.pod_security_audit.as_str(),
        l.require_resources.as_str(),
        l.require_probes.as_str(),
        l.forbid_latest.as_str(),
        l.forbid_privileged.as_str(),
        l.priority_class,
        l.priority_value
    )
    .execute(&mut *tx)
    .await?;
    let reapplied = super::provision::reapply(
        &mut tx,
        super::provision::Reapply {
            layer: Some(layer),
            ..Default::default()
        },
    )
    .await?;
    // A class renamed or cleared leaves the old one and its policy behind: each of the
    // layer's clusters gets a prune.
    let clusters = sqlx::query_scalar!("SELECT id FROM clusters WHERE layer = $1", layer)
        .fetch_all(&mut *tx)
        .await?;
    for cluster in clusters {
        super::shared::enqueue(&mut tx, cluster).await?;
    }
    let after = serde_json::to_value(&l).map_err(anyhow::Error::from)?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("guardrails.layer_updated", "layer_guardrails", layer)
            .before(before.unwrap_or(Value::Null))
            .after(json!({"guardrails": after, "namespaces_reapplied": reapplied})),
    )
    .await?;
    tx.commit().await?;
    Ok(l)
}

/// Replaces one environment's guardrails (admins) and re-applies every namespace of that
/// environment, in one transaction with the audit row.
pub async fn update(
    app: &App,
    ctx: &Ctx,
    environment: &str,
    input: GuardrailsInput,
) -> Result<Guardrails> {
    ctx.require_admin(Scope::Approve)?;
    let environment = Environment::parse(environment).ok_or(Error::NotFound("environment"))?;
    let g = parse(environment, &input)?;
    let mut tx = app.db.begin().await?;
    let before = sqlx::query_scalar!(
        "SELECT to_jsonb(g) - 'updated_at' FROM guardrails g WHERE environment = $1 FOR UPDATE",
        environment.as_str()
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE guardrails SET pod_security_enforce = $2, pod_security_warn = $3, pod_security_audit = $4,
                require_resources = $5, require_probes = $6, forbid_latest = $7, forbid_privileged = $8, updated_at = now()
         WHERE environment = $1",
        environment.as_str(),
        g.pod_security_enforce.as_str(),
        g.pod_security_warn.as_str(),
        g.pod_security_audit.as_str(),
        g.require_resources.as_str(),
        g.require_probes.as_str(),
        g.forbid_latest.as_str(),
        g.forbid_privileged.as_str()
    )
    .execute(&mut *tx)
    .await?;
    // Every live namespace of the environment gets its labels again (once: one queued
    // apply is enough).
    let reapplied = super::provision::reapply(
        &mut tx,
        super::provision::Reapply {
            environment: Some(environment.as_str()),
            ..Default::default()
        },
    )
    .await?;
    let after = serde_json::to_value(&g).map_err(anyhow::Error::from)?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("guardrails.updated", "guardrails", environment.as_str())
            .before(before.unwrap_or(Value::Null))
            .after(json!({"guardrails": after, "namespaces_reapplied": reapplied})),
    )
    .await?;
    tx.commit().await?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> GuardrailsInput {
        GuardrailsInput {
            pod_security_enforce: "baseline".into(),
            pod_security_warn: "restricted".into(),
            pod_security_audit: "restricted".into(),
            require_resources: "warn".into(),
            require_probes: "off".into(),
            forbid_latest: "deny".into(),
            forbid_privileged: "deny".into(),
        }
    }

    #[test]
    fn bad_words_and_a_warn_level_below_enforce_name_their_fields() {
        let mut bad = input();
        bad.forbid_latest = "block".into();
        bad.pod_security_warn = "privileged".into();
        let Err(Error::Invalid(f)) = parse(Environment::Prod, &bad) else {
            panic!("refused")
        };
        assert!(f["forbid_latest"].contains("off, warn, audit"), "{f:?}");
        let mut low = input();
        low.pod_security_warn = "privileged".into();
        let Err(Error::Invalid(f)) = parse(Environment::Prod, &low) else {
            panic!("refused")
        };
        assert!(f.contains_key("pod_security_warn"), "{f:?}");
        assert!(parse(Environment::Dev, &input()).is_ok());
    }

    fn layer_input() -> LayerGuardrailsInput {
        LayerGuardrailsInput {
            pod_security_enforce: "restricted".into(),
            pod_security_warn: "restricted".into(),
            pod_security_audit: "restricted".into(),
            require_resources: "off".into(),
            require_probes: "deny".into(),
            forbid_latest: "off".into(),
            forbid_privileged: "off".into(),
            priority_class: "online-high".into(),
            priority_value: "100000".into(),
        }
    }

    #[test]
    fn a_layer_tightens_its_environment_never_loosens_it() {
        let env = parse(Environment::Prod, &input()).unwrap();
        let layer = parse_layer("secure", &layer_input()).unwrap();
        let g = effective(&env, &layer);
        assert_eq!(g.pod_security_enforce, PodSecurityLevel::Restricted);
        assert_eq!(g.require_probes, RuleMode::Deny);
        // The environment's deny stays although the layer says off.
        assert_eq!(g.forbid_latest, RuleMode::Deny);
        assert_eq!(g.require_resources, RuleMode::Warn);
        assert_eq!(layer.priority(), Some(("online-high", 100000)));
    }

    #[test]
    fn a_layers_priority_class_is_a_dns_label_with_a_value_kubernetes_allows() {
        for (class, value, field, says) in [
            ("system-high", "10", "priority_class", "reserved"),
            ("High", "10", "priority_class", "DNS label"),
            ("high", "", "priority_value", "required"),
            ("", "10", "priority_class", "required"),
            ("high", "2000000000", "priority_value", "at most 1000000000"),
            ("high", "ten", "priority_value", "whole number"),
        ] {
            let mut bad = layer_input();
            bad.priority_class = class.into();
            bad.priority_value = value.into();
            let Err(Error::Invalid(f)) = parse_layer("online", &bad) else {
                panic!("{class}/{value} refused")
            };
            assert!(f[field].contains(says), "{class}/{value}: {f:?}");
        }
        let mut none = layer_input();
        none.priority_class = " ".into();
        none.priority_value = String::new();
        assert_eq!(parse_layer("online", &none).unwrap().priority(), None);
        assert_eq!(
            parse_layer(
                "online",
                &LayerGuardrailsInput {
                    priority_value: "-5".into(),
                    ..layer_input()
                }
            )
            .unwrap()
            .priority(),
            Some(("online-high", -5))
        );
    }

    #[test]
    fn a_priority_class_is_defaulted_only_where_mutating_policies_are_served() {
        let validating = Served {
            validating: true,
            ..Served::default()
        };
        let kinds = |served: &Served| -> Vec<&'static str> {
            priority_objects("batch-low", -10, served)
                .iter()
                .map(|o| o.0)
                .collect()
        };
        assert_eq!(kinds(&validating), vec!["PriorityClass"]);
        let mutating = Served {
            validating: true,
            mutating: Some("v1beta1".into()),
            ..Served::default()
        };
        assert_eq!(
            kinds(&mutating),
            vec![
                "PriorityClass",
                "MutatingAdmissionPolicy",
                "MutatingAdmissionPolicyBinding"
            ]
        );
        let objects = priority_objects("batch-low", -10, &mutating);
        assert_eq!(
            objects[1].2["apiVersion"],
            "admissionregistration.k8s.io/v1beta1"
        );
        assert!(objects[1].2.to_string().contains("priority: -10"));
    }

    #[test]
    fn each_standard_has_a_policy_and_a_binding_per_mode() {
        let objects = policies();
        assert_eq!(objects.len(), 4 * 4);
        let names: Vec<&str> = objects.iter().map(|o| o.1.as_str()).collect();
        assert!(names.contains(&"berth-workload-forbid-latest-deny"));
        let g = parse(Environment::Prod, &input()).unwrap();
        let labels = namespace_labels(&g);
        assert!(labels.contains(&(
            "berth.dev/guardrail-forbid-latest".to_owned(),
            "deny".to_owned()
        )));
        assert!(labels.contains(&(
            "pod-security.kubernetes.io/enforce".to_owned(),
            "baseline".to_owned()
        )));
    }
}
