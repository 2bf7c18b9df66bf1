//! Browser sessions: login (with throttling), the session check on every request,
//! logout and password change.
//!
//! The cookie carries a random secret; Postgres keeps only its SHA-256. A new secret is
//! issued at every login. Sessions end at the idle timeout, the absolute timeout, logout,
//! a password change (other sessions) or when an admin disables the user.

use berth_frontend::api::{LoginInput, Me, PasswordChange};
use cookie::{Cookie, SameSite};
use serde_json::json;
use time::{Duration as TimeDuration, OffsetDateTime};
use uuid::Uuid;

use super::{
    cache::Kind, password, random_secret, sha256, Actor, Credential, Ctx, RequestMeta, Teams,
    SESSION_COOKIE,
};
use crate::{audit, config::PasswordLogin, people::Email, App, Error, Result};

/// How often `last_seen_at` is written back: often enough for the idle timeout, rarely
/// enough that reads stay reads.
const TOUCH_EVERY_SECS: i64 = 60;

pub async fn authenticate(app: &App, cookie: &str) -> Result<Actor> {
    let id_hash = sha256(cookie.as_bytes());
    if let Some(actor) = app.credentials.get(&app.db, Kind::Session, &id_hash) {
        return Ok(actor);
    }
    let reading = app.credentials.reading();
    let idle_secs = app.config.session_idle().as_secs_f64();
    let row = sqlx::query!(
        r#"SELECT s.csrf_token, s.last_seen_at, s.expires_at, u.id AS user_id, u.email, u.display_name, u.is_admin, u.created_at,
                  coalesce((SELECT json_agg(json_build_object('team', tt.name, 'display_name', tt.display_name, 'role', tm.role)
                                     ORDER BY tt.name)
                            FROM team_members tm JOIN teams tt ON tt.id = tm.team_id WHERE tm.user_id = u.id), '[]')
                     AS "teams!: Teams"
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
             AND s.last_seen_at > now() - make_interval(secs => $2)
             AND u.disabled_at IS NULL"#,
        id_hash,
        idle_secs,
    )
    .fetch_optional(&app.db)
    .await?
    .ok_or(Error::Unauthenticated("session expired or logged out"))?;

    let now = OffsetDateTime::now_utc();
    let mut last_seen = row.last_seen_at;
    if (now - last_seen).whole_seconds() >= TOUCH_EVERY_SECS {
        sqlx::query!(
            "UPDATE sessions SET last_seen_at = now() WHERE id_hash = $1",
            id_hash
        )
        .execute(&app.db)
        .await?;
        last_seen = now;
    }
    // Answered from memory until the first of: the cache's time (at most the touch interval,
    // so the idle clock goes on being written), the idle timeout, the absolute expiry.
    let idle_end = last_seen + app.config.session_idle();
    let actor = Actor {
        user_id: row.user_id,
        email: row.email,
        display_name: row.display_name,
        is_admin: row.is_admin,
        created_at: row.created_at,
        teams: row.teams.0,
        credential: Credential::Session {
            id_hash: id_hash.clone(),
            csrf_token: row.csrf_token,
        },
    };
    app.credentials.fill(
        reading,
        Kind::Session,
        &id_hash,
        &actor,
        row.expires_at.min(idle_end),
    );
    Ok(actor)
}

/// The `Set-Cookie` value that carries a new session.
pub fn session_cookie(app: &App, secret: String) -> String {
    Cookie::build((SESSION_COOKIE, secret))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config.secure_cookies)
        .max_age(
            TimeDuration::try_from(app.config.session_absolute()).unwrap_or(TimeDuration::HOUR),
        )
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clearing_cookie(app: &App) -> String {
    Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(app.config.secure_cookies)
        .max_age(TimeDuration::ZERO)
        .build()
        .to_string()
}

/// A successful login: who logged in, and the cookie to set.
pub struct LoggedIn {
    pub me: Me,
    pub set_cookie: String,
}

