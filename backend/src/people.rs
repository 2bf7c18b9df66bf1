//! People: users, their emails and names, what an admin may do to them.

use berth_frontend::api::{CreatedUser, Me, NewUser, Scope, User};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit,
    auth::{password, Credential, Ctx},
    error::FieldErrors,
    fields::collect,
    App, Error, Result,
};

/// A lower-cased email address of a plausible shape (one `@`, a dotted or local domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_LENGTH: usize = 254;

    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let email = raw.trim().to_lowercase();
        let problem = if email.is_empty() {
            Some("is required")
        } else if email.chars().count() > Self::MAX_LENGTH {
            Some("must be at most 254 characters")
        } else if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Some("must not contain spaces or control characters")
        } else {
            match email.split_once('@') {
                Some((local, domain))
                    if !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.') =>
                {
                    None
                }
                _ => Some("must look like name@example.com"),
            }
        };
        match problem {
            Some(message) => Err(Error::invalid(field, message)),
            None => Ok(Email(email)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A human-readable name: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let name = raw.trim();
        if name.is_empty() {
            Err(Error::invalid(field, "is required"))
        } else if name.chars().count() > 100 {
            Err(Error::invalid(field, "must be at most 100 characters"))
        } else if name.chars().any(char::is_control) {
            Err(Error::invalid(field, "must not contain control characters"))
        } else {
            Ok(DisplayName(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    is_admin: bool,
    disabled_at: Option<time::OffsetDateTime>,
    created_at: time::OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            is_admin: r.is_admin,
            disabled: r.disabled_at.is_some(),
            created_at: r.created_at,
        }
    }
}

async fn fetch_user(app: &App, id: Uuid) -> Result<User> {
    sqlx::query_as!(
        UserRow,
        "SELECT id, email, display_name, is_admin, disabled_at, created_at FROM users WHERE id = $1",
        id
    )
    .fetch_optional(&app.db)
    .await?
    .map(User::from)
    .ok_or(Error::NotFound("user"))
}

/// The caller, their teams, and how they are authenticated. Every page and many scripts ask
/// this first, so it is answered from what authentication already read: no further query.
pub async fn me(_app: &App, ctx: &Ctx) -> Result<Me> {
    let actor = ctx.require(Scope::Read)?;
    let user = User {
        id: actor.user_id,
        email: actor.email.clone(),
        display_name: actor.display_name.clone(),
        is_admin: actor.is_admin,
        // Authentication refuses disabled users.
        disabled: false,
        created_at: actor.created_at,
    };
    let (authenticated_by, csrf_token, scopes) = match &actor.credential {
        Credential::Session { csrf_token, .. } => ("session", Some(csrf_token.clone()), None),
        Credential::Token { scopes, .. } => ("token", None, Some(scopes.clone())),
    };
    Ok(Me {
        user,
        teams: actor.teams.clone(),
        authenticated_by: authenticated_by.into(),
        csrf_token,
        scopes,
    })
}

pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<User>> {
    ctx.require_admin(Scope::Read)?;
    Ok(sqlx::query_as!(
        UserRow,
        "SELECT id, email, display_name, is_admin, disabled_at, created_at FROM users ORDER BY email"
    )
    .fetch_all(&app.db)
    .await?
    .into_iter()
    .map(User::from)
    .collect())
}

/// An admin creates a user; the answer carries a one-time password, shown once.
pub async fn create(app: &App, ctx: &Ctx, input: NewUser) -> Result<CreatedUser> {
    ctx.require_admin(Scope::Approve)?;
    let mut errors = FieldErrors::new();
    let email = collect(&mut errors, Email::parse("email", &input.email));
    let name = collect(
        &mut errors,
        DisplayName::parse("display_name", &input.display_name),
    );
    let (Some(email), Some(name)) = (email, name) else {
        return Err(Error::Invalid(errors));
    };
    let one_time_password =
        password::NewPassword::parse("password", &crate::auth::random_secret())?;
    let user = insert(app, ctx, &email, &name, input.is_admin, &one_time_password).await?;
    Ok(CreatedUser {
        user,
        one_time_password: one_time_password.as_str().to_owned(),
    })
}

/// Inserts a user and its audit row. Shared by the admin form and `berth admin create`.
pub async fn insert(
    app: &App,
    ctx: &Ctx,
    email: &Email,
    name: &DisplayName,
    is_admin: bool,
    password: &password::NewPassword,
) -> Result<User> {
    let hash = password::hash(password).await?;
    let id = Uuid::new_v4();
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO users (id, email, display_name, password_hash, is_admin) VALUES ($1, $2, $3, $4, $5)",
        id,
        email.as_str(),
        name.as_str(),
        hash,
        is_admin
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "users_email_key", "email", "a user with this email exists"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("user.created", "user", id).after(json!({
            "email": email.as_str(), "display_name": name.as_str(), "is_admin": is_admin
        })),
    )
    .await?;
    tx.commit().await?;
    fetch_user(app, id).await
}

/// Disables or re-enables a user. A disabled user's sessions end at once and their tokens
/// stop working (token checks read the owner's state on every request).
pub async fn set_disabled(app: &App, ctx: &Ctx, user_id: Uuid, disabled: bool) -> Result<User> {
    let actor = ctx.require_admin(Scope::Approve)?;
    if actor.user_id == user_id && disabled {
        return Err(Error::conflict("disabled", "you cannot disable yourself"));
    }
    let mut tx = app.db.begin().await?;
    let before = sqlx::query_scalar!(
        "SELECT disabled_at IS NOT NULL AS \"d!\" FROM users WHERE id = $1 FOR UPDATE",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("user"))?;
    if before != disabled {
        sqlx::query!(
            "UPDATE users SET disabled_at = CASE WHEN $2 THEN now() ELSE NULL END WHERE id = $1",
            user_id,
            disabled
        )
        .execute(&mut *tx)
        .await?;
        if disabled {
            sqlx::query!(
                "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
                user_id
            )
            .execute(&mut *tx)
            .await?;
        }
        let action = if disabled {
            "user.disabled"
        } else {
            "user.enabled"
        };
        audit::record(
            &mut tx,
            ctx,
            audit::Entry::new(action, "user", user_id)
                .before(json!({"disabled": before}))
                .after(json!({"disabled": disabled})),
        )
        .await?;
    }
    tx.commit().await?;
    fetch_user(app, user_id).await
}

/// Sets a new password for a user from the command line; every session of theirs ends.
pub async fn reset_password(
    app: &App,
    ctx: &Ctx,
    email: &Email,
    new: &password::NewPassword,
) -> Result<()> {
    let hash = password::hash(new).await?;
    let mut tx = app.db.begin().await?;
    let id = sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE email = $1 RETURNING id",
        email.as_str(),
        hash
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("user"))?;
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("user.password_reset", "user", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Looks a user up by email for membership changes; an unknown email is a field error.
pub async fn id_by_email(app: &App, field: &str, email: &Email) -> Result<Uuid> {
    sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email.as_str())
        .fetch_optional(&app.db)
        .await?
        .ok_or_else(|| Error::invalid(field, "no user has this email"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_trimmed() {
        assert_eq!(
            Email::parse("email", "  Ada@Example.COM ")
                .unwrap()
                .as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn emails_without_a_domain_or_with_control_characters_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a@b@c",
            "ada@example.com\u{7}",
            "a b@c.d",
            "a@.com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse("email", &format!("{}@x.io", "a".repeat(260))).is_err());
    }

    #[test]
    fn display_names_refuse_control_characters_and_length() {
        assert!(DisplayName::parse("n", "Ada Lovelace").is_ok());
        assert!(DisplayName::parse("n", "Ada\u{0}").is_err());
        assert!(DisplayName::parse("n", &"x".repeat(101)).is_err());
        assert!(DisplayName::parse("n", "   ").is_err());
    }
}
