//! Pool headroom from each node's free allocatable, and the placement advisor that ranks
//! cluster × pool choices for a new namespace. Tenancy depends on this leaf only.

use std::collections::BTreeMap;

use berth_frontend::api::{
    Amounts, ClusterHeadroom, Environment, PlacementOption, PoolHeadroom, Scope, ShapeQuery,
};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::headroom::{self as packing, Free, Shape};
use crate::{
    auth::Ctx,
    error::{Error, FieldErrors, Result},
    fleet::inventory::{amount, cpu_millis},
    App,
};

pub(super) fn parse_shape(q: &ShapeQuery) -> Result<Shape> {
    let mut errors = FieldErrors::new();
    let cpu = q.cpu.as_deref().unwrap_or("500m").trim();
    let memory = q.memory.as_deref().unwrap_or("1Gi").trim();
    let cpu = match cpu_millis(cpu) {
        Some(v) if v > 0 => v,
        _ => {
            errors.insert(
                "cpu".into(),
                "must be a CPU quantity above 0, such as 500m or 2".into(),
            );
            0
        }
    };
    let memory = match amount(memory) {
        Some(v) if v > 0 => v,
        _ => {
            errors.insert(
                "memory".into(),
                "must be a memory quantity above 0, such as 512Mi or 4Gi".into(),
            );
            0
        }
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Shape {
        cpu_millis: cpu,
        memory_bytes: memory,
    })
}

pub(super) struct NodeRow {
    pub(super) pool: String,
    pub(super) cpu: i64,
    pub(super) memory: i64,
    pub(super) free: Free,
    pub(super) schedulable: bool,
}

pub(super) async fn nodes(
    conn: &mut PgConnection,
    cluster_id: Uuid,
) -> Result<(Vec<NodeRow>, Option<OffsetDateTime>)> {
    let rows = sqlx::query!(
        "SELECT pool, ready, unschedulable, cpu_millis, memory_bytes, pods, requested_cpu_millis,
                requested_memory_bytes, running_pods, observed_at
         FROM cluster_nodes WHERE cluster_id = $1 ORDER BY pool, name",
        cluster_id
    )
    .fetch_all(conn)
    .await?;
    let observed = rows.iter().map(|r| r.observed_at).max();
    Ok((
        rows.into_iter()
            .map(|r| NodeRow {
                pool: r.pool,
                cpu: r.cpu_millis,
                memory: r.memory_bytes,
                free: Free {
                    cpu_millis: r.cpu_millis - r.requested_cpu_millis,
                    memory_bytes: r.memory_bytes - r.requested_memory_bytes,
                    pods: r.pods - r.running_pods,
                },
                schedulable: r.ready && !r.unschedulable,
            })
            .collect(),
        observed,
    ))
}

/// Per pool: how many more pods of the shape fit now, and what is stranded.
pub async fn headroom(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    shape: ShapeQuery,
) -> Result<ClusterHeadroom> {
    ctx.require(Scope::Read)?;
    let shape = parse_shape(&shape)?;
    let mut conn = app.db.acquire().await?;
    let id = sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", cluster)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("cluster"))?;
    let (rows, observed_at) = nodes(&mut conn, id).await?;
    let mut pools: BTreeMap<String, Vec<NodeRow>> = BTreeMap::new();
    for r in rows {
        pools.entry(r.pool.clone()).or_default().push(r);
    }
    let pools = pools
        .into_iter()
        .map(|(pool, rows)| {
            let frees: Vec<Free> = rows
                .iter()
                .filter(|r| r.schedulable)
                .map(|r| r.free)
                .collect();
            let p = packing::pack(&frees, shape);
            PoolHeadroom {
                pool,
                nodes: rows.len() as u32,
                allocatable: Amounts {
                    cpu_millis: rows.iter().map(|r| r.cpu).sum(),
                    memory_bytes: rows.iter().map(|r| r.memory).sum(),
                    storage_bytes: 0,
                },
                free: Amounts {
                    cpu_millis: p.free.cpu_millis,
                    memory_bytes: p.free.memory_bytes,
                    storage_bytes: 0,
                },
                fits: p.fits,
                stranded: Amounts {
                    cpu_millis: p.stranded.cpu_millis,
                    memory_bytes: p.stranded.memory_bytes,
                    storage_bytes: 0,
                },
                pods_per_node: p.per_node,
            }
        })
        .collect();
    Ok(ClusterHeadroom {
        cluster: cluster.to_owned(),
        shape_cpu_millis: shape.cpu_millis,
        shape_memory_bytes: shape.memory_bytes,
        observed_at,
        pools,
    })
}

