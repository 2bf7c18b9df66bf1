//! Single sign-on through the company's OpenID Connect provider.
//!
//! The authorization code flow with PKCE: [`start`] stores a sign-in under way (the state's
//! hash, the nonce, the PKCE verifier and a hash of a cookie it gives the browser) and sends
//! the browser to the provider; [`callback`] takes that row back exactly once, exchanges the
//! code, and verifies the ID token against the provider's discovery document and keys
//! (signature, issuer, audience, expiry, nonce, access-token hash). An ID token signed with a
//! key Berth has not seen makes it read the keys again once, so a provider's key rotation
//! needs nothing from anyone. The user is then found by issuer and subject (or linked once by
//! a verified email), their teams follow the provider's groups through the admin's
//! [group rules](crate::group_rules), and a session starts — all in one transaction with its
//! audit rows.
//!
//! Nothing here answers with a 500 or a session for a bad callback: every failure is a
//! [`Failure`], which the login page turns into a sentence.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::{
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio::sync::RwLock;
use uuid::Uuid;

use super::{random_secret, sessions, sha256, Ctx, RequestMeta};
use crate::{
    audit,
    config::Config,
    people::{DisplayName, Email},
    App, Result,
};

/// The cookie that ties a sign-in under way to the browser that started it.
pub const BROWSER_COOKIE: &str = "berth_sso";
/// Where the provider sends the browser back.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// How long a sign-in may take at the provider.
const SIGN_IN_SECS: i64 = 600;
/// How long the discovery document and keys are used before they are read again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// Groups read from one ID token, at most, and their longest name.
const MAX_GROUPS: usize = 1000;
const MAX_GROUP_LEN: usize = 256;

/// The configured provider and what Berth last read of it.
pub struct Sso {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    groups_claim: String,
    pub name: String,
    http: reqwest::Client,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a sign-in through the provider did not end in a session. The code goes to the login
/// page (`/login?sso=<code>`), which says what happened; details go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Single sign-on is not configured here.
    Off,
    /// The provider could not be reached (or answered nonsense) at start or at the exchange.
    Unreachable,
    /// The provider said no (the user cancelled, or it refused the client).
    Denied,
    /// The callback's state is unknown, used, too old, or from another browser.
    Expired,
    /// The code or the ID token did not hold up (signature, issuer, audience, nonce, expiry).
    Invalid,
    /// The ID token named no usable email.
    NoEmail,
    /// A local account has the email and the provider does not vouch for it.
    EmailTaken,
    /// The user is disabled in Berth.
    Disabled,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Failure::Off => "off",
            Failure::Unreachable => "unreachable",
            Failure::Denied => "denied",
            Failure::Expired => "expired",
            Failure::Invalid => "invalid",
            Failure::NoEmail => "no-email",
            Failure::EmailTaken => "email-taken",
            Failure::Disabled => "disabled",
        }
    }
}

/// A sign-in handed to the provider: where to send the browser, and the cookie to set.
pub struct Started {
    pub location: String,
    pub set_cookie: String,
}

/// A finished sign-in: the session cookie and where to go.
pub struct SignedIn {
    pub set_cookie: String,
    pub location: String,
}

/// What the provider vouched for, read from a verified ID token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

