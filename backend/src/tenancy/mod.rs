//! Tenancy: namespaces requested by teams, decided by admins or approval policies, and
//! applied to clusters by durable jobs.
//!
//! Rules live here and in the submodules; REST and server functions only translate.
//! - A member of a team (or an admin) requests for that team; names carry the team prefix.
//! - Admins approve, amend or reject; nobody approves their own request.
//! - Approval policies may approve by themselves; the rule that matched is recorded.
//! - Every state change and its audit row commit together, with the job that carries the
//!   change to the cluster.

pub mod access;
pub mod drift;
pub mod freeze;
pub mod guardrails;
pub mod namespaces;
pub mod objects;
pub mod pinning;
pub mod provision;
pub mod requests;
pub mod settings;
pub mod shared;
pub mod spec;
pub mod webhooks;

use std::collections::BTreeMap;

use berth_frontend::api::{
    Amounts, BudgetImpact, CapacityImpact, Cluster, Environment, NamespaceSpec, PolicyConditions,
    RequestKind,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{auth::Actor, Error, Result};
use spec::Sized;

/// A team the caller acts for.
#[derive(Debug, Clone)]
pub struct TeamRef {
    pub id: Uuid,
    pub name: String,
}

/// The team named `name`, if the caller belongs to it or is an admin.
pub async fn acting_team(conn: &mut PgConnection, actor: &Actor, name: &str) -> Result<TeamRef> {
    let name = name.trim();
    let id = sqlx::query_scalar!("SELECT id FROM teams WHERE name = $1", name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::invalid("team", "no such team"))?;
    if !access::may_see_team(actor, name) {
        return Err(Error::forbidden("you are not a member of this team"));
    }
    Ok(TeamRef {
        id,
        name: name.to_owned(),
    })
}

pub fn is_member(actor: &Actor, team: &str) -> bool {
    actor.teams.iter().any(|t| t.team == team)
}

/// A cluster with the storage classes its inventory found.
pub struct Placement {
    pub cluster: Cluster,
    pub classes: Vec<String>,
}

pub async fn placement(conn: &mut PgConnection, name: &str) -> Result<Placement> {
    let cluster = match crate::fleet::one(&mut *conn, name.trim()).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Err(Error::invalid("cluster", "no such cluster")),
        Err(e) => return Err(e),
    };
    let classes = sqlx::query_scalar!(
        "SELECT name FROM storage_classes WHERE cluster_id = $1 ORDER BY name",
        cluster.id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Placement { cluster, classes })
}

impl Placement {
    /// The extended resources the cluster's nodes advertise, in name order.
    pub fn extended(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = self
            .cluster
            .pools
            .iter()
            .flat_map(|p| p.extended.iter().filter(|e| e.allocatable > 0))
            .map(|e| &e.name)
            .collect();
        names.into_iter().cloned().collect()
    }

    /// Field errors for a pool or storage class this cluster does not have, and for an
    /// extended resource the chosen pool's nodes do not advertise.
    pub fn check(&self, pool: &str, spec: &NamespaceSpec, errors: &mut crate::error::FieldErrors) {
        if self.cluster.disabled {
            errors.insert("cluster".into(), "is disabled".into());
        }
        let chosen = self.cluster.pools.iter().find(|p| p.name == pool);
        if let Some(p) = chosen {
            for (key, value) in &spec.quota.other {
                let Some(resource) = spec::extended_resource(key.trim()) else {
                    continue;
                };
                // Asking for none needs no pool that has them (a malformed value is the
                // spec parser's to name).
                let wanted = berth_kube::quantity::Quantity::parse(value.trim())
                    .is_ok_and(|q| q.units() > 0);
                if !wanted {
                    continue;
                }
                if !p
                    .extended
                    .iter()
                    .any(|e| e.name == resource && e.allocatable > 0)
                {
                    let with: Vec<&str> = self
                        .cluster
                        .pools
                        .iter()
                        .filter(|o| {
                            o.extended
                                .iter()
                                .any(|e| e.name == resource && e.allocatable > 0)
                        })
                        .map(|o| o.name.as_str())
                        .collect();
                    errors.insert(
                        format!("quota.other[{}]", key.trim()),
                        if with.is_empty() {
                            format!("no node of this cluster advertises {resource}")
                        } else {
                            format!(
                                "the nodes of pool {pool} advertise no {resource}; pools that do: {}",
                                with.join(", ")
                            )
                        },
                    );
                }
            }
        }
        if chosen.is_none() {
            let known: Vec<&str> = self.cluster.pools.iter().map(|p| p.name.as_str()).collect();
            errors.insert(
                "node_pool".into(),
                if known.is_empty() {
                    "this cluster has no known node pools (is its inventory synced?)".into()
                } else {
                    format!("is not a pool of this cluster ({})", known.join(", "))
                },
            );
        }
        for (i, c) in spec.storage_classes.iter().enumerate() {
            if !self.classes.iter().any(|k| k == c.name.trim()) {
                errors.insert(
                    format!("storage_classes[{i}].name"),
                    format!("{} is not a storage class of this cluster", c.name.trim()),
                );
            }
        }
    }
}

