//! Teams and their members. A team's name is the prefix of every namespace it requests.
//!
//! Rules: admins create teams; owners (and admins) change membership; a team that has an
//! owner always keeps at least one; members see their teams, admins see all.

use berth_frontend::api::{Member, NewMember, NewTeam, Scope, Team, TeamDetail, TeamRole};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::{Actor, Ctx},
    error::FieldErrors,
    fields::collect,
    people::{DisplayName, Email},
    App, Error, Result,
};

/// A DNS label of 2–30 characters that cannot collide with system namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let name = raw.trim();
        let valid_chars = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let problem = if !(2..=30).contains(&name.len()) {
            Some("must be 2–30 characters")
        } else if !valid_chars {
            Some("may contain only lower-case letters, digits and '-'")
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            Some("must start with a letter")
        } else if name.ends_with('-') {
            Some("must not end with '-'")
        } else if ["default", "kube", "openshift"]
            .iter()
            .any(|r| name == *r || name.starts_with(&format!("{r}-")))
        {
            Some("is reserved for system namespaces")
        } else {
            None
        };
        match problem {
            Some(message) => Err(Error::invalid(field, message)),
            None => Ok(TeamName(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn role(raw: &str) -> TeamRole {
    if raw == "owner" {
        TeamRole::Owner
    } else {
        TeamRole::Member
    }
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<Team>> {
    let actor = ctx.require(Scope::Read)?;
    let rows = sqlx::query!(
        r#"SELECT t.id, t.name, t.display_name, t.created_at,
                  (SELECT count(*) FROM team_members c WHERE c.team_id = t.id) AS "member_count!",
                  m.role AS "my_role?"
           FROM teams t LEFT JOIN team_members m ON m.team_id = t.id AND m.user_id = $1
           WHERE $2 OR m.user_id IS NOT NULL
           ORDER BY t.name"#,
        actor.user_id,
        actor.is_admin
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Team {
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            created_at: r.created_at,
            member_count: r.member_count,
            my_role: r.my_role.as_deref().map(role),
        })
        .collect())
}

/// The team as `actor` may see it, or 404 / 403.
async fn visible_team(app: &App, actor: &Actor, name: &str) -> Result<Team> {
    let row = sqlx::query!(
        r#"SELECT t.id, t.name, t.display_name, t.created_at,
                  (SELECT count(*) FROM team_members c WHERE c.team_id = t.id) AS "member_count!",
                  m.role AS "my_role?"
           FROM teams t LEFT JOIN team_members m ON m.team_id = t.id AND m.user_id = $2
           WHERE t.name = $1"#,
        name,
        actor.user_id
    )
    .fetch_optional(&app.db)
    .await?
    .ok_or(Error::NotFound("team"))?;
    if row.my_role.is_none() && !actor.is_admin {
        return Err(Error::forbidden("you are not a member of this team"));
    }
    Ok(Team {
        id: row.id,
        name: row.name,
        display_name: row.display_name,
        created_at: row.created_at,
        member_count: row.member_count,
        my_role: row.my_role.as_deref().map(role),
    })
}

pub async fn get(app: &App, ctx: &Ctx, name: &str) -> Result<TeamDetail> {
    let actor = ctx.require(Scope::Read)?;
    let team = visible_team(app, actor, name).await?;
    let members = sqlx::query!(
        "SELECT u.id, u.email, u.display_name, m.role, m.added_at
         FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 ORDER BY m.role DESC, u.email",
        team.id
    )
    .fetch_all(&app.db)
    .await?
    .into_iter()
    .map(|r| Member {
        user_id: r.id,
        email: r.email,
        display_name: r.display_name,
        role: role(&r.role),
        added_at: r.added_at,
    })
    .collect();
    let can_manage = actor.is_admin || team.my_role == Some(TeamRole::Owner);
    Ok(TeamDetail {
        team,
        members,
        can_manage,
    })
}

pub async fn create(app: &App, ctx: &Ctx, input: NewTeam) -> Result<Team> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let name = collect(&mut errors, TeamName::parse("name", &input.name));
    let display = collect(
        &mut errors,
        DisplayName::parse("display_name", &input.display_name),
    );
    let owner_email = match input
        .owner_email
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => collect(&mut errors, Email::parse("owner_email", raw)).map(Some),
        None => Some(None),
    };
    let (Some(name), Some(display), Some(owner_email)) = (name, display, owner_email) else {
        return Err(Error::Invalid(errors));
    };
    let owner = match &owner_email {
        Some(email) => Some(crate::people::id_by_email(app, "owner_email", email).await?),
        None => None,
    };
    let id = Uuid::new_v4();
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO teams (id, name, display_name) VALUES ($1, $2, $3)",
        id,
        name.as_str(),
        display.as_str()
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "teams_name_key", "name", "a team with this name exists"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("team.created", "team", name.as_str())
            .team(id)
            .after(json!({"name": name.as_str(), "display_name": display.as_str()})),
    )
    .await?;
    if let (Some(owner), Some(email)) = (owner, &owner_email) {
        sqlx::query!(
            "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, 'owner')",
            id,
            owner
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            ctx,
            audit::Entry::new("team.member_added", "team_member", email.as_str())
                .team(id)
                .after(json!({"role": "owner"})),
        )
        .await?;
    }
    tx.commit().await?;
    visible_team(app, ctx.actor()?, name.as_str()).await
}