pub async fn login(app: &App, meta: RequestMeta, input: LoginInput) -> Result<LoggedIn> {
    let ctx = Ctx::anonymous(meta);
    if app.config.password_login == PasswordLogin::Nobody {
        return Err(Error::forbidden(
            "password sign-in is switched off here: sign in with single sign-on",
        ));
    }
    let email = Email::parse("email", &input.email)?;
    if input.password.is_empty() {
        return Err(Error::invalid("password", "is required"));
    }
    let account_key = format!("account:{}", email.as_str());
    let address_key = ctx
        .meta
        .client_addr
        .as_ref()
        .map(|addr| format!("address:{addr}"));
    // An account's attempt counts before its password is checked, so guesses sent at once
    // cannot all slip under the limit; a success takes it back. A client address counts only
    // its failures, afterwards: many people behind one proxy signing in at once are not an
    // attack, and every check waits for one of the few argon2 slots anyway.
    if let Some(key) = &address_key {
        throttle(app, key, app.config.login_max_failures_per_address).await?;
    }
    let attempt = count_attempt(
        app,
        &[(
            account_key.clone(),
            app.config.login_max_failures_per_account,
        )],
    )
    .await?;

    let user = sqlx::query!(
        "SELECT id, password_hash, disabled_at, is_admin FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(&app.db)
    .await?;
    // An unknown user, and one who signs in only through the provider, is checked against
    // the decoy hash: same cost, same answer.
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.as_deref())
        .unwrap_or(&app.decoy_hash);
    let password_ok = password::verify(&input.password, stored).await?;

    let mut tx = app.db.begin().await?;
    match user {
        Some(user)
            if password_ok
                && user.disabled_at.is_none()
                && !user.is_admin
                && app.config.password_login == PasswordLogin::Admins =>
        {
            audit::record(
                &mut tx,
                &ctx,
                audit::Entry::new("auth.login_refused", "user", user.id)
                    .after(json!({"reason": "password sign-in is for platform admins"})),
            )
            .await?;
            tx.commit().await?;
            Err(Error::forbidden(
                "password sign-in here is for platform admins: sign in with single sign-on",
            ))
        }
        Some(user) if password_ok && user.disabled_at.is_none() => {
            let (secret, csrf) = open_session(app, &mut tx, user.id, &ctx.meta).await?;
            sqlx::query!(
                "DELETE FROM login_failures WHERE throttle_key = $1 OR id = ANY($2)",
                account_key,
                &attempt
            )
            .execute(&mut *tx)
            .await?;
            let ctx = Ctx {
                actor: Some(actor_for(app, user.id, &mut tx, &secret, csrf).await?),
                ..ctx
            };
            audit::record(
                &mut tx,
                &ctx,
                audit::Entry::new("auth.login", "user", user.id),
            )
            .await?;
            tx.commit().await?;
            let me = crate::people::me(app, &ctx).await?;
            Ok(LoggedIn {
                me,
                set_cookie: session_cookie(app, secret),
            })
        }
        // A disabled account gets the answer a wrong password gets: whether its password
        // was right is nobody's business but the audit trail's.
        Some(user) if password_ok => {
            if let Some(key) = &address_key {
                sqlx::query!("INSERT INTO login_failures (throttle_key) VALUES ($1)", key)
                    .execute(&mut *tx)
                    .await?;
            }
            audit::record(
                &mut tx,
                &ctx,
                audit::Entry::new("auth.login_refused", "user", user.id)
                    .after(json!({"reason": "disabled"})),
            )
            .await?;
            tx.commit().await?;
            Err(Error::Unauthenticated("wrong email or password"))
        }
        _ => {
            // The account's attempt was counted before the check and stays counted.
            if let Some(key) = &address_key {
                sqlx::query!("INSERT INTO login_failures (throttle_key) VALUES ($1)", key)
                    .execute(&mut *tx)
                    .await?;
            }
            audit::record(
                &mut tx,
                &ctx,
                audit::Entry::new("auth.login_failed", "user", email.as_str()),
            )
            .await?;
            tx.commit().await?;
            Err(Error::Unauthenticated("wrong email or password"))
        }
    }
}

/// Starts a session for `user_id` in `tx`: the cookie's secret and the CSRF token.
pub(crate) async fn open_session(
    app: &App,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    meta: &RequestMeta,
) -> Result<(String, String)> {
    let secret = random_secret();
    let csrf = random_secret();
    let expires_at = OffsetDateTime::now_utc()
        + TimeDuration::try_from(app.config.session_absolute()).unwrap_or(TimeDuration::HOUR);
    sqlx::query!(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, client_addr, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6)",
        sha256(secret.as_bytes()),
        user_id,
        csrf,
        expires_at,
        meta.client_addr,
        meta.user_agent,
    )
    .execute(&mut *tx)
    .await?;
    Ok((secret, csrf))
}

/// The actor of a session just opened in `tx`, to audit and answer with.
pub(crate) async fn session_actor(
    app: &App,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    secret: &str,
    csrf: String,
) -> Result<Actor> {
    actor_for(app, user_id, tx, secret, csrf).await
}

/// A context acting as the user with this email, for Berth's own tasks on a person's behalf
/// (the demo seed); `None` when there is no such user.
pub async fn acting_as(app: &App, email: &str, label: &'static str) -> Result<Option<Ctx>> {
    let mut conn = app.db.acquire().await?;
    let Some(id) = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let actor = actor_for(app, id, &mut conn, "", String::new()).await?;
    Ok(Some(Ctx {
        actor: Some(actor),
        meta: Default::default(),
        system: Some(label),
    }))
}