fn add(a: Amounts, b: Amounts) -> Amounts {
    Amounts {
        cpu_millis: a.cpu_millis + b.cpu_millis,
        memory_bytes: a.memory_bytes + b.memory_bytes,
        storage_bytes: a.storage_bytes + b.storage_bytes,
    }
}

fn sub(a: Amounts, b: Amounts) -> Amounts {
    Amounts {
        cpu_millis: a.cpu_millis - b.cpu_millis,
        memory_bytes: a.memory_bytes - b.memory_bytes,
        storage_bytes: a.storage_bytes - b.storage_bytes,
    }
}

/// What a namespace takes of a pool and a budget: CPU, memory and storage, and its
/// extended resources (`nvidia.com/gpu` → 2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Takes {
    pub amounts: Amounts,
    pub extended: BTreeMap<String, i64>,
}

impl Sized {
    pub fn takes(&self) -> Takes {
        Takes {
            amounts: self.amounts(),
            extended: self.extended(),
        }
    }
}

/// What a change adds to the team's and pool's commitments: the new quota, less the one it
/// replaces (`previous`, for quota changes), moved between pools when the pool changes.
pub struct Change<'a> {
    pub team_id: Uuid,
    pub placement: &'a Placement,
    pub pool: &'a str,
    pub after: Takes,
    /// The namespace's current quota and pool, for changes to an existing namespace.
    pub previous: Option<(Takes, String)>,
}

/// Each team's quotas of extended resources, added up over its live namespaces (on one
/// cluster, or the fleet): `nvidia.com/gpu` → 12.
pub async fn extended_used(
    conn: &mut PgConnection,
    team_id: Uuid,
    cluster_id: Option<Uuid>,
) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query!(
        r#"SELECT substr(e.key, 10) AS "resource!",
                  sum(CASE WHEN e.value ~ '^[0-9]{1,12}$' THEN e.value::bigint ELSE 0 END)::bigint AS "used!"
           FROM namespaces n, jsonb_each_text(coalesce(n.spec->'quota'->'other', '{}')) e
           WHERE n.team_id = $1 AND n.state <> 'decommissioned' AND ($2::uuid IS NULL OR n.cluster_id = $2)
             AND e.key LIKE 'requests.%/%'
           GROUP BY 1"#,
        team_id,
        cluster_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.resource, r.used)).collect())
}

