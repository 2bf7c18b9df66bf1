//! API tokens for automation. A token acts as its owner, narrowed to its scopes, and only
//! while the owner is enabled; only the SHA-256 of its secret is stored.

use berth_frontend::api::{CreatedToken, NewToken, Scope, Token};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    audit,
    auth::{cache::Kind, random_secret, sha256, Actor, Credential, Ctx, Teams},
    error::FieldErrors,
    App, Error, Result,
};

pub const SECRET_PREFIX: &str = "berth_";
/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY_SECS: i64 = 60;

fn parse_scopes(raw: &[String]) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = raw.iter().filter_map(|s| Scope::parse(s)).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

pub async fn authenticate(app: &App, secret: &str) -> Result<Actor> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 200 {
        return Err(Error::Unauthenticated("not a Berth token"));
    }
    let hash = sha256(secret.as_bytes());
    if let Some(actor) = app.credentials.get(&app.db, Kind::Token, &hash) {
        return Ok(actor);
    }
    let reading = app.credentials.reading();
    let row = sqlx::query!(
        r#"SELECT t.id, t.scopes, t.last_used_at, t.expires_at, u.id AS user_id, u.email, u.display_name, u.is_admin, u.created_at,
                  coalesce((SELECT json_agg(json_build_object('team', tt.name, 'display_name', tt.display_name, 'role', tm.role)
                                     ORDER BY tt.name)
                            FROM team_members tm JOIN teams tt ON tt.id = tm.team_id WHERE tm.user_id = u.id), '[]')
                     AS "teams!: Teams"
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now() AND u.disabled_at IS NULL"#,
        hash
    )
    .fetch_optional(&app.db)
    .await?
    .ok_or(Error::Unauthenticated("token unknown, expired or revoked"))?;
    let now = OffsetDateTime::now_utc();
    let stale = row
        .last_used_at
        .is_none_or(|at| (now - at).whole_seconds() >= TOUCH_EVERY_SECS);
    if stale {
        sqlx::query!(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = $1",
            row.id
        )
        .execute(&app.db)
        .await?;
    }
    let actor = Actor {
        user_id: row.user_id,
        email: row.email,
        display_name: row.display_name,
        is_admin: row.is_admin,
        created_at: row.created_at,
        teams: row.teams.0,
        credential: Credential::Token {
            id: row.id,
            scopes: parse_scopes(&row.scopes),
        },
    };
    // Answered from memory until the cache's time (at most the touch interval, so the last
    // use goes on being recorded) or the token's expiry, whichever comes first.
    app.credentials
        .fill(reading, Kind::Token, &hash, &actor, row.expires_at);
    Ok(actor)
}

struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    expires_at: OffsetDateTime,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl From<TokenRow> for Token {
    fn from(r: TokenRow) -> Self {
        Token {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: parse_scopes(&r.scopes),
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked: r.revoked_at.is_some(),
        }
    }
}

/// The caller's own tokens, newest first.
pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<Token>> {
    let actor = ctx.require(Scope::Read)?;
    Ok(sqlx::query_as!(
        TokenRow,
        "SELECT id, name, prefix, scopes, expires_at, created_at, last_used_at, revoked_at
         FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
        actor.user_id
    )
    .fetch_all(&app.db)
    .await?
    .into_iter()
    .map(Token::from)
    .collect())
}

/// Creates a token for the caller. Only a browser session may do this, so a leaked token
/// cannot mint more; `approve` is for admins only.
pub async fn create(app: &App, ctx: &Ctx, input: NewToken) -> Result<CreatedToken> {
    let actor = ctx.require_session()?;
    let mut errors = FieldErrors::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        errors.insert("name".into(), "must be 1–64 characters".into());
    } else if name.chars().any(char::is_control) {
        errors.insert("name".into(), "must not contain control characters".into());
    }
    let mut scopes = input.scopes.clone();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        errors.insert("scopes".into(), "choose at least one scope".into());
    } else if scopes.contains(&Scope::Approve) && !actor.is_admin {
        errors.insert(
            "scopes".into(),
            "only platform admins may create tokens with `approve`".into(),
        );
    }
    if !(1..=365).contains(&input.expires_in_days) {
        errors.insert("expires_in_days".into(), "must be between 1 and 365".into());
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let secret = format!("{SECRET_PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(SECRET_PREFIX.len() + 6).collect();
    let id = Uuid::new_v4();
    let expires_at = OffsetDateTime::now_utc() + Duration::days(input.expires_in_days);
    let scope_names: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let mut tx = app.db.begin().await?;
    let row = sqlx::query_as!(
        TokenRow,
        "INSERT INTO api_tokens (id, user_id, name, prefix, secret_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, prefix, scopes, expires_at, created_at, last_used_at, revoked_at",
        id,
        actor.user_id,
        name,
        prefix,
        sha256(secret.as_bytes()),
        &scope_names,
        expires_at
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        Error::from_unique(
            e,
            "api_tokens_user_name_key",
            "name",
            "you already have a token with this name",
        )
    })?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("token.created", "token", id).after(json!({
            "name": name, "prefix": prefix, "scopes": scope_names, "expires_at": expires_at.unix_timestamp()
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedToken {
        token: row.into(),
        secret,
    })
}

/// Revokes one of the caller's tokens (admins may revoke anyone's).
pub async fn revoke(app: &App, ctx: &Ctx, id: Uuid) -> Result<Token> {
    let actor = ctx.require(Scope::Request)?;
    let mut tx = app.db.begin().await?;
    let row = sqlx::query_as!(
        TokenRow,
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
         WHERE id = $1 AND (user_id = $2 OR $3)
         RETURNING id, name, prefix, scopes, expires_at, created_at, last_used_at, revoked_at",
        id,
        actor.user_id,
        actor.is_admin
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("token"))?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("token.revoked", "token", id).after(json!({"name": row.name})),
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}