/// Cluster × pool choices for a new namespace of `environment`, ranked by what stays
/// uncommitted after `quota` (the smaller of CPU and memory, as a share of allocatable), with
/// how many pods at the LimitRange's default request fit on the nodes now. A quota that asks
/// for extended resources (`nvidia.com/gpu` → 2) is offered only pools whose nodes advertise
/// each of them.
pub async fn placement_options(
    conn: &mut PgConnection,
    environment: Option<Environment>,
    quota: Amounts,
    extended: &BTreeMap<String, i64>,
    default_pod: Shape,
) -> Result<Vec<PlacementOption>> {
    let clusters = crate::fleet::load_all(&mut *conn).await?;
    let mut out = Vec::new();
    for c in clusters
        .iter()
        .filter(|c| !c.disabled && environment.is_none_or(|e| c.environment == e))
    {
        let (rows, _) = nodes(&mut *conn, c.id).await?;
        for p in &c.pools {
            let (alloc_cpu, alloc_mem) = (p.allocatable.cpu_millis, p.allocatable.memory_bytes);
            if alloc_cpu <= 0 || alloc_mem <= 0 {
                continue;
            }
            // Per extended resource asked for: what would be left of the pool's.
            let extended_left: Option<Vec<(&str, i64)>> = extended
                .iter()
                .map(|(name, wanted)| {
                    p.extended
                        .iter()
                        .find(|e| &e.name == name && e.allocatable > 0)
                        .map(|e| (name.as_str(), e.allocatable - e.committed - wanted))
                })
                .collect();
            let Some(extended_left) = extended_left else {
                continue;
            };
            let short: Vec<String> = extended_left
                .iter()
                .filter(|(_, left)| *left < 0)
                .map(|(name, left)| format!("{name} by {}", -left))
                .collect();
            let cpu_left = alloc_cpu - p.committed.cpu_millis - quota.cpu_millis;
            let memory_left = alloc_mem - p.committed.memory_bytes - quota.memory_bytes;
            let share =
                (cpu_left as f64 / alloc_cpu as f64).min(memory_left as f64 / alloc_mem as f64);
            let frees: Vec<Free> = rows
                .iter()
                .filter(|r| r.pool == p.name && r.schedulable)
                .map(|r| r.free)
                .collect();
            let fits = cpu_left >= 0 && memory_left >= 0 && short.is_empty();
            let tainted = !p.taints.is_empty() && extended.is_empty();
            out.push(PlacementOption {
                cluster: c.name.clone(),
                pool: p.name.clone(),
                environment: c.environment,
                headroom_after: share,
                cpu_left_millis: cpu_left,
                memory_left_bytes: memory_left,
                default_pods_fit: packing::pack(&frees, default_pod).fits,
                fits,
                reason: if !short.is_empty() {
                    Some(format!(
                        "the quota would overcommit this pool's {}",
                        short.join(", ")
                    ))
                } else if !fits {
                    Some("the quota would overcommit this pool".into())
                } else if tainted {
                    Some("tainted pool: only for workloads that tolerate its taints".into())
                } else {
                    None
                },
            });
        }
    }
    out.sort_by(|a, b| {
        (b.fits, b.reason.is_none())
            .cmp(&(a.fits, a.reason.is_none()))
            .then(b.headroom_after.total_cmp(&a.headroom_after))
    });
    out.truncate(8);
    Ok(out)
}