impl Sso {
    /// The provider from the configuration (validated before), or `None` when single sign-on
    /// is not configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Sso>> {
        if !config.sso_configured() {
            return Ok(None);
        }
        let (Some(issuer), Some(id), Some(secret), Some(redirect)) = (
            &config.oidc_issuer,
            &config.oidc_client_id,
            &config.oidc_client_secret,
            &config.oidc_redirect_url,
        ) else {
            anyhow::bail!("single sign-on needs BERTH_OIDC_ISSUER, _CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URL");
        };
        // Following redirects would let a provider's answer point Berth anywhere.
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent("berth");
        if let Some(path) = &config.oidc_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("BERTH_OIDC_CA_FILE {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                anyhow::anyhow!("BERTH_OIDC_CA_FILE {} is not PEM: {e}", path.display())
            })?;
            if certs.is_empty() {
                anyhow::bail!("BERTH_OIDC_CA_FILE {} holds no certificate", path.display());
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        Ok(Some(Sso {
            issuer: IssuerUrl::new(issuer.trim_end_matches('/').to_owned())
                .map_err(|e| anyhow::anyhow!("BERTH_OIDC_ISSUER: {e}"))?,
            client_id: ClientId::new(id.trim().to_owned()),
            client_secret: ClientSecret::new(secret.expose_secret().to_owned()),
            redirect: RedirectUrl::new(redirect.clone())
                .map_err(|e| anyhow::anyhow!("BERTH_OIDC_REDIRECT_URL: {e}"))?,
            scopes: config.oidc_scopes.clone(),
            groups_claim: config.oidc_groups_claim.trim().to_owned(),
            name: config.oidc_provider_name.trim().to_owned(),
            http: http.build()?,
            metadata: RwLock::new(None),
        }))
    }

    /// The discovery document with the provider's keys: the cached one unless it is old or
    /// `fresh` is asked for (an ID token signed with a key not in it).
    async fn metadata(&self, fresh: bool) -> std::result::Result<CoreProviderMetadata, String> {
        if !fresh {
            if let Some((read_at, metadata)) = &*self.metadata.read().await {
                if read_at.elapsed() < METADATA_TTL {
                    return Ok(metadata.clone());
                }
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| error_chain(&e))?;
        *self.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// For `berth check-config`: reads the discovery document and the keys, and says what it
    /// found.
    pub async fn check(&self) -> anyhow::Result<String> {
        let metadata = self
            .metadata(true)
            .await
            .map_err(|e| anyhow::anyhow!("identity provider {}: {e}", self.issuer.as_str()))?;
        if metadata.token_endpoint().is_none() {
            anyhow::bail!(
                "identity provider {}: its discovery document names no token endpoint",
                self.issuer.as_str()
            );
        }
        Ok(format!(
            "identity provider {}: discovery document read, {} signing key(s)",
            self.issuer.as_str(),
            metadata.jwks().keys().len()
        ))
    }

    /// Verifies a code's tokens and reads the identity out of the ID token.
    async fn exchange(
        &self,
        code: String,
        verifier: String,
        nonce: &Nonce,
    ) -> std::result::Result<Identity, Failure> {
        let metadata = self.metadata(false).await.map_err(|e| {
            tracing::warn!(error = %e, "single sign-on: provider unreachable at the exchange");
            Failure::Unreachable
        })?;
        let client = self.client(metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| {
                tracing::warn!(error = %e, "single sign-on: no token endpoint");
                Failure::Unreachable
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %error_chain(&e), "single sign-on: code exchange failed");
                match e {
                    openidconnect::RequestTokenError::ServerResponse(_) => Failure::Invalid,
                    _ => Failure::Unreachable,
                }
            })?;
        let id_token = response.id_token().ok_or_else(|| {
            tracing::warn!("single sign-on: the token response has no ID token");
            Failure::Invalid
        })?;
        // A key Berth has not seen: read the keys again, once.
        let refreshed;
        let client = match id_token.claims(&client.id_token_verifier(), nonce) {
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let metadata = self.metadata(true).await.map_err(|e| {
                    tracing::warn!(error = %e, "single sign-on: provider unreachable for its keys");
                    Failure::Unreachable
                })?;
                refreshed = self.client(metadata);
                &refreshed
            }
            _ => &client,
        };
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, nonce).map_err(|e| {
            tracing::warn!(error = %error_chain(&e), "single sign-on: ID token refused");
            Failure::Invalid
        })?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| {
                    id_token
                        .signing_key(&verifier)
                        .map(|key| (alg.clone(), key.clone()))
                })
                .ok()
                .and_then(|(alg, key)| {
                    AccessTokenHash::from_token(response.access_token(), &alg, &key).ok()
                });
            if actual.as_ref() != Some(expected) {
                tracing::warn!(
                    "single sign-on: the access token does not match the ID token's at_hash"
                );
                return Err(Failure::Invalid);
            }
        }
        let groups = claim_groups(&id_token.to_string(), &self.groups_claim);
        Ok(Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned())
                .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned())),
            groups,
        })
    }
}

