//! Password hashing: argon2id with OWASP's recommended parameters (19 MiB, 2 passes,
//! 1 lane), on a few threads of its own so a login never stalls the async runtime and a
//! flood of logins never grows memory.

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

/// Argon2 runs on a few threads of its own, never on the shared blocking pool: each
/// computation takes 19 MiB, and every thread that ever ran one keeps its malloc arena, so
/// a flood of logins spread over the blocking pool's hundreds of threads grew the server by
/// gigabytes. With `threads` threads, memory for hashing stays near `threads` × 19 MiB; a
/// login waits for its turn, and after [`SLOT_WAIT`] in the queue gets 503.
struct Hashers {
    slots: tokio::sync::Semaphore,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

static HASHERS: std::sync::LazyLock<Hashers> = std::sync::LazyLock::new(|| {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    for n in 0..threads {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || loop {
                let job = rx.lock().expect("argon2 queue").recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .expect("an argon2 thread starts");
    }
    Hashers {
        slots: tokio::sync::Semaphore::new(threads),
        jobs: std::sync::Mutex::new(tx),
    }
});
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `work` on an argon2 thread once a slot is free.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let hashers = &*HASHERS;
    let _slot = match tokio::time::timeout(SLOT_WAIT, hashers.slots.acquire()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(Error::Busy {
                message: "too many sign-ins at once; retry shortly",
                retry_after_secs: 2,
            })
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    hashers
        .jobs
        .lock()
        .expect("argon2 queue")
        .send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .map_err(|_| Error::Internal(anyhow::anyhow!("the argon2 threads are gone")))?;
    rx.await
        .map_err(|_| Error::Internal(anyhow::anyhow!("an argon2 thread failed")))
}

pub async fn hash(password: &NewPassword) -> Result<String> {
    let password = password.0.clone();
    on_hasher(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(anyhow::anyhow!("hashing failed: {e}")))
    })
    .await?
}

/// Checks `password` against a stored PHC string. Over-long input is refused without
/// hashing it, so nobody can make the server hash megabytes.
pub async fn verify(password: &str, stored: &str) -> Result<bool> {
    if password.len() > MAX_LENGTH * 4 {
        return Ok(false);
    }
    let password = password.to_owned();
    let stored = stored.to_owned();
    on_hasher(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored hash: {e}")))?;
        Ok(hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A hash of a random password, computed once at start: an unknown user is checked against
/// it so that a login attempt costs the same whether or not the account exists.
pub async fn decoy_hash() -> Result<String> {
    hash(&NewPassword(crate::auth::random_secret())).await
}
