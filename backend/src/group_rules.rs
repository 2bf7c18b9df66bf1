//! Rules from the identity provider's groups to Berth's teams and platform admin.
//!
//! Admins keep the rules (`payments-devs` → member of payments, `payments-leads` → owner,
//! `platform-admins` → admin). At each single sign-on, [`apply`] brings the user's
//! memberships that came from the provider in line with the groups they now carry: a group
//! gone takes its team away, a new one adds it. Memberships given in Berth by a team owner or
//! an admin are left alone, and so is an admin flag given in Berth.

use std::collections::BTreeMap;

use berth_frontend::api::{GroupGrant, GroupRule, NewGroupRule, Scope};
use serde_json::json;
use uuid::Uuid;

use crate::{audit, auth::Ctx, error::FieldErrors, App, Error, Result};

/// A group name as the provider sends it: 1–256 characters, no control characters. Case
/// and spaces are kept: providers compare them exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderGroup(String);

impl ProviderGroup {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let group = raw.trim();
        if group.is_empty() {
            Err(Error::invalid(field, "is required"))
        } else if group.chars().count() > 256 {
            Err(Error::invalid(field, "must be at most 256 characters"))
        } else if group.chars().any(char::is_control) {
            Err(Error::invalid(field, "must not contain control characters"))
        } else {
            Ok(ProviderGroup(group.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn grant(raw: &str) -> GroupGrant {
    match raw {
        "owner" => GroupGrant::Owner,
        "admin" => GroupGrant::Admin,
        _ => GroupGrant::Member,
    }
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<GroupRule>> {
    ctx.require_admin(Scope::Read)?;
    Ok(sqlx::query!(
        "SELECT r.id, r.provider_group, t.name AS \"team?\", r.role, r.created_at
         FROM group_rules r LEFT JOIN teams t ON t.id = r.team_id
         ORDER BY r.provider_group, t.name NULLS FIRST, r.role"
    )
    .fetch_all(&app.db)
    .await?
    .into_iter()
    .map(|r| GroupRule {
        id: r.id,
        provider_group: r.provider_group,
        team: r.team,
        grant: grant(&r.role),
        created_at: r.created_at,
    })
    .collect())
}

pub async fn create(app: &App, ctx: &Ctx, input: NewGroupRule) -> Result<GroupRule> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let group = crate::fields::collect(
        &mut errors,
        ProviderGroup::parse("provider_group", &input.provider_group),
    );
    let team_name = input
        .team
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let team_id = match (input.grant, team_name) {
        (GroupGrant::Admin, Some(_)) => {
            errors.insert(
                "team".into(),
                "an admin rule names no team: admin is for the whole platform".into(),
            );
            None
        }
        (GroupGrant::Admin, None) => None,
        (_, None) => {
            errors.insert(
                "team".into(),
                "is required for a member or owner rule".into(),
            );
            None
        }
        (_, Some(name)) => {
            let id = sqlx::query_scalar!("SELECT id FROM teams WHERE name = $1", name)
                .fetch_optional(&app.db)
                .await?;
            if id.is_none() {
                errors.insert("team".into(), "no team has this name".into());
            }
            id
        }
    };
    let Some(group) = group.filter(|_| errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let id = Uuid::new_v4();
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO group_rules (id, provider_group, team_id, role) VALUES ($1, $2, $3, $4)",
        id,
        group.as_str(),
        team_id,
        input.grant.as_str()
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        Error::from_unique(
            e,
            "group_rules_unique",
            "provider_group",
            "this rule exists already",
        )
    })?;
    let mut entry = audit::Entry::new("group_rule.created", "group_rule", id).after(json!({
        "provider_group": group.as_str(), "team": team_name, "grant": input.grant.as_str(),
    }));
    if let Some(team_id) = team_id {
        entry = entry.team(team_id);
    }
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    list(app, &ctx.reading_back())
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound("group rule"))
}

/// Deletes a rule. Memberships it gave stay until each member's next sign-in.
pub async fn delete(app: &App, ctx: &Ctx, id: Uuid) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let mut tx = app.db.begin().await?;
    let rule = sqlx::query!(
        "DELETE FROM group_rules r WHERE r.id = $1
         RETURNING r.provider_group, r.team_id, r.role,
                   (SELECT name FROM teams WHERE id = r.team_id) AS team",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("group rule"))?;
    let mut entry = audit::Entry::new("group_rule.deleted", "group_rule", id).before(json!({
        "provider_group": rule.provider_group, "team": rule.team, "grant": rule.role,
    }));
    if let Some(team_id) = rule.team_id {
        entry = entry.team(team_id);
    }
    audit::record(&mut tx, ctx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Brings the provider-given memberships and admin flag of `user_id` in line with the rules
/// that match `groups`, in the caller's transaction, auditing each change as coming from
/// the provider's groups.
pub async fn apply(
    tx: &mut sqlx::PgConnection,
    ctx: &Ctx,
    user_id: Uuid,
    email: &str,
    groups: &[String],
) -> Result<()> {
    let rules = sqlx::query!(
        "SELECT provider_group, team_id, role FROM group_rules WHERE provider_group = ANY($1)",
        groups
    )
    .fetch_all(&mut *tx)
    .await?;
    // The strongest grant per team, with the groups that gave it.
    let mut wanted: BTreeMap<Uuid, (&'static str, Vec<&str>)> = BTreeMap::new();
    let mut admin_groups = Vec::new();
    for rule in &rules {
        match rule.team_id {
            None => admin_groups.push(rule.provider_group.as_str()),
            Some(team) => {
                let role = if rule.role == "owner" {
                    "owner"
                } else {
                    "member"
                };
                let entry = wanted.entry(team).or_insert((role, Vec::new()));
                if role == "owner" {
                    entry.0 = "owner";
                }
                entry.1.push(rule.provider_group.as_str());
            }
        }
    }
    let current = sqlx::query!(
        "SELECT team_id, role, source FROM team_members WHERE user_id = $1 FOR UPDATE",
        user_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let source = |groups: &[&str]| json!({"source": "provider groups", "groups": groups});
    for (team, (role, from)) in &wanted {
        let entry = match current.iter().find(|m| m.team_id == *team) {
            // Given in Berth: the provider does not take it over.
            Some(m) if m.source == "manual" => continue,
            Some(m) if m.role == *role => continue,
            Some(m) => {
                sqlx::query!(
                    "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2",
                    team,
                    user_id,
                    role
                )
                .execute(&mut *tx)
                .await?;
                audit::Entry::new("team.member_role_changed", "team_member", email)
                    .before(json!({"role": m.role}))
            }
            None => {
                sqlx::query!(
                    "INSERT INTO team_members (team_id, user_id, role, source) VALUES ($1, $2, $3, 'provider')",
                    team,
                    user_id,
                    role
                )
                .execute(&mut *tx)
                .await?;
                audit::Entry::new("team.member_added", "team_member", email)
            }
        };
        let mut after = source(from);
        after["role"] = json!(role);
        audit::record(tx, ctx, entry.team(*team).after(after)).await?;
    }
    for gone in current
        .iter()
        .filter(|m| m.source == "provider" && !wanted.contains_key(&m.team_id))
    {
        sqlx::query!(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
            gone.team_id,
            user_id
        )
        .execute(&mut *tx)
        .await?;
        audit::record(
            tx,
            ctx,
            audit::Entry::new("team.member_removed", "team_member", email)
                .team(gone.team_id)
                .before(json!({"role": gone.role}))
                .after(source(&[])),
        )
        .await?;
    }
    let user = sqlx::query!(
        "SELECT is_admin, provider_admin FROM users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let admin = !admin_groups.is_empty();
    // Grants from the provider, and takes back only what the provider gave.
    if admin != user.is_admin && (admin || user.provider_admin) {
        sqlx::query!(
            "UPDATE users SET is_admin = $2, provider_admin = $2 WHERE id = $1",
            user_id,
            admin
        )
        .execute(&mut *tx)
        .await?;
        let mut after = source(&admin_groups);
        after["is_admin"] = json!(admin);
        audit::record(
            tx,
            ctx,
            audit::Entry::new("user.admin_changed", "user", user_id)
                .before(json!({"is_admin": user.is_admin}))
                .after(after),
        )
        .await?;
    }
    Ok(())
}