/// Pool committed before/after against allocatable, and the tightest budget before/after,
/// for CPU, memory and storage and for each extended resource.
pub async fn impact(conn: &mut PgConnection, change: &Change<'_>) -> Result<CapacityImpact> {
    let cluster = &change.placement.cluster;
    let pool = cluster.pools.iter().find(|p| p.name == change.pool);
    let allocatable = pool.map_or(Amounts::default(), |p| Amounts {
        cpu_millis: p.allocatable.cpu_millis,
        memory_bytes: p.allocatable.memory_bytes,
        storage_bytes: 0,
    });
    let committed_before = pool.map_or(Amounts::default(), |p| Amounts {
        cpu_millis: p.committed.cpu_millis,
        memory_bytes: p.committed.memory_bytes,
        storage_bytes: 0,
    });
    let after = &change.after;
    let mut committed_after = add(committed_before, after.amounts);
    let mut delta = after.amounts;
    let none = BTreeMap::new();
    let mut before_extended = &none;
    let mut same_pool = false;
    if let Some((prev, prev_pool)) = &change.previous {
        delta = sub(after.amounts, prev.amounts);
        before_extended = &prev.extended;
        if prev_pool == change.pool {
            committed_after = sub(committed_after, prev.amounts);
            same_pool = true;
        }
    }
    committed_after.storage_bytes = 0;
    let delta_extended = |name: &str| {
        after.extended.get(name).copied().unwrap_or(0)
            - before_extended.get(name).copied().unwrap_or(0)
    };
    // The pool's extended resources, and any the request asks for that the pool lacks.
    let mut names: std::collections::BTreeSet<String> = pool
        .into_iter()
        .flat_map(|p| p.extended.iter().map(|e| e.name.clone()))
        .collect();
    names.extend(after.extended.keys().cloned());
    let extended = names
        .into_iter()
        .map(|name| {
            let e = pool.and_then(|p| p.extended.iter().find(|e| e.name == name));
            let before = e.map_or(0, |e| e.committed);
            let moved_in = if same_pool {
                delta_extended(&name)
            } else {
                after.extended.get(&name).copied().unwrap_or(0)
            };
            berth_frontend::api::ExtendedImpact {
                limit: e.map_or(0, |e| e.allocatable),
                before,
                after: before + moved_in,
                name,
            }
        })
        .collect();

    let budgets = sqlx::query!(
        r#"SELECT b.cluster_id, c.name AS "cluster_name?", b.cpu_millis, b.memory_bytes, b.storage_bytes, b.extended,
                  coalesce((SELECT sum(n.quota_cpu_millis) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_cpu!",
                  coalesce((SELECT sum(n.quota_memory_bytes) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_memory!",
                  coalesce((SELECT sum(n.quota_storage_bytes) FROM namespaces n WHERE n.team_id = b.team_id
                              AND n.state <> 'decommissioned' AND (b.cluster_id IS NULL OR n.cluster_id = b.cluster_id)), 0)::bigint AS "used_storage!"
           FROM team_budgets b LEFT JOIN clusters c ON c.id = b.cluster_id
           WHERE b.team_id = $1 AND (b.cluster_id IS NULL OR b.cluster_id = $2)
           ORDER BY b.cluster_id NULLS LAST"#,
        change.team_id,
        cluster.id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tightest: Option<BudgetImpact> = None;
    for b in budgets {
        let limit = Amounts {
            cpu_millis: b.cpu_millis,
            memory_bytes: b.memory_bytes,
            storage_bytes: b.storage_bytes,
        };
        let used_before = Amounts {
            cpu_millis: b.used_cpu,
            memory_bytes: b.used_memory,
            storage_bytes: b.used_storage,
        };
        let used_after = add(used_before, delta);
        let over = |after: i64, limit: i64| (after - limit).max(0);
        let overrun = Amounts {
            cpu_millis: over(used_after.cpu_millis, limit.cpu_millis),
            memory_bytes: over(used_after.memory_bytes, limit.memory_bytes),
            storage_bytes: over(used_after.storage_bytes, limit.storage_bytes),
        };
        let caps: BTreeMap<String, i64> = serde_json::from_value(b.extended).unwrap_or_default();
        let used = if caps.is_empty() {
            BTreeMap::new()
        } else {
            extended_used(&mut *conn, change.team_id, b.cluster_id).await?
        };
        let extended: Vec<berth_frontend::api::ExtendedImpact> = caps
            .into_iter()
            .map(|(name, limit)| {
                let before = used.get(&name).copied().unwrap_or(0);
                berth_frontend::api::ExtendedImpact {
                    limit,
                    before,
                    after: before + delta_extended(&name),
                    name,
                }
            })
            .collect();
        let extended_over = extended
            .iter()
            .any(|e| e.after > e.limit && delta_extended(&e.name) > 0);
        let over_budget = (overrun != Amounts::default() && delta_grows(delta)) || extended_over;
        let candidate = BudgetImpact {
            scope: b.cluster_name.unwrap_or_else(|| "fleet".into()),
            limit,
            used_before,
            used_after,
            over_budget,
            overrun,
            extended,
        };
        let replace = match &tightest {
            None => true,
            Some(t) => !t.over_budget && candidate.over_budget,
        };
        if replace {
            tightest = Some(candidate);
        }
    }
    Ok(CapacityImpact {
        cluster: cluster.name.clone(),
        pool: change.pool.to_owned(),
        allocatable,
        committed_before,
        committed_after,
        budget: tightest,
        extended,
    })
}

/// A change that lowers (or keeps) every resource never counts as over budget.
fn delta_grows(delta: Amounts) -> bool {
    delta.cpu_millis > 0 || delta.memory_bytes > 0 || delta.storage_bytes > 0
}

/// What the approval policies need to know about a request.
pub struct PolicyInput<'a> {
    pub kind: RequestKind,
    pub environment: Environment,
    pub sized: Option<&'a Sized>,
    /// For quota changes: the namespace's current spec.
    pub current: Option<&'a Sized>,
    pub is_burst: bool,
    pub over_budget: bool,
    /// The namespace stays on its node pool (a move is never a decrease).
    pub same_pool: bool,
    /// For quota changes while a usage-aware policy is enabled: the measured use.
    pub usage: Option<&'a berth_frontend::api::UsageEvidence>,
}

/// Whether any enabled policy looks at measured usage (then a quota change reads it).
pub async fn usage_aware_policies(conn: &mut PgConnection) -> Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM approval_policies WHERE enabled AND conditions ? 'min_usage_percent'
                          AND conditions->>'min_usage_percent' IS NOT NULL) AS "any!""#
    )
    .fetch_one(conn)
    .await?)
}

