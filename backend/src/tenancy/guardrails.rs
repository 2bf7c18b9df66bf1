//! Workload guardrails per environment: the Pod Security Admission levels written on each
//! Berth namespace, and four workload standards written per cluster as
//! ValidatingAdmissionPolicies — requests and limits set, readiness and liveness probes, no
//! `:latest` or untagged image, no privileged container. Each standard's mode (off, warn,
//! audit, deny) is a namespace label; three static bindings per standard select namespaces
//! by that label, so changing a mode is a re-apply of the namespaces, never a deletion.
//!
//! Admins edit the guardrails of an environment; every namespace of it is re-applied from a
//! durable job in the same transaction.

use berth_frontend::api::{
    Environment, Guardrails, GuardrailsInput, PodSecurityLevel, RuleMode, Scope,
};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::objects::FIELD_MANAGER;
use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, word},
    jobs, App, Error, Result,
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
    let namespaces = sqlx::query!(
        "SELECT n.id, n.cluster_id FROM namespaces n
         WHERE n.environment = $1 AND n.state IN ('provisioning', 'ready', 'failed')
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.namespace_id = n.id AND j.kind = 'apply' AND j.state = 'queued')",
        environment.as_str()
    )
    .fetch_all(&mut *tx)
    .await?;
    for n in &namespaces {
        jobs::enqueue(&mut tx, jobs::Kind::Apply, n.id, None, n.cluster_id, None).await?;
    }
    let after = serde_json::to_value(&g).map_err(anyhow::Error::from)?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("guardrails.updated", "guardrails", environment.as_str())
            .before(before.unwrap_or(Value::Null))
            .after(json!({"guardrails": after, "namespaces_reapplied": namespaces.len()})),
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