/// The team, if the caller may change its membership.
async fn managed_team(app: &App, ctx: &Ctx, name: &str) -> Result<Team> {
    let actor = ctx.require(Scope::Request)?;
    let team = visible_team(app, actor, name).await?;
    if !actor.is_admin && team.my_role != Some(TeamRole::Owner) {
        return Err(Error::forbidden(
            "only the team's owners and platform admins manage its members",
        ));
    }
    Ok(team)
}

pub async fn add_member(app: &App, ctx: &Ctx, team: &str, input: NewMember) -> Result<TeamDetail> {
    let team = managed_team(app, ctx, team).await?;
    let email = Email::parse("email", &input.email)?;
    let user_id = crate::people::id_by_email(app, "email", &email).await?;
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)",
        team.id,
        user_id,
        input.role.as_str()
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        Error::from_unique(
            e,
            "team_members_pkey",
            "email",
            "already a member of this team",
        )
    })?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("team.member_added", "team_member", email.as_str())
            .team(team.id)
            .after(json!({"role": input.role.as_str()})),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), &team.name).await
}

/// Changes a member's role (`role: Some`) or removes them (`None`), keeping an owner.
async fn change_membership(
    app: &App,
    ctx: &Ctx,
    team: &str,
    user_id: Uuid,
    new_role: Option<TeamRole>,
) -> Result<TeamDetail> {
    let team = managed_team(app, ctx, team).await?;
    let mut tx = app.db.begin().await?;
    // Lock the team's memberships so two owners cannot demote each other at once.
    let members = sqlx::query!(
        "SELECT m.user_id, m.role, u.email FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 FOR UPDATE OF m",
        team.id
    )
    .fetch_all(&mut *tx)
    .await?;
    let target = members
        .iter()
        .find(|m| m.user_id == user_id)
        .ok_or(Error::NotFound("team member"))?;
    let owners = members.iter().filter(|m| m.role == "owner").count();
    let loses_owner = target.role == "owner" && new_role != Some(TeamRole::Owner);
    if loses_owner && owners == 1 {
        return Err(Error::conflict("role", "a team keeps at least one owner"));
    }
    let entry = match new_role {
        Some(role) => {
            sqlx::query!(
                "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2",
                team.id,
                user_id,
                role.as_str()
            )
            .execute(&mut *tx)
            .await?;
            audit::Entry::new("team.member_role_changed", "team_member", &target.email)
                .after(json!({"role": role.as_str()}))
        }
        None => {
            sqlx::query!(
                "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
                team.id,
                user_id
            )
            .execute(&mut *tx)
            .await?;
            audit::Entry::new("team.member_removed", "team_member", &target.email)
        }
    };
    audit::record(
        &mut tx,
        ctx,
        entry.team(team.id).before(json!({"role": target.role})),
    )
    .await?;
    tx.commit().await?;
    get(app, &ctx.reading_back(), &team.name).await
}

pub async fn change_role(
    app: &App,
    ctx: &Ctx,
    team: &str,
    user_id: Uuid,
    role: TeamRole,
) -> Result<TeamDetail> {
    change_membership(app, ctx, team, user_id, Some(role)).await
}

pub async fn remove_member(app: &App, ctx: &Ctx, team: &str, user_id: Uuid) -> Result<TeamDetail> {
    change_membership(app, ctx, team, user_id, None).await
}

#[cfg(test)]
mod tests {
    use super::TeamName;

    #[test]
    fn team_names_are_dns_labels_of_two_to_thirty_characters() {
        for good in ["payments", "ml-platform", "a1"] {
            assert!(TeamName::parse("name", good).is_ok(), "{good} refused");
        }
        for bad in [
            "a",
            "Payments",
            "1team",
            "team-",
            "te_am",
            "default",
            "kube-ops",
            &"x".repeat(31),
        ] {
            assert!(TeamName::parse("name", bad).is_err(), "{bad} accepted");
        }
    }
}