/// The first enabled policy (by position) whose conditions all hold: (name, approves).
/// No match: manual approval.
pub async fn evaluate_policies(
    conn: &mut PgConnection,
    input: &PolicyInput<'_>,
) -> Result<(Option<String>, bool)> {
    let policies = sqlx::query!(
        r#"SELECT name, conditions AS "conditions: sqlx::types::Json<PolicyConditions>", action
           FROM approval_policies WHERE enabled ORDER BY position, name"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let presets = settings::preset_sizes(&mut *conn).await?;
    for p in policies {
        let c = &p.conditions.0;
        if !c.kinds.is_empty() && !c.kinds.iter().any(|k| input.kind == k.as_str()) {
            continue;
        }
        if !c.environments.is_empty()
            && !c
                .environments
                .iter()
                .any(|e| input.environment == e.as_str())
        {
            continue;
        }
        if c.within_budget && input.over_budget {
            continue;
        }
        if let Some(max) = &c.max_preset {
            let fits = match (input.sized, presets.iter().find(|(n, _)| n == max)) {
                (Some(s), Some((_, limit))) => s.within(limit),
                (None, _) => true,
                _ => false,
            };
            if !fits {
                continue;
            }
        }
        if let Some(min) = c.min_usage_percent {
            let busy = input.usage.is_some_and(|u| {
                [u.cpu_percent, u.memory_percent]
                    .into_iter()
                    .flatten()
                    .any(|p| p >= f64::from(min))
            });
            if !busy {
                continue;
            }
        }
        if let Some(steps) = c.max_preset_steps {
            let within = match (input.sized, input.current) {
                (Some(new), Some(old)) => presets
                    .iter()
                    .position(|(_, p)| old.fits_within(p))
                    .and_then(|i| presets.get(i + steps as usize))
                    .is_some_and(|(_, bound)| new.fits_within(bound)),
                _ => false,
            };
            if !within {
                continue;
            }
        }
        if c.decrease_only {
            let decrease = match (input.sized, input.current) {
                (Some(new), Some(old)) => {
                    !input.is_burst && input.same_pool && new.takes_no_more_than(old)
                }
                _ => false,
            };
            if !decrease {
                continue;
            }
        }
        return Ok((Some(p.name), p.action == "approve"));
    }
    Ok((None, false))
}

/// A spec read back from the database (stored by Berth, so it parses).
pub fn stored_sized(spec: &NamespaceSpec) -> Result<Sized> {
    spec::parse(spec).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "a stored namespace spec no longer parses: {e:?}"
        ))
    })
}
