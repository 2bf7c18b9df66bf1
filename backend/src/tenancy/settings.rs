//! What admins configure: quota presets, team budgets, approval policies and webhooks.
//! Everyone reads presets; members read their teams' budgets; the rest is admins'.

use berth_frontend::api::{
    Budget, BudgetInput, Environment, LimitSpec, NamespaceSpec, NewWebhook, Policy,
    PolicyConditions, PolicyInput, Preset, QuotaSpec, RequestKind, Scope, Webhook, Word,
};
use serde_json::json;
use sqlx::{types::Json, PgConnection};
use uuid::Uuid;

use super::spec::{self, Amount, Sized};
use crate::{audit, auth::Ctx, error::FieldErrors, fields::collect, App, Error, Result};

pub const PRESETS: [&str; 4] = ["S", "M", "L", "XL"];
pub const EVENTS: [&str; 5] = [
    "request.created",
    "request.approved",
    "request.rejected",
    "request.provisioned",
    "request.failed",
];

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct PresetSpec {
    quota: QuotaSpec,
    limits: LimitSpec,
}

pub async fn presets(app: &App, ctx: &Ctx) -> Result<Vec<Preset>> {
    ctx.require(Scope::Read)?;
    load_presets(&mut *app.db.acquire().await?).await
}

pub async fn load_presets(conn: &mut PgConnection) -> Result<Vec<Preset>> {
    let rows = sqlx::query!(
        r#"SELECT name, rank, spec AS "spec: Json<PresetSpec>" FROM quota_presets ORDER BY rank"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Preset {
            name: r.name,
            rank: r.rank,
            quota: r.spec.0.quota,
            limits: r.spec.0.limits,
        })
        .collect())
}

/// Presets parsed, for policy comparisons.
pub async fn preset_sizes(conn: &mut PgConnection) -> Result<Vec<(String, Sized)>> {
    load_presets(conn)
        .await?
        .into_iter()
        .map(|p| {
            let sized = super::stored_sized(&NamespaceSpec {
                quota: p.quota,
                limits: p.limits,
                storage_classes: vec![],
            })?;
            Ok((p.name, sized))
        })
        .collect()
}

/// Replaces a preset's quota and limits (admins). Existing namespaces keep their spec.
pub async fn update_preset(app: &App, ctx: &Ctx, name: &str, input: Preset) -> Result<Preset> {
    ctx.require_admin(Scope::Approve)?;
    if !PRESETS.contains(&name) {
        return Err(Error::NotFound("preset"));
    }
    let candidate = NamespaceSpec {
        quota: input.quota,
        limits: input.limits,
        storage_classes: vec![],
    };
    let sized = spec::parse(&candidate).map_err(Error::Invalid)?;
    let stored = PresetSpec {
        quota: sized.spec.quota.clone(),
        limits: sized.spec.limits.clone(),
    };
    let mut tx = app.db.begin().await?;
    let before = sqlx::query_scalar!(
        "SELECT spec FROM quota_presets WHERE name = $1 FOR UPDATE",
        name
    )
    .fetch_one(&mut *tx)
    .await?;
    let after = serde_json::to_value(&stored).map_err(anyhow::Error::from)?;
    sqlx::query!(
        "UPDATE quota_presets SET spec = $2, updated_at = now() WHERE name = $1",
        name,
        after
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("preset.updated", "preset", name)
            .before(before)
            .after(after),
    )
    .await?;
    tx.commit().await?;
    load_presets(&mut *app.db.acquire().await?)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or(Error::NotFound("preset"))
}

/// Every team's budgets, team by team (admins): the tenancy settings page's table.
pub async fn all_budgets(app: &App, ctx: &Ctx) -> Result<Vec<Budget>> {
    ctx.require_admin(Scope::Read)?;
    let teams = sqlx::query_scalar!("SELECT name FROM teams ORDER BY name")
        .fetch_all(&app.db)
        .await?;
    let mut all = Vec::new();
    for team in teams {
        all.extend(budgets(app, ctx, &team).await?);
    }
    Ok(all)
}

