//! What a team's namespaces cost: prices per hour set by admins for a pool (or the fleet's
//! default), times what each namespace's quota commits, what its pods request and what they
//! would request after right-sizing — per namespace and per month, with a CSV export.
//!
//! Committed is what the platform must hold for the namespace (its quota's requests, and its
//! GPUs); requested and recommended come from the same Prometheus reading as the right-sizing
//! page, so a namespace whose Prometheus fails still shows its committed cost and says why.

use std::collections::BTreeMap;

use berth_frontend::api::{
    CapacityType, CostReport, CostTotals, InstancePrice, InstancePriceInput, InstancePriceKey,
    NamespaceCost, Price, PriceInput, PriceScope, RecommendationQuery, Scope,
};
use serde_json::json;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit,
    auth::Ctx,
    error::{Error, FieldErrors, Result},
    App,
};

/// A year's hours ÷ 12, as cloud providers price a month.
pub const HOURS_PER_MONTH: f64 = 730.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MAX_PRICE: f64 = 1_000_000.0;

fn amount(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<f64> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_PRICE).contains(&v) => Some(v),
        _ => {
            errors.insert(
                field.to_owned(),
                format!("must be a price per hour from 0 to {MAX_PRICE}, such as 0.0316"),
            );
            None
        }
    }
}

struct Row {
    cluster: Option<String>,
    pool: Option<String>,
    cpu_core_hour: f64,
    memory_gib_hour: f64,
    extended_hour: serde_json::Value,
    updated_at: OffsetDateTime,
}

impl Row {
    fn price(self) -> Price {
        Price {
            cluster: self.cluster,
            pool: self.pool,
            cpu_core_hour: self.cpu_core_hour,
            memory_gib_hour: self.memory_gib_hour,
            extended_hour: serde_json::from_value(self.extended_hour).unwrap_or_default(),
            updated_at: self.updated_at,
        }
    }
}

async fn load(conn: &mut PgConnection) -> Result<Vec<Price>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT c.name AS "cluster?", p.pool, p.cpu_core_hour, p.memory_gib_hour, p.extended_hour, p.updated_at
           FROM prices p LEFT JOIN clusters c ON c.id = p.cluster_id
           ORDER BY c.name NULLS FIRST, p.pool NULLS FIRST"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Row::price).collect())
}

/// Every price: the default first, then per cluster and pool. Anyone signed in may read them.
pub async fn prices(app: &App, ctx: &Ctx) -> Result<Vec<Price>> {
    ctx.require(Scope::Read)?;
    load(&mut *app.db.acquire().await?).await
}

/// The cluster and pool a price is for (None: the default), checked against the inventory.
async fn scope(
    conn: &mut PgConnection,
    errors: &mut FieldErrors,
    cluster: &Option<String>,
    pool: &Option<String>,
) -> Result<Option<(Uuid, String)>> {
    let trim = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (trim(cluster), trim(pool)) {
        (None, None) => Ok(None),
        (Some(_), None) => {
            errors.insert(
                "pool".into(),
                "is required with a cluster (leave both out for the default)".into(),
            );
            Ok(None)
        }
        (None, Some(_)) => {
            errors.insert(
                "cluster".into(),
                "is required with a pool (leave both out for the default)".into(),
            );
            Ok(None)
        }
        (Some(cluster), Some(pool)) => {
            let Some(id) = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster)
                .fetch_optional(&mut *conn)
                .await?
            else {
                errors.insert("cluster".into(), "no such cluster".into());
                return Ok(None);
            };
            let pools = sqlx::query_scalar!(
                "SELECT name FROM node_pools WHERE cluster_id = $1 ORDER BY name",
                id
            )
            .fetch_all(&mut *conn)
            .await?;
            if !pools.contains(&pool) {
                errors.insert(
                    "pool".into(),
                    format!("is not a pool of {cluster} ({})", pools.join(", ")),
                );
                return Ok(None);
            }
            Ok(Some((id, pool)))
        }
    }
}