/// The groups claim of a verified ID token (its payload, read again as JSON: the claim's
/// name is configured). Strings only; a single string counts as one group.
fn claim_groups(jwt: &str, claim: &str) -> Vec<String> {
    let payload = jwt
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let mut groups: Vec<String> = match payload.as_ref().and_then(|p| p.get(claim)) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    groups.retain(|g| {
        !g.is_empty() && g.chars().count() <= MAX_GROUP_LEN && !g.chars().any(char::is_control)
    });
    groups.sort();
    groups.dedup();
    groups.truncate(MAX_GROUPS);
    groups
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A path on this site to return to after signing in; anything else becomes `/`.
pub fn return_path(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && p.len() <= 512
                && !p.chars().any(char::is_control)
                && !p.starts_with("/auth/") =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn browser_cookie(app: &App, value: &str, max_age: time::Duration) -> String {
    cookie::Cookie::build((BROWSER_COOKIE, value.to_owned()))
        .path("/auth/oidc")
        .http_only(true)
        // The provider's redirect back is a top-level GET from its site: Lax is sent on it.
        .same_site(cookie::SameSite::Lax)
        .secure(app.config.secure_cookies)
        .max_age(max_age)
        .build()
        .to_string()
}

/// Begins a sign-in: remembers it and answers where to send the browser.
pub async fn start(app: &App, return_to: Option<&str>) -> std::result::Result<Started, Failure> {
    let sso = app.sso.as_deref().ok_or(Failure::Off)?;
    let metadata = sso.metadata(false).await.map_err(|e| {
        tracing::warn!(error = %e, "single sign-on: provider unreachable");
        Failure::Unreachable
    })?;
    let client = sso.client(metadata);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in sso.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    let browser = random_secret();
    let stored = async {
        let mut tx = app.db.begin().await?;
        sqlx::query!(
            "DELETE FROM sso_logins WHERE created_at < now() - make_interval(secs => $1)",
            SIGN_IN_SECS as f64
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO sso_logins (state_hash, browser_hash, nonce, pkce_verifier, return_to)
             VALUES ($1, $2, $3, $4, $5)",
            sha256(state.secret().as_bytes()),
            sha256(browser.as_bytes()),
            nonce.secret(),
            verifier.secret(),
            return_path(return_to),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(())
    };
    stored.await.map_err(|e| {
        tracing::error!(error = %e, "single sign-on: cannot store the sign-in");
        Failure::Unreachable
    })?;
    Ok(Started {
        location: url.to_string(),
        set_cookie: browser_cookie(app, &browser, time::Duration::seconds(SIGN_IN_SECS)),
    })
}

/// How people sign in here, for the login page.
pub fn options(app: &App) -> berth_frontend::api::SignInOptions {
    use crate::config::PasswordLogin;
    berth_frontend::api::SignInOptions {
        provider: app.sso.as_ref().map(|sso| sso.name.clone()),
        password: match app.config.password_login {
            PasswordLogin::Everyone => "everyone",
            PasswordLogin::Admins => "admins",
            PasswordLogin::Nobody => "nobody",
        }
        .to_owned(),
    }
}

/// The cookie value that removes the browser cookie.
pub fn clearing_browser_cookie(app: &App) -> String {
    browser_cookie(app, "", time::Duration::ZERO)
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Finishes a sign-in: the state must be one Berth handed out, to this browser, minutes ago,
/// and unused; then the code is exchanged, the ID token verified, and the user signed in.
pub async fn callback(
    app: &App,
    meta: RequestMeta,
    query: Callback,
    browser: Option<&str>,
) -> Result<std::result::Result<SignedIn, Failure>> {
    let Some(sso) = app.sso.as_deref() else {
        return Ok(Err(Failure::Off));
    };
    let Some(state) = query.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Ok(Err(Failure::Expired));
    };
    // The row goes whatever happens next: a state works once.
    let row = sqlx::query!(
        "DELETE FROM sso_logins WHERE state_hash = $1
         RETURNING browser_hash, nonce, pkce_verifier, return_to,
                   created_at > now() - make_interval(secs => $2) AS \"fresh!\"",
        sha256(state.as_bytes()),
        SIGN_IN_SECS as f64
    )
    .fetch_optional(&app.db)
    .await?;
    let Some(row) = row.filter(|r| r.fresh) else {
        return Ok(Err(Failure::Expired));
    };
    let same_browser =
        browser.is_some_and(|b| super::constant_time_eq(&sha256(b.as_bytes()), &row.browser_hash));
    if !same_browser {
        return Ok(Err(Failure::Expired));
    }
    if let Some(error) = query.error {
        tracing::info!(error = %error, description = ?query.error_description, "single sign-on: the provider refused");
        return Ok(Err(Failure::Denied));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return Ok(Err(Failure::Invalid));
    };
    let identity = match sso
        .exchange(code, row.pkce_verifier, &Nonce::new(row.nonce))
        .await
    {
        Ok(identity) => identity,
        Err(failure) => return Ok(Err(failure)),
    };
    Ok(sign_in(app, meta, identity)
        .await?
        .map(|set_cookie| SignedIn {
            set_cookie,
            location: row.return_to,
        }))
}

/// Signs in the person the provider vouched for: finds (or links, or creates) the user,
/// brings their provider-given teams and admin flag in line with the group rules, and starts
/// a session, with every change audited, in one transaction. Answers the session cookie.
pub async fn sign_in(
    app: &App,
    meta: RequestMeta,
    identity: Identity,
) -> Result<std::result::Result<String, Failure>> {
    let Some(email) = identity
        .email
        .as_deref()
        .and_then(|e| Email::parse("email", e).ok())
    else {
        tracing::warn!(subject = %identity.subject, "single sign-on: the ID token has no usable email");
        return Ok(Err(Failure::NoEmail));
    };
    let name = display_name(identity.name.as_deref(), &email);
    let system = Ctx {
        actor: None,
        meta: meta.clone(),
        system: Some("single sign-on"),
    };
    let mut tx = app.db.begin().await?;
    let found = sqlx::query!(
        "SELECT id, email, display_name, disabled_at IS NOT NULL AS \"disabled!\" FROM users
         WHERE sso_issuer = $1 AND sso_subject = $2 FOR UPDATE",
        identity.issuer,
        identity.subject
    )
    .fetch_optional(&mut *tx)
    .await?;
    let user_id = match found {
        Some(user) => {
            if user.disabled {
                return refuse_disabled(tx, &system, user.id).await;
            }
            if user.email != email.as_str() || user.display_name != name.as_str() {
                let taken = sqlx::query_scalar!(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND id <> $2) AS \"t!\"",
                    email.as_str(),
                    user.id
                )
                .fetch_one(&mut *tx)
                .await?;
                if taken {
                    tracing::warn!(user = %user.id, "single sign-on: the provider's new email belongs to another user");
                    return Ok(Err(Failure::EmailTaken));
                }
                sqlx::query!(
                    "UPDATE users SET email = $2, display_name = $3 WHERE id = $1",
                    user.id,
                    email.as_str(),
                    name.as_str()
                )
                .execute(&mut *tx)
                .await?;
                audit::record(
                    &mut tx,
                    &system,
                    audit::Entry::new("user.updated", "user", user.id)
                        .before(json!({"email": user.email, "display_name": user.display_name}))
                        .after(
                            json!({"email": email.as_str(), "display_name": name.as_str(),
                                      "source": "provider claims"}),
                        ),
                )
                .await?;
            }
            user.id
        }
        None => {
            let local = sqlx::query!(
                "SELECT id, sso_subject IS NOT NULL AS \"linked!\", disabled_at IS NOT NULL AS \"disabled!\"
                 FROM users WHERE email = $1 FOR UPDATE",
                email.as_str()
            )
            .fetch_optional(&mut *tx)
            .await?;
            match local {
                // The provider vouches for the address, and the account is not another
                // provider identity's: this person is that account.
                Some(local) if identity.email_verified && !local.linked => {
                    if local.disabled {
                        return refuse_disabled(tx, &system, local.id).await;
                    }
                    sqlx::query!(
                        "UPDATE users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1",
                        local.id,
                        identity.issuer,
                        identity.subject
                    )
                    .execute(&mut *tx)
                    .await?;
                    audit::record(
                        &mut tx,
                        &system,
                        audit::Entry::new("user.linked", "user", local.id).after(
                            json!({"issuer": identity.issuer, "subject": identity.subject,
                                   "by": "verified email"}),
                        ),
                    )
                    .await?;
                    local.id
                }
                Some(_) => {
                    tracing::warn!(subject = %identity.subject, "single sign-on: a local account has this email, which the provider does not vouch for");
                    return Ok(Err(Failure::EmailTaken));
                }
                None => {
                    let id = Uuid::new_v4();
                    sqlx::query!(
                        "INSERT INTO users (id, email, display_name, sso_issuer, sso_subject)
                         VALUES ($1, $2, $3, $4, $5)",
                        id,
                        email.as_str(),
                        name.as_str(),
                        identity.issuer,
                        identity.subject
                    )
                    .execute(&mut *tx)
                    .await?;
                    audit::record(
                        &mut tx,
                        &system,
                        audit::Entry::new("user.created", "user", id).after(json!({
                            "email": email.as_str(), "display_name": name.as_str(),
                            "is_admin": false, "source": "provider claims",
                            "issuer": identity.issuer, "subject": identity.subject,
                        })),
                    )
                    .await?;
                    id
                }
            }
        }
    };
    crate::group_rules::apply(&mut tx, &system, user_id, email.as_str(), &identity.groups).await?;
    let (secret, csrf) = sessions::open_session(app, &mut tx, user_id, &meta).await?;
    let ctx = Ctx {
        actor: Some(sessions::session_actor(app, &mut tx, user_id, &secret, csrf).await?),
        meta,
        system: None,
    };
    audit::record(
        &mut tx,
        &ctx,
        audit::Entry::new("auth.login", "user", user_id).after(json!({
            "method": "single sign-on", "issuer": identity.issuer, "groups": identity.groups,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(sessions::session_cookie(app, secret)))
}

async fn refuse_disabled(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    system: &Ctx,
    user_id: Uuid,
) -> Result<std::result::Result<String, Failure>> {
    audit::record(
        &mut tx,
        system,
        audit::Entry::new("auth.login_refused", "user", user_id)
            .after(json!({"reason": "disabled", "method": "single sign-on"})),
    )
    .await?;
    tx.commit().await?;
    Ok(Err(Failure::Disabled))
}

/// The provider's name for the person, made fit to show: control characters dropped, at
/// most 100 characters; the email's local part when nothing is left.
fn display_name(raw: Option<&str>, email: &Email) -> DisplayName {
    let cleaned: String = raw
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    DisplayName::parse("display_name", &cleaned).unwrap_or_else(|_| {
        let local = email.as_str().split('@').next().unwrap_or("user");
        DisplayName::parse("display_name", &local.chars().take(100).collect::<String>())
            .expect("an email's local part is a valid name")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256"}"#),
            b64(payload.to_string().as_bytes())
        )
    }

    #[test]
    fn groups_are_strings_of_the_configured_claim_deduplicated_and_sorted() {
        let token = jwt(json!({"groups": ["b", "a", "b", 7, "", "x\u{7}y"], "roles": "admins"}));
        assert_eq!(claim_groups(&token, "groups"), vec!["a", "b"]);
        assert_eq!(claim_groups(&token, "roles"), vec!["admins"]);
        assert!(claim_groups(&token, "missing").is_empty());
        assert!(claim_groups("not-a-jwt", "groups").is_empty());
    }

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        assert_eq!(
            return_path(Some("/requests?state=pending")),
            "/requests?state=pending"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/auth/oidc/start",
            "",
        ] {
            assert_eq!(return_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(return_path(None), "/");
    }

    #[test]
    fn odd_names_are_cleaned_and_empty_ones_fall_back_to_the_email() {
        let email = Email::parse("email", "ada@example.com").unwrap();
        assert_eq!(
            display_name(Some("Ada\u{0} Love\nlace"), &email).as_str(),
            "Ada Lovelace"
        );
        assert_eq!(display_name(Some("\u{1}\u{2}"), &email).as_str(), "ada");
        assert_eq!(display_name(None, &email).as_str(), "ada");
        assert_eq!(
            display_name(Some(&"x".repeat(300)), &email).as_str().len(),
            100
        );
    }
}