async fn actor_for(
    _app: &App,
    user_id: Uuid,
    tx: &mut sqlx::PgConnection,
    secret: &str,
    csrf_token: String,
) -> Result<Actor> {
    let user = sqlx::query!(
        r#"SELECT u.email, u.display_name, u.is_admin, u.created_at,
                  coalesce((SELECT json_agg(json_build_object('team', tt.name, 'display_name', tt.display_name, 'role', tm.role)
                                     ORDER BY tt.name)
                            FROM team_members tm JOIN teams tt ON tt.id = tm.team_id WHERE tm.user_id = u.id), '[]')
                     AS "teams!: Teams"
           FROM users u WHERE u.id = $1"#,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Actor {
        user_id,
        email: user.email,
        display_name: user.display_name,
        is_admin: user.is_admin,
        created_at: user.created_at,
        teams: user.teams.0,
        credential: Credential::Session {
            id_hash: sha256(secret.as_bytes()),
            csrf_token,
        },
    })
}

/// 429 when `key` already has `max` failures in the window.
async fn throttle(app: &App, key: &str, max: u32) -> Result<()> {
    let window_secs = app.config.login_window().as_secs_f64();
    let (failures, oldest) =
        recent_failures(&mut *app.db.acquire().await?, key, window_secs).await?;
    match failures < i64::from(max) {
        true => Ok(()),
        false => Err(throttled(oldest, window_secs)),
    }
}

/// The failures of `key` inside the window, and when the oldest of them was.
async fn recent_failures(
    conn: &mut sqlx::PgConnection,
    key: &str,
    window_secs: f64,
) -> Result<(i64, Option<OffsetDateTime>)> {
    let row = sqlx::query!(
        r#"SELECT count(*) AS "failures!", min(failed_at) AS oldest
           FROM login_failures
           WHERE throttle_key = $1 AND failed_at > now() - make_interval(secs => $2)"#,
        key,
        window_secs,
    )
    .fetch_one(conn)
    .await?;
    Ok((row.failures, row.oldest))
}

fn throttled(oldest: Option<OffsetDateTime>, window_secs: f64) -> Error {
    let oldest = oldest.unwrap_or_else(OffsetDateTime::now_utc);
    let free_at = oldest + TimeDuration::seconds_f64(window_secs);
    let retry_after_secs = (free_at - OffsetDateTime::now_utc()).whole_seconds().max(1) as u64;
    Error::Throttled { retry_after_secs }
}

/// Records an attempt for each (key, limit) — the account and the client address — unless a
/// key already has `limit` failures in the window (429 with the wait). Each key is locked for
/// the check and the insert, so concurrent attempts are counted one after another. Answers
/// the rows written, which a successful login deletes.
async fn count_attempt(app: &App, keys: &[(String, u32)]) -> Result<Vec<i64>> {
    let window_secs = app.config.login_window().as_secs_f64();
    let mut sorted: Vec<&(String, u32)> = keys.iter().collect();
    sorted.sort();
    let mut tx = app.db.begin().await?;
    let mut ids = Vec::new();
    for (key, max) in sorted {
        sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key)
            .execute(&mut *tx)
            .await?;
        let (failures, oldest) = recent_failures(&mut tx, key, window_secs).await?;
        if failures >= i64::from(*max) {
            return Err(throttled(oldest, window_secs));
        }
        ids.push(
            sqlx::query_scalar!(
                "INSERT INTO login_failures (throttle_key) VALUES ($1) RETURNING id",
                key
            )
            .fetch_one(&mut *tx)
            .await?,
        );
    }
    tx.commit().await?;
    Ok(ids)
}

pub async fn logout(app: &App, ctx: &Ctx) -> Result<String> {
    let actor = ctx.require_session()?;
    let Credential::Session { id_hash, .. } = &actor.credential else {
        unreachable!("require_session checked the credential")
    };
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE id_hash = $1",
        id_hash
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("auth.logout", "user", actor.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(clearing_cookie(app))
}

/// Changes the caller's own password. Every other session of theirs ends.
pub async fn change_password(app: &App, ctx: &Ctx, input: PasswordChange) -> Result<()> {
    let actor = ctx.require_session()?;
    let Credential::Session { id_hash, .. } = &actor.credential else {
        unreachable!("require_session checked the credential")
    };
    let new = password::NewPassword::parse("new_password", &input.new_password)?;
    let stored = sqlx::query_scalar!(
        "SELECT password_hash FROM users WHERE id = $1",
        actor.user_id
    )
    .fetch_one(&app.db)
    .await?
    .ok_or_else(|| {
        Error::invalid(
            "current_password",
            "this account signs in through the identity provider and has no password here",
        )
    })?;
    if !password::verify(&input.current_password, &stored).await? {
        return Err(Error::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    if input.current_password == input.new_password {
        return Err(Error::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    let hash = password::hash(&new).await?;
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "UPDATE users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        actor.user_id,
        hash
    )
    .execute(&mut *tx)
    .await?;
    let ended = sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND id_hash <> $2 AND revoked_at IS NULL",
        actor.user_id,
        id_hash
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("user.password_changed", "user", actor.user_id)
            .after(json!({"other_sessions_ended": ended})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