/// Sets the default price or a pool's (admins); audited as `price.set`.
pub async fn set_price(app: &App, ctx: &Ctx, input: PriceInput) -> Result<Price> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let cpu = amount(&mut errors, "cpu_core_hour", &input.cpu_core_hour);
    let memory = amount(&mut errors, "memory_gib_hour", &input.memory_gib_hour);
    let mut extended = BTreeMap::new();
    for (name, raw) in &input.extended_hour {
        let name = name.trim();
        let field = format!("extended_hour[{name}]");
        if !berth_kube::resources::is_extended(name) {
            errors.insert(
                field,
                "must be an extended resource a node advertises, such as nvidia.com/gpu".into(),
            );
        } else if let Some(v) = amount(&mut errors, &field, raw) {
            extended.insert(name.to_owned(), v);
        }
    }
    let mut tx = app.db.begin().await?;
    let scope = scope(&mut tx, &mut errors, &input.cluster, &input.pool).await?;
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let (cluster_id, pool) = scope.clone().unzip();
    let before = sqlx::query!(
        "SELECT cpu_core_hour, memory_gib_hour, extended_hour FROM prices
         WHERE cluster_id IS NOT DISTINCT FROM $1 AND pool IS NOT DISTINCT FROM $2 FOR UPDATE",
        cluster_id,
        pool
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|b| json!({"cpu_core_hour": b.cpu_core_hour, "memory_gib_hour": b.memory_gib_hour, "extended_hour": b.extended_hour}));
    let after = json!({"cpu_core_hour": cpu, "memory_gib_hour": memory, "extended_hour": extended});
    sqlx::query!(
        "INSERT INTO prices (id, cluster_id, pool, cpu_core_hour, memory_gib_hour, extended_hour)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (coalesce(cluster_id, '00000000-0000-0000-0000-000000000000'), coalesce(pool, ''))
         DO UPDATE SET cpu_core_hour = $4, memory_gib_hour = $5, extended_hour = $6, updated_at = now()",
        Uuid::new_v4(),
        cluster_id,
        pool,
        cpu,
        memory,
        json!(extended)
    )
    .execute(&mut *tx)
    .await?;
    let cluster = scope
        .as_ref()
        .and(input.cluster.as_deref().map(|c| c.trim().to_owned()));
    let mut entry = audit::Entry::new("price.set", "price", target(&cluster, &pool)).after(after);
    if let Some(before) = before {
        entry = entry.before(before);
    }
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    load(&mut *app.db.acquire().await?)
        .await?
        .into_iter()
        .find(|p| p.cluster == cluster && p.pool == pool)
        .ok_or(Error::NotFound("price"))
}

/// `default`, or `<cluster>/<pool>`: what the audit trail names.
fn target(cluster: &Option<String>, pool: &Option<String>) -> String {
    match (cluster, pool) {
        (Some(c), Some(p)) => format!("{}/{}", c.trim(), p.trim()),
        _ => "default".into(),
    }
}

