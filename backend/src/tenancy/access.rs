//! Who may see or change a namespace, and who may decide a request: one answer to each,
//! asked by every service (requests, namespaces, drills, capacity). A namespace the caller
//! may not see does not exist for them — 404 for reads and writes alike — so its existence is
//! never given away by a 403.

use berth_frontend::api::{Environment, NamespaceSpec, NamespaceState};
use sqlx::{types::Json, PgConnection};
use uuid::Uuid;

use super::TeamRef;
use crate::{auth::Actor, Error, Result};

/// A team's members and platform admins see the team's namespaces, requests and drills.
pub fn may_see_team(actor: &Actor, team: &str) -> bool {
    actor.is_admin || super::is_member(actor, team)
}

/// A live (not decommissioned) namespace the caller may see and ask changes for.
pub struct NamespaceRef {
    pub id: Uuid,
    pub team: TeamRef,
    pub cluster: String,
    pub cluster_id: Uuid,
    pub name: String,
    pub node_pool: String,
    pub environment: Environment,
    pub state: NamespaceState,
    pub spec: NamespaceSpec,
}

/// The namespace `name` on `cluster`, if the caller may see it; `NotFound` otherwise, whether
/// it does not exist or belongs to another team.
pub async fn namespace(
    conn: &mut PgConnection,
    actor: &Actor,
    cluster: &str,
    name: &str,
) -> Result<NamespaceRef> {
    let row = sqlx::query!(
        r#"SELECT n.id, n.name, n.node_pool, n.environment AS "environment: Environment",
                  n.state AS "state: NamespaceState", n.spec AS "spec: Json<NamespaceSpec>",
                  t.id AS team_id, t.name AS team, c.name AS cluster, c.id AS cluster_id
           FROM namespaces n JOIN teams t ON t.id = n.team_id JOIN clusters c ON c.id = n.cluster_id
           WHERE c.name = $1 AND n.name = $2 AND n.state <> 'decommissioned'"#,
        cluster,
        name
    )
    .fetch_optional(&mut *conn)
    .await?
    .filter(|row| may_see_team(actor, &row.team))
    .ok_or(Error::NotFound("namespace"))?;
    Ok(NamespaceRef {
        id: row.id,
        team: TeamRef {
            id: row.team_id,
            name: row.team,
        },
        cluster: row.cluster,
        cluster_id: row.cluster_id,
        name: row.name,
        node_pool: row.node_pool,
        environment: row.environment,
        state: row.state,
        spec: row.spec.0,
    })
}

/// Whether `actor` may approve, amend or reject a request `requested_by` made: a platform
/// admin who did not ask for it.
pub fn may_decide(actor: &Actor, requested_by: Option<Uuid>) -> bool {
    actor.is_admin && requested_by != Some(actor.user_id)
}

/// [`may_decide`], as the error a refused decision gets.
pub fn decide(actor: &Actor, requested_by: Option<Uuid>) -> Result<()> {
    if !actor.is_admin {
        return Err(Error::forbidden("only platform admins may do this"));
    }
    if !may_decide(actor, requested_by) {
        return Err(Error::forbidden("nobody decides their own request"));
    }
    Ok(())
}
