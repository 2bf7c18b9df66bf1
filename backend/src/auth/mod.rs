//! Who is calling, and what they may do.
//!
//! Every request (REST or server function) is turned into a [`Ctx`] by [`authenticate`]:
//! a browser session cookie or an `Authorization: Bearer` token, plus the request's id,
//! client address and user agent for the audit trail. The service layer then asks the
//! `Ctx` for what it needs ([`Ctx::require`], [`Ctx::require_admin`]); no handler decides.

pub mod cache;
pub mod password;
pub mod sessions;
pub mod sso;

use std::net::SocketAddr;

use axum::{
    extract::ConnectInfo,
    http::{header, request::Parts, Method},
};
use berth_frontend::api::Scope;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{App, Error, Result};

pub const SESSION_COOKIE: &str = "berth_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect::<String>())
        };
        RequestMeta {
            request_id: header(REQUEST_ID_HEADER),
            client_addr: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
            user_agent: header(header::USER_AGENT.as_str()),
        }
    }
}

/// A user's team memberships as the authentication queries read them.
pub type Teams = sqlx::types::Json<Vec<berth_frontend::api::TeamMembership>>;

/// An authenticated user acting through one credential.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: time::OffsetDateTime,
    /// The user's teams and roles, read with the credential (one query per request).
    pub teams: Vec<berth_frontend::api::TeamMembership>,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session; `id_hash` keys its row, `csrf_token` guards its mutations.
    Session {
        id_hash: Vec<u8>,
        csrf_token: String,
    },
    /// An API token with the scopes it was given.
    Token { id: Uuid, scopes: Vec<Scope> },
}

/// The caller of one service call.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Option<Actor>,
    pub meta: RequestMeta,
    /// Set for calls Berth makes on its own behalf (the CLI, background work).
    pub system: Option<&'static str>,
}

impl Ctx {
    pub fn anonymous(meta: RequestMeta) -> Self {
        Ctx {
            actor: None,
            meta,
            system: None,
        }
    }

    pub fn system(label: &'static str) -> Self {
        Ctx {
            actor: None,
            meta: RequestMeta::default(),
            system: Some(label),
        }
    }

    pub fn actor(&self) -> Result<&Actor> {
        self.actor
            .as_ref()
            .ok_or(Error::Unauthenticated("log in or send a bearer token"))
    }

    /// The caller must be authenticated, and a token must carry `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Actor> {
        let actor = self.actor()?;
        if let Credential::Token { scopes, .. } = &actor.credential {
            if !scopes.contains(&scope) {
                return Err(Error::forbidden(format!(
                    "this token lacks the `{}` scope",
                    scope.as_str()
                )));
            }
        }
        Ok(actor)
    }

    /// As [`Ctx::require`], and the caller must be a platform admin.
    pub fn require_admin(&self, scope: Scope) -> Result<&Actor> {
        let actor = self.require(scope)?;
        if !actor.is_admin {
            return Err(Error::forbidden("only platform admins may do this"));
        }
        Ok(actor)
    }

    /// The same caller reading back what it was just allowed to change: a write answers
    /// with the object it wrote, so a token with the write's scope but not `read` gets it too
    /// (visibility rules still apply). Every permission is checked before a write's
    /// transaction; the answer never refuses after the commit.
    pub fn reading_back(&self) -> Ctx {
        let mut ctx = self.clone();
        if let Some(Actor {
            credential: Credential::Token { scopes, .. },
            ..
        }) = ctx.actor.as_mut()
        {
            if !scopes.contains(&Scope::Read) {
                scopes.push(Scope::Read);
            }
        }
        ctx
    }

    /// The caller must be a browser session (some things a token may never do).
    pub fn require_session(&self) -> Result<&Actor> {
        let actor = self.actor()?;
        match actor.credential {
            Credential::Session { .. } => Ok(actor),
            Credential::Token { .. } => Err(Error::forbidden(
                "this needs a browser session, not a token",
            )),
        }
    }

    /// How the audit trail names the caller.
    pub fn label(&self) -> String {
        match (&self.actor, self.system) {
            (Some(actor), _) => actor.email.clone(),
            (None, Some(system)) => system.to_owned(),
            (None, None) => "anonymous".to_owned(),
        }
    }
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A random secret of 32 bytes, URL-safe.
pub fn random_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(|cookie| cookie.ok())
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

fn bearer_token(parts: &Parts) -> Result<Option<String>> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(Error::Unauthenticated(
            "Authorization must be `Bearer <token>`",
        )),
    }
}

/// What a call means to do: reads need no CSRF token; writes by a browser session do.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    Read,
    /// `csrf` is what the caller presented (a server function's form field); when absent the
    /// `X-CSRF-Token` header is read.
    Write {
        csrf: Option<&'a str>,
    },
}

impl Intent<'_> {
    /// REST decides by method: anything but GET, HEAD and OPTIONS writes.
    pub fn of_method(method: &Method) -> Intent<'static> {
        match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => Intent::Read,
            _ => Intent::Write { csrf: None },
        }
    }
}

/// Turns a request into a [`Ctx`]. A credential that is present but not valid is an error
/// (401), never silently anonymous. A cookie-authenticated write without the session's
/// CSRF token is refused (403); bearer tokens are not sent by browsers on their own, so
/// they need none.
pub async fn authenticate(app: &App, parts: &Parts, intent: Intent<'_>) -> Result<Ctx> {
    let meta = RequestMeta::from_parts(parts);
    if let Some(secret) = bearer_token(parts)? {
        let actor = crate::tokens::authenticate(app, &secret).await?;
        return Ok(Ctx {
            actor: Some(actor),
            meta,
            system: None,
        });
    }
    let Some(cookie) = session_cookie(parts) else {
        return Ok(Ctx::anonymous(meta));
    };
    let actor = sessions::authenticate(app, &cookie).await?;
    if let Intent::Write { csrf } = intent {
        let Credential::Session { csrf_token, .. } = &actor.credential else {
            unreachable!("a session actor has a session credential")
        };
        let presented =
            csrf.or_else(|| parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()));
        match presented {
            Some(p) if constant_time_eq(p.as_bytes(), csrf_token.as_bytes()) => {}
            Some(_) => return Err(Error::forbidden("CSRF token does not match this session")),
            None => return Err(Error::forbidden("missing CSRF token (send X-CSRF-Token)")),
        }
    }
    Ok(Ctx {
        actor: Some(actor),
        meta,
        system: None,
    })
}