/// Removes the default price or a pool's (admins); audited as `price.removed`.
pub async fn remove_price(app: &App, ctx: &Ctx, which: PriceScope) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let mut tx = app.db.begin().await?;
    let scope = scope(&mut tx, &mut errors, &which.cluster, &which.pool).await?;
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let (cluster_id, pool) = scope.unzip();
    let removed = sqlx::query!(
        "DELETE FROM prices WHERE cluster_id IS NOT DISTINCT FROM $1 AND pool IS NOT DISTINCT FROM $2
         RETURNING cpu_core_hour, memory_gib_hour, extended_hour",
        cluster_id,
        pool
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("price"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("price.removed", "price", target(&which.cluster, &pool)).before(
            json!({"cpu_core_hour": removed.cpu_core_hour, "memory_gib_hour": removed.memory_gib_hour,
                   "extended_hour": removed.extended_hour}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- Prices per instance type --------------------------------------------------------------

/// OpenCost's default prices per core-hour and GiB-hour, used only as the ratio in which an
/// instance's hourly price is split between its cores and its memory (as OpenCost splits a
/// node's price when it knows only the node's).
const CPU_WEIGHT: f64 = 0.031611;
const MEMORY_WEIGHT: f64 = 0.004237;

/// An instance's hourly price as a price per core-hour and per GiB-hour of a node with
/// `cores` and `gib`: the two add up to the instance's price again.
pub fn split(hour_price: f64, cores: f64, gib: f64) -> Option<(f64, f64)> {
    let weight = cores * CPU_WEIGHT + gib * MEMORY_WEIGHT;
    (cores > 0.0 && gib > 0.0).then(|| {
        (
            hour_price * CPU_WEIGHT / weight,
            hour_price * MEMORY_WEIGHT / weight,
        )
    })
}

/// Spot or on-demand, from the labels every node of a pool carries: EKS managed node groups,
/// Karpenter, GKE, AKS, and the `lifecycle` label of kops and self-managed groups.
pub fn capacity_type(labels: &BTreeMap<String, String>) -> CapacityType {
    const SPOT: [(&str, &[&str]); 7] = [
        ("eks.amazonaws.com/capacityType", &["spot"]),
        ("karpenter.sh/capacity-type", &["spot"]),
        ("cloud.google.com/gke-spot", &["true"]),
        ("cloud.google.com/gke-preemptible", &["true"]),
        ("kubernetes.azure.com/scalesetpriority", &["spot"]),
        ("node.kubernetes.io/lifecycle", &["spot"]),
        ("lifecycle", &["spot", "ec2spot"]),
    ];
    let spot = SPOT.iter().any(|(key, values)| {
        labels
            .get(*key)
            .is_some_and(|v| values.contains(&v.to_ascii_lowercase().as_str()))
    });
    if spot {
        CapacityType::Spot
    } else {
        CapacityType::OnDemand
    }
}

/// A node pool as instance pricing sees it.
pub struct PoolFacts {
    pub region: String,
    pub instance_types: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub node_count: i32,
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

/// The pool's price per core-hour and GiB-hour from its nodes' instance type, and how it was
/// found; None when the pool mixes instance types or no price is listed for its type.
pub fn instance_price(pool: &PoolFacts, list: &[InstancePrice]) -> Option<(f64, f64, String)> {
    let [instance] = pool.instance_types.as_slice() else {
        return None;
    };
    if pool.node_count <= 0 {
        return None;
    }
    let capacity = capacity_type(&pool.labels);
    let matching = |region: Option<&str>| {
        list.iter().find(|p| {
            &p.instance_type == instance && p.capacity == capacity && p.region.as_deref() == region
        })
    };
    let found = matching(Some(&pool.region)).or_else(|| matching(None))?;
    let nodes = f64::from(pool.node_count);
    let cores = pool.cpu_millis as f64 / 1000.0 / nodes;
    let gib = pool.memory_bytes as f64 / GIB / nodes;
    let (core_hour, gib_hour) = split(found.hour_price, cores, gib)?;
    let note = format!(
        "{instance} ({}{}) at {}/h for {cores:.2} cores and {gib:.1} GiB allocatable per node: {core_hour:.4} per core-hour, {gib_hour:.4} per GiB-hour",
        capacity.as_str().replace('_', "-"),
        found.region.as_ref().map(|r| format!(", {r}")).unwrap_or_default(),
        found.hour_price,
    );
    Some((core_hour, gib_hour, note))
}

async fn load_instance_prices(conn: &mut PgConnection) -> Result<Vec<InstancePrice>> {
    Ok(sqlx::query!(
        r#"SELECT instance_type, capacity AS "capacity: CapacityType", region, hour_price, updated_at
           FROM instance_prices ORDER BY instance_type, capacity, region NULLS FIRST"#
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| InstancePrice {
        instance_type: r.instance_type,
        capacity: r.capacity,
        region: r.region,
        hour_price: r.hour_price,
        updated_at: r.updated_at,
    })
    .collect())
}

/// Every instance type's price. Anyone signed in may read them.
pub async fn instance_prices(app: &App, ctx: &Ctx) -> Result<Vec<InstancePrice>> {
    ctx.require(Scope::Read)?;
    load_instance_prices(&mut *app.db.acquire().await?).await
}

/// A label value (instance types and regions are): 1–63 letters, digits, `-`, `_`, `.`,
/// beginning and ending with a letter or digit.
fn label_value(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<String> {
    let v = raw.trim();
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = !v.is_empty()
        && v.len() <= 63
        && edge(v.chars().next())
        && edge(v.chars().last())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Some(v.to_owned())
    } else {
        errors.insert(
            field.into(),
            "must be a node label value such as m6i.2xlarge (1–63 letters, digits, -, _ or .)"
                .into(),
        );
        None
    }
}

/// The instance type, capacity and region a key names, checked.
fn instance_key(
    errors: &mut FieldErrors,
    instance_type: &str,
    capacity: Option<&str>,
    region: Option<&str>,
) -> Option<(String, CapacityType, Option<String>)> {
    let instance = label_value(errors, "instance_type", instance_type);
    let capacity = match capacity.map(str::trim).filter(|c| !c.is_empty()) {
        None => Some(CapacityType::OnDemand),
        Some(raw) => {
            crate::fields::collect(errors, crate::fields::word::<CapacityType>("capacity", raw))
        }
    };
    let region = match region.map(str::trim).filter(|r| !r.is_empty()) {
        None => Some(None),
        Some(raw) => label_value(errors, "region", raw).map(Some),
    };
    Some((instance?, capacity?, region?))
}

fn instance_target(instance: &str, capacity: CapacityType, region: &Option<String>) -> String {
    match region {
        Some(r) => format!("{instance}/{}/{r}", capacity.as_str()),
        None => format!("{instance}/{}", capacity.as_str()),
    }
}

/// Sets an instance type's price (admins); audited as `instance_price.set`.
pub async fn set_instance_price(
    app: &App,
    ctx: &Ctx,
    input: InstancePriceInput,
) -> Result<InstancePrice> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let key = instance_key(
        &mut errors,
        &input.instance_type,
        input.capacity.as_deref(),
        input.region.as_deref(),
    );
    let hour = amount(&mut errors, "hour_price", &input.hour_price);
    let (Some((instance, capacity, region)), Some(hour), true) = (key, hour, errors.is_empty())
    else {
        return Err(Error::Invalid(errors));
    };
    let mut tx = app.db.begin().await?;
    let before = sqlx::query_scalar!(
        "SELECT hour_price FROM instance_prices
         WHERE instance_type = $1 AND capacity = $2 AND region IS NOT DISTINCT FROM $3 FOR UPDATE",
        instance,
        capacity.as_str(),
        region
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO instance_prices (id, instance_type, capacity, region, hour_price)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (instance_type, capacity, coalesce(region, ''))
         DO UPDATE SET hour_price = $5, updated_at = now()",
        Uuid::new_v4(),
        instance,
        capacity.as_str(),
        region,
        hour
    )
    .execute(&mut *tx)
    .await?;
    let mut entry = audit::Entry::new(
        "instance_price.set",
        "instance_price",
        instance_target(&instance, capacity, &region),
    )
    .after(json!({"hour_price": hour}));
    if let Some(before) = before {
        entry = entry.before(json!({"hour_price": before}));
    }
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    load_instance_prices(&mut *app.db.acquire().await?)
        .await?
        .into_iter()
        .find(|p| p.instance_type == instance && p.capacity == capacity && p.region == region)
        .ok_or(Error::NotFound("instance price"))
}

/// Removes an instance type's price (admins); audited as `instance_price.removed`.
pub async fn remove_instance_price(app: &App, ctx: &Ctx, key: InstancePriceKey) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let Some((instance, capacity, region)) = instance_key(
        &mut errors,
        &key.instance_type,
        key.capacity.as_deref(),
        key.region.as_deref(),
    )
    .filter(|_| errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let mut tx = app.db.begin().await?;
    let removed = sqlx::query_scalar!(
        "DELETE FROM instance_prices
         WHERE instance_type = $1 AND capacity = $2 AND region IS NOT DISTINCT FROM $3
         RETURNING hour_price",
        instance,
        capacity.as_str(),
        region
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("instance price"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new(
            "instance_price.removed",
            "instance_price",
            instance_target(&instance, capacity, &region),
        )
        .before(json!({"hour_price": removed})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Per month at `price`: cores and GiB, and extended resources by name.
fn monthly(price: &Price, cores: f64, gib: f64, extended: &BTreeMap<String, i64>) -> f64 {
    let gpus: f64 = extended
        .iter()
        .map(|(name, n)| *n as f64 * price.extended_hour.get(name).copied().unwrap_or(0.0))
        .sum();
    (cores * price.cpu_core_hour + gib * price.memory_gib_hour + gpus) * HOURS_PER_MONTH
}

/// The team's cost per namespace and in all, per month (team members and admins).
pub async fn report(
    app: &App,
    ctx: &Ctx,
    team: &str,
    query: RecommendationQuery,
) -> Result<CostReport> {
    let actor = ctx.require(Scope::Read)?;
    let team = team.trim();
    if !crate::tenancy::access::may_see_team(actor, team) {
        return Err(Error::NotFound("team"));
    }
    let mut conn = app.db.acquire().await?;
    if sqlx::query_scalar!("SELECT id FROM teams WHERE name = $1", team)
        .fetch_optional(&mut *conn)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("team"));
    }
    let rows = sqlx::query!(
        r#"SELECT c.name AS cluster, n.name, n.node_pool, n.quota_cpu_millis, n.quota_memory_bytes,
                  n.spec AS "spec: sqlx::types::Json<berth_frontend::api::NamespaceSpec>"
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           WHERE t.name = $1 AND n.state NOT IN ('decommissioned', 'decommissioning')
           ORDER BY c.name, n.name"#,
        team
    )
    .fetch_all(&mut *conn)
    .await?;
    let prices = load(&mut conn).await?;
    let instance_prices = load_instance_prices(&mut conn).await?;
    let pools: BTreeMap<(String, String), PoolFacts> = sqlx::query!(
        r#"SELECT c.name AS cluster, c.region, p.name, p.instance_types, p.common_labels,
                  p.node_count, p.cpu_millis, p.memory_bytes
           FROM node_pools p JOIN clusters c ON c.id = p.cluster_id"#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|p| {
        (
            (p.cluster, p.name),
            PoolFacts {
                region: p.region,
                instance_types: p.instance_types,
                labels: serde_json::from_value(p.common_labels).unwrap_or_default(),
                node_count: p.node_count,
                cpu_millis: p.cpu_millis,
                memory_bytes: p.memory_bytes,
            },
        )
    })
    .collect();
    drop(conn);
    let sizing = crate::capacity::team_sizing(app, ctx, team, query.clone()).await?;
    let default = prices.iter().find(|p| p.cluster.is_none());
    let mut totals = CostTotals::default();
    let namespaces = rows
        .into_iter()
        .map(|r| {
            let own = prices.iter().find(|p| {
                p.cluster.as_deref() == Some(&r.cluster) && p.pool.as_deref() == Some(&r.node_pool)
            });
            // A pool's own price, else its instance type's (with the default's prices of
            // extended resources), else the default.
            let by_instance = pools
                .get(&(r.cluster.clone(), r.node_pool.clone()))
                .and_then(|pool| instance_price(pool, &instance_prices))
                .map(|(core, gib, note)| {
                    let price = Price {
                        cluster: Some(r.cluster.clone()),
                        pool: Some(r.node_pool.clone()),
                        cpu_core_hour: core,
                        memory_gib_hour: gib,
                        extended_hour: default.map(|d| d.extended_hour.clone()).unwrap_or_default(),
                        updated_at: OffsetDateTime::now_utc(),
                    };
                    (price, note)
                });
            let (price, price_from, price_note) = match (own, &by_instance, default) {
                (Some(p), ..) => (Some(p), Some("pool".to_owned()), None),
                (None, Some((p, note)), _) => {
                    (Some(p), Some("instance".to_owned()), Some(note.clone()))
                }
                (None, None, Some(d)) => (Some(d), Some("default".to_owned()), None),
                (None, None, None) => (None, None, None),
            };
            let sized = crate::tenancy::spec::parse(&r.spec.0).ok();
            let committed_extended = sized.map(|s| s.extended()).unwrap_or_default();
            let s = sizing
                .namespaces
                .iter()
                .find(|s| s.cluster == r.cluster && s.namespace == r.name);
            let t = s.map(|s| s.totals).unwrap_or_default();
            let committed_cpu = r.quota_cpu_millis as f64 / 1000.0;
            let committed_memory = r.quota_memory_bytes as f64 / GIB;
            let none = BTreeMap::new();
            let cost = |cores: f64, gib: f64, extended: &BTreeMap<String, i64>| {
                price.map(|p| monthly(p, cores, gib, extended))
            };
            let committed_cost = cost(committed_cpu, committed_memory, &committed_extended);
            let requested_cost = cost(t.current_cpu_cores, t.current_memory_gib, &none);
            let recommended_cost = cost(t.recommended_cpu_cores, t.recommended_memory_gib, &none);
            let savings = requested_cost
                .zip(recommended_cost)
                .map(|(a, b)| (a - b).max(0.0));
            match committed_cost {
                Some(c) => {
                    totals.committed_cost += c;
                    totals.requested_cost += requested_cost.unwrap_or(0.0);
                    totals.recommended_cost += recommended_cost.unwrap_or(0.0);
                    totals.savings += savings.unwrap_or(0.0);
                }
                None => totals.unpriced += 1,
            }
            NamespaceCost {
                cluster: r.cluster,
                namespace: r.name,
                pool: r.node_pool,
                price_from,
                cpu_core_hour: price.map(|p| p.cpu_core_hour),
                memory_gib_hour: price.map(|p| p.memory_gib_hour),
                price_note,
                committed_cpu_cores: committed_cpu,
                committed_memory_gib: committed_memory,
                committed_extended,
                requested_cpu_cores: t.current_cpu_cores,
                requested_memory_gib: t.current_memory_gib,
                recommended_cpu_cores: t.recommended_cpu_cores,
                recommended_memory_gib: t.recommended_memory_gib,
                committed_cost,
                requested_cost,
                recommended_cost,
                savings,
                error: s.and_then(|s| s.error.clone()),
            }
        })
        .collect();
    Ok(CostReport {
        team: team.to_owned(),
        currency: app.config.cost_currency.clone(),
        hours_per_month: HOURS_PER_MONTH,
        strategy: sizing.strategy,
        generated_at: OffsetDateTime::now_utc(),
        namespaces,
        totals,
    })
}

/// The report as CSV: one row per namespace, costs per month with two decimals (empty where
/// no price applies), then a total row.
pub fn to_csv(report: &CostReport) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Internal(e.into());
    w.write_record([
        "cluster",
        "namespace",
        "pool",
        "price_from",
        "committed_cpu_cores",
        "committed_memory_gib",
        "committed_extended",
        "requested_cpu_cores",
        "requested_memory_gib",
        "recommended_cpu_cores",
        "recommended_memory_gib",
        &format!("committed_{}_per_month", report.currency),
        &format!("requested_{}_per_month", report.currency),
        &format!("recommended_{}_per_month", report.currency),
        &format!("savings_{}_per_month", report.currency),
        "error",
    ])
    .map_err(fail)?;
    let money = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_default();
    for n in &report.namespaces {
        let extended = n
            .committed_extended
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        w.write_record([
            n.cluster.clone(),
            n.namespace.clone(),
            n.pool.clone(),
            n.price_from.clone().unwrap_or_else(|| "none".into()),
            format!("{:.3}", n.committed_cpu_cores),
            format!("{:.3}", n.committed_memory_gib),
            extended,
            format!("{:.3}", n.requested_cpu_cores),
            format!("{:.3}", n.requested_memory_gib),
            format!("{:.3}", n.recommended_cpu_cores),
            format!("{:.3}", n.recommended_memory_gib),
            money(n.committed_cost),
            money(n.requested_cost),
            money(n.recommended_cost),
            money(n.savings),
            n.error.clone().unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    let t = &report.totals;
    w.write_record([
        "total".to_owned(),
        String::new(),
        String::new(),
        format!("{} unpriced", t.unpriced),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("{:.2}", t.committed_cost),
        format!("{:.2}", t.requested_cost),
        format!("{:.2}", t.recommended_cost),
        format!("{:.2}", t.savings),
        String::new(),
    ])
    .map_err(fail)?;
    String::from_utf8(
        w.into_inner()
            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?,
    )
    .map_err(|e| Error::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_730_hours_of_cores_gib_and_gpus() {
        let price = Price {
            cluster: None,
            pool: None,
            cpu_core_hour: 0.04,
            memory_gib_hour: 0.005,
            extended_hour: [("nvidia.com/gpu".to_owned(), 2.5)].into(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        let gpus = BTreeMap::from([("nvidia.com/gpu".to_owned(), 2)]);
        let v = monthly(&price, 4.0, 16.0, &gpus);
        assert!((v - (0.16 + 0.08 + 5.0) * 730.0).abs() < 1e-9, "{v}");
        assert!((monthly(&price, 0.0, 0.0, &BTreeMap::new())).abs() < 1e-12);
    }

    fn listed(
        instance: &str,
        capacity: CapacityType,
        region: Option<&str>,
        hour: f64,
    ) -> InstancePrice {
        InstancePrice {
            instance_type: instance.into(),
            capacity,
            region: region.map(Into::into),
            hour_price: hour,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_instance_price_splits_into_cores_and_memory_that_add_up_to_it() {
        let (core, gib) = split(0.384, 8.0, 32.0).unwrap();
        assert!((8.0 * core + 32.0 * gib - 0.384).abs() < 1e-12);
        // In OpenCost's ratio: a core costs as much as 7.46 GiB.
        assert!((core / gib - CPU_WEIGHT / MEMORY_WEIGHT).abs() < 1e-9);
        assert_eq!(split(1.0, 0.0, 4.0), None);
    }

    #[test]
    fn spot_is_read_from_each_providers_labels() {
        let labels = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        for (k, v) in [
            ("eks.amazonaws.com/capacityType", "SPOT"),
            ("karpenter.sh/capacity-type", "spot"),
            ("cloud.google.com/gke-spot", "true"),
            ("cloud.google.com/gke-preemptible", "true"),
            ("kubernetes.azure.com/scalesetpriority", "spot"),
            ("lifecycle", "Ec2Spot"),
        ] {
            assert_eq!(capacity_type(&labels(k, v)), CapacityType::Spot, "{k}={v}");
        }
        assert_eq!(
            capacity_type(&labels("eks.amazonaws.com/capacityType", "ON_DEMAND")),
            CapacityType::OnDemand
        );
        assert_eq!(capacity_type(&BTreeMap::new()), CapacityType::OnDemand);
    }

    #[test]
    fn a_pool_is_priced_by_its_instance_type_capacity_and_region() {
        let pool = |types: &[&str], spot: bool| PoolFacts {
            region: "cn-east-2".into(),
            instance_types: types.iter().map(|t| t.to_string()).collect(),
            labels: if spot {
                BTreeMap::from([("eks.amazonaws.com/capacityType".into(), "SPOT".into())])
            } else {
                BTreeMap::new()
            },
            node_count: 2,
            cpu_millis: 16_000,
            memory_bytes: 64 * 1024 * 1024 * 1024,
        };
        let list = vec![
            listed("m6i.2xlarge", CapacityType::OnDemand, None, 0.384),
            listed(
                "m6i.2xlarge",
                CapacityType::OnDemand,
                Some("cn-east-2"),
                0.5,
            ),
            listed("m6i.2xlarge", CapacityType::Spot, None, 0.12),
        ];
        // The region's own row wins; per node: 8 cores, 32 GiB.
        let (core, gib, note) = instance_price(&pool(&["m6i.2xlarge"], false), &list).unwrap();
        assert!((8.0 * core + 32.0 * gib - 0.5).abs() < 1e-12);
        assert!(
            note.starts_with("m6i.2xlarge (on-demand, cn-east-2) at 0.5/h"),
            "{note}"
        );
        let (core, gib, _) = instance_price(&pool(&["m6i.2xlarge"], true), &list).unwrap();
        assert!((8.0 * core + 32.0 * gib - 0.12).abs() < 1e-12);
        // Mixed instance types, or a type without a price: no instance price.
        assert!(instance_price(&pool(&["m6i.2xlarge", "c6i.4xlarge"], false), &list).is_none());
        assert!(instance_price(&pool(&["c6i.4xlarge"], false), &list).is_none());
    }
}
