//! Password hashing: argon2id with OWASP's recommended parameters (19 MiB, 2 passes,
//! 1 lane), always on the blocking pool so a login never stalls the async runtime.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};

use crate::{Error, Result};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password that satisfies the policy. Only [`NewPassword::parse`] makes one.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(field: &str, raw: &str) -> Result<Self> {
        let length = raw.chars().count();
        if length < MIN_LENGTH {
            return Err(Error::invalid(
                field,
                format!("must be at least {MIN_LENGTH} characters"),
            ));
        }
        if length > MAX_LENGTH {
            return Err(Error::invalid(
                field,
                format!("must be at most {MAX_LENGTH} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(NewPassword(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most this many argon2 computations run at once in the process. Each takes 19 MiB: a
/// flood of logins waits for a slot (or gets 503 after [`SLOT_WAIT`]) instead of growing the
/// server's memory with every request.
static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(cores.clamp(2, 8))
});
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn slot() -> Result<tokio::sync::SemaphorePermit<'static>> {
    match tokio::time::timeout(SLOT_WAIT, SLOTS.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Error::Busy {
            message: "too many sign-ins at once; retry shortly",
            retry_after_secs: 2,
        }),
    }
}

pub async fn hash(password: &NewPassword) -> Result<String> {
    let password = password.0.clone();
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(anyhow::anyhow!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// Checks `password` against a stored PHC string. Over-long input is refused without
/// hashing it, so nobody can make the server hash megabytes.
pub async fn verify(password: &str, stored: &str) -> Result<bool> {
    if password.len() > MAX_LENGTH * 4 {
        return Ok(false);
    }
    let password = password.to_owned();
    let stored = stored.to_owned();
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored hash: {e}")))?;
        Ok(hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// A hash of a random password, computed once at start: an unknown user is checked against
/// it so that a login attempt costs the same whether or not the account exists.
pub async fn decoy_hash() -> Result<String> {
    hash(&NewPassword(crate::auth::random_secret())).await
}