pub async fn budgets(app: &App, ctx: &Ctx, team: &str) -> Result<Vec<Budget>> {
    let actor = ctx.require(Scope::Read)?;
    let mut conn = app.db.acquire().await?;
    let team = super::acting_team(&mut conn, actor, team).await?;
    let rows = sqlx::query!(
        r#"SELECT t.name AS team, c.name AS "cluster?", b.cluster_id, b.cpu_millis, b.memory_bytes, b.storage_bytes, b.extended, b.updated_at,
                  coalesce((SELECT sum(n.quota_cpu_millis) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_cpu!",
                  coalesce((SELECT sum(n.quota_memory_bytes) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_memory!",
                  coalesce((SELECT sum(n.quota_storage_bytes) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_storage!"
           FROM team_budgets b JOIN teams t ON t.id = b.team_id LEFT JOIN clusters c ON c.id = b.cluster_id
           WHERE b.team_id = $1 ORDER BY c.name NULLS FIRST"#,
        team.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let caps: std::collections::BTreeMap<String, i64> =
            serde_json::from_value(r.extended).unwrap_or_default();
        let used = if caps.is_empty() {
            Default::default()
        } else {
            super::extended_used(&mut conn, team.id, r.cluster_id).await?
        };
        let extended = caps
            .into_iter()
            .map(|(name, limit)| {
                let now = used.get(&name).copied().unwrap_or(0);
                berth_frontend::api::ExtendedImpact {
                    name,
                    limit,
                    before: now,
                    after: now,
                }
            })
            .collect();
        out.push(Budget {
            team: r.team,
            cluster: r.cluster,
            limit: berth_frontend::api::Amounts {
                cpu_millis: r.cpu_millis,
                memory_bytes: r.memory_bytes,
                storage_bytes: r.storage_bytes,
            },
            used: berth_frontend::api::Amounts {
                cpu_millis: r.used_cpu,
                memory_bytes: r.used_memory,
                storage_bytes: r.used_storage,
            },
            extended,
            updated_at: r.updated_at,
        });
    }
    Ok(out)
}

/// Sets (creates or replaces) a team's budget, fleet-wide or for one cluster (admins).
pub async fn set_budget(
    app: &App,
    ctx: &Ctx,
    team: &str,
    input: BudgetInput,
) -> Result<Vec<Budget>> {
    let actor = ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let cpu = collect(&mut errors, Amount::cpu("cpu", &input.cpu));
    let memory = collect(&mut errors, Amount::bytes("memory", &input.memory));
    let storage = collect(&mut errors, Amount::bytes("storage", &input.storage));
    let mut extended = std::collections::BTreeMap::new();
    for (name, raw) in &input.extended {
        let name = name.trim();
        let field = format!("extended[{name}]");
        if !berth_kube::resources::is_extended(name) {
            errors.insert(
                field,
                "must be an extended resource a node advertises, such as nvidia.com/gpu".into(),
            );
            continue;
        }
        match berth_kube::quantity::Quantity::parse(raw.trim()) {
            Ok(q) if !q.is_negative() && q.is_whole() && q.units() <= 1_000_000 => {
                extended.insert(name.to_owned(), q.units());
            }
            _ => {
                errors.insert(field, "must be a whole number from 0 to 1000000".into());
            }
        }
    }
    let mut tx = app.db.begin().await?;
    let team_ref = super::acting_team(&mut tx, actor, team).await?;
    let cluster = match input
        .cluster
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(name) => {
            let id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", name)
                .fetch_optional(&mut *tx)
                .await?;
            if id.is_none() {
                errors.insert("cluster".into(), "no such cluster".into());
            }
            id.map(|id| (id, name.to_owned()))
        }
    };
    let (Some(cpu), Some(memory), Some(storage)) = (cpu, memory, storage) else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let cluster_id = cluster.as_ref().map(|c| c.0);
    let before = sqlx::query!(
        "SELECT cpu_millis, memory_bytes, storage_bytes, extended FROM team_budgets
         WHERE team_id = $1 AND cluster_id IS NOT DISTINCT FROM $2 FOR UPDATE",
        team_ref.id,
        cluster_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|b| json!({"cpu_millis": b.cpu_millis, "memory_bytes": b.memory_bytes, "storage_bytes": b.storage_bytes, "extended": b.extended}));
    sqlx::query!(
        "INSERT INTO team_budgets (id, team_id, cluster_id, cpu_millis, memory_bytes, storage_bytes, extended)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT ON CONSTRAINT team_budgets_scope_key
         DO UPDATE SET cpu_millis = $4, memory_bytes = $5, storage_bytes = $6, extended = $7, updated_at = now()",
        Uuid::new_v4(),
        team_ref.id,
        cluster_id,
        cpu.0,
        memory.0,
        storage.0,
        json!(extended)
    )
    .execute(&mut *tx)
    .await?;
    let scope = cluster.map_or_else(|| "fleet".to_owned(), |c| c.1);
    let mut entry = audit::Entry::new("budget.set", "budget", format!("{}/{scope}", team_ref.name))
        .team(team_ref.id)
        .after(json!({"cpu_millis": cpu.0, "memory_bytes": memory.0, "storage_bytes": storage.0, "extended": extended}));
    if let Some(before) = before {
        entry = entry.before(before);
    }
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    budgets(app, ctx, team).await
}

/// Removes a budget (admins). `cluster` None: the fleet-wide one.
pub async fn remove_budget(app: &App, ctx: &Ctx, team: &str, cluster: Option<&str>) -> Result<()> {
    let actor = ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let team_ref = super::acting_team(&mut tx, actor, team).await?;
    let removed = sqlx::query!(
        "DELETE FROM team_budgets b USING teams t WHERE b.team_id = t.id AND t.id = $1
           AND b.cluster_id IS NOT DISTINCT FROM (SELECT id FROM clusters WHERE name = $2)
         RETURNING b.cpu_millis, b.memory_bytes, b.storage_bytes",
        team_ref.id,
        cluster
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("budget"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("budget.removed", "budget", format!("{}/{}", team_ref.name, cluster.unwrap_or("fleet")))
            .team(team_ref.id)
            .before(json!({"cpu_millis": removed.cpu_millis, "memory_bytes": removed.memory_bytes, "storage_bytes": removed.storage_bytes})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn policies(app: &App, ctx: &Ctx) -> Result<Vec<Policy>> {
    ctx.require(Scope::Read)?;
    let rows = sqlx::query!(
        r#"SELECT id, name, position, enabled, conditions AS "conditions: Json<PolicyConditions>", action
           FROM approval_policies ORDER BY position, name"#
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Policy {
            id: r.id,
            name: r.name,
            position: r.position,
            enabled: r.enabled,
            conditions: r.conditions.0,
            action: r.action,
        })
        .collect())
}

fn parse_policy(input: &PolicyInput) -> Result<(String, PolicyConditions)> {
    let mut errors = FieldErrors::new();
    let name = collect(
        &mut errors,
        crate::fields::short_text("name", &input.name, 100),
    );
    let c = &input.conditions;
    for k in &c.kinds {
        if RequestKind::parse(k).is_none() {
            errors.insert(
                "conditions.kinds".into(),
                format!("{k:?} is not {}", RequestKind::choices()),
            );
        }
    }
    for e in &c.environments {
        if Environment::parse(e).is_none() {
            errors.insert(
                "conditions.environments".into(),
                format!("{e:?} is not {}", Environment::choices()),
            );
        }
    }
    if let Some(p) = &c.max_preset {
        if !PRESETS.contains(&p.as_str()) {
            errors.insert(
                "conditions.max_preset".into(),
                "must be S, M, L or XL".into(),
            );
        }
    }
    if let Some(p) = c.min_usage_percent {
        if !(1..=100).contains(&p) {
            errors.insert(
                "conditions.min_usage_percent".into(),
                "must be between 1 and 100".into(),
            );
        }
    }
    if let Some(n) = c.max_preset_steps {
        if !(1..=3).contains(&n) {
            errors.insert(
                "conditions.max_preset_steps".into(),
                "must be 1, 2 or 3".into(),
            );
        }
    }
    let usage_only = c.min_usage_percent.is_some() || c.max_preset_steps.is_some();
    if usage_only && c.kinds.iter().any(|k| k != "quota_change") {
        errors.insert(
            "conditions.kinds".into(),
            "usage and preset steps apply to quota changes only: choose quota_change".into(),
        );
    }
    if !["approve", "manual"].contains(&input.action.as_str()) {
        errors.insert("action".into(), "must be approve or manual".into());
    }
    if !(0..=10_000).contains(&input.position) {
        errors.insert("position".into(), "must be between 0 and 10000".into());
    }
    match name {
        Some(name) if errors.is_empty() => Ok((name, c.clone())),
        _ => Err(Error::Invalid(errors)),
    }
}

/// Creates (`id` None) or replaces a policy (admins).
pub async fn save_policy(
    app: &App,
    ctx: &Ctx,
    id: Option<Uuid>,
    input: PolicyInput,
) -> Result<Policy> {
    ctx.require_admin(Scope::Approve)?;
    let (name, conditions) = parse_policy(&input)?;
    let mut tx = app.db.begin().await?;
    let conditions_json = serde_json::to_value(&conditions).map_err(anyhow::Error::from)?;
    let after = json!({"name": name, "position": input.position, "enabled": input.enabled,
                       "conditions": conditions_json, "action": input.action});
    let id = match id {
        None => {
            let id = Uuid::new_v4();
            sqlx::query!(
                "INSERT INTO approval_policies (id, name, position, enabled, conditions, action)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                id,
                name,
                input.position,
                input.enabled,
                conditions_json,
                input.action
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                Error::from_unique(
                    e,
                    "approval_policies_name_key",
                    "name",
                    "a policy with this name exists",
                )
            })?;
            audit::record(
                &mut tx,
                ctx,
                audit::Entry::new("policy.created", "policy", id).after(after),
            )
            .await?;
            id
        }
        Some(id) => {
            let before = sqlx::query!(
                "SELECT name, position, enabled, conditions, action FROM approval_policies WHERE id = $1 FOR UPDATE",
                id
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("policy"))?;
            sqlx::query!(
                "UPDATE approval_policies SET name = $2, position = $3, enabled = $4, conditions = $5, action = $6 WHERE id = $1",
                id, name, input.position, input.enabled, conditions_json, input.action
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_unique(e, "approval_policies_name_key", "name", "a policy with this name exists"))?;
            audit::record(
                &mut tx,
                ctx,
                audit::Entry::new("policy.updated", "policy", id)
                    .before(json!({"name": before.name, "position": before.position, "enabled": before.enabled,
                                   "conditions": before.conditions, "action": before.action}))
                    .after(after),
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    policies(app, ctx)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(Error::NotFound("policy"))
}

pub async fn remove_policy(app: &App, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let name = sqlx::query_scalar!(
        "DELETE FROM approval_policies WHERE id = $1 RETURNING name",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("policy"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("policy.removed", "policy", id).before(json!({"name": name})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn webhooks(app: &App, ctx: &Ctx) -> Result<Vec<Webhook>> {
    ctx.require_admin(Scope::Read)?;
    let rows = sqlx::query_as!(
        Webhook,
        "SELECT id, url, events, enabled, created_at FROM webhooks ORDER BY created_at"
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows)
}

pub async fn create_webhook(app: &App, ctx: &Ctx, input: NewWebhook) -> Result<Webhook> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let url = input.url.trim();
    let parsed: Option<http::Uri> = url.parse().ok();
    if !parsed
        .as_ref()
        .and_then(|u| u.scheme_str())
        .is_some_and(|s| s == "https" || s == "http")
        || parsed.as_ref().and_then(|u| u.host()).is_none()
    {
        errors.insert("url".into(), "must be an http(s) URL".into());
    }
    if input.secret.len() < 16 || input.secret.len() > 1024 {
        errors.insert("secret".into(), "must be 16–1024 characters".into());
    }
    if input.events.is_empty() {
        errors.insert("events".into(), "choose at least one event".into());
    }
    for e in &input.events {
        if !EVENTS.contains(&e.as_str()) {
            errors.insert(
                "events".into(),
                format!("{e:?} is not one of {}", EVENTS.join(", ")),
            );
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let id = Uuid::new_v4();
    let sealed = app.sealer.seal(&input.secret)?;
    let mut tx = app.db.begin().await?;
    let hook = sqlx::query_as!(
        Webhook,
        "INSERT INTO webhooks (id, url, secret_sealed, events) VALUES ($1, $2, $3, $4)
         RETURNING id, url, events, enabled, created_at",
        id,
        url,
        sealed,
        &input.events
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("webhook.created", "webhook", id)
            .after(json!({"url": url, "events": input.events})),
    )
    .await?;
    tx.commit().await?;
    Ok(hook)
}

pub async fn remove_webhook(app: &App, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let url = sqlx::query_scalar!("DELETE FROM webhooks WHERE id = $1 RETURNING url", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("webhook"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("webhook.removed", "webhook", id).before(json!({"url": url})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
