//! Signed checkpoints of the audit chain's head, kept where the database cannot reach.
//!
//! The chain alone proves rows were not changed by someone who cannot write the table. An
//! attacker with the schema's owner rights can disable the triggers, change a row and
//! recompute every later hash, or delete the newest rows; the chain then still verifies.
//! A checkpoint — the id and hash of the newest row, signed with an ed25519 key that lives
//! only in Berth's configuration — pins the chain as it was: afterwards a recomputed hash at
//! or before that row, or a trail that ends before it, fails `berth audit verify
//! --checkpoints`. Checkpoints go to a file (a JSON object per line) and/or a webhook,
//! periodically and on demand (`berth audit checkpoint`). Before signing a new one, Berth
//! checks the rows since the last one still chain from it, so it never signs a rewritten
//! trail.

use std::{io::Write, path::Path, time::Duration};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::{App, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// When it was taken (RFC 3339).
    pub at: String,
    /// The newest row then, and its hash (hex).
    pub row: i64,
    pub hash: String,
    /// The signer's public key (base64), to tell keys apart; verification trusts only the
    /// key it is given, never this one.
    pub key: String,
    /// ed25519 over [`Checkpoint::message`] (base64).
    pub signature: String,
}

impl Checkpoint {
    fn message(at: &str, row: i64, hash: &str) -> String {
        format!("berth audit checkpoint v1\nrow {row}\nhash {hash}\nat {at}\n")
    }

    fn signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = B64.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(
            Self::message(&self.at, self.row, &self.hash).as_bytes(),
            &signature,
        )
        .is_ok()
    }
}

pub fn signing_key(raw: &SecretString) -> std::result::Result<SigningKey, String> {
    let bytes = B64
        .decode(raw.expose_secret().trim())
        .map_err(|e| e.to_string())?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 32 bytes".to_owned())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key as `--public-key` takes it (base64 of 32 bytes).
pub fn verifying_key(raw: &str) -> std::result::Result<VerifyingKey, String> {
    let bytes = B64.decode(raw.trim()).map_err(|e| e.to_string())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| e.to_string())
}

pub fn public_key_text(key: &SigningKey) -> String {
    B64.encode(key.verifying_key().to_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every checkpoint in `path`; a line that does not parse is an error naming it.
pub fn read(path: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))
        })
        .collect()
}

/// What `berth audit verify --checkpoints` found, beyond the chain itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// Every checkpoint is signed by the key and matches the trail.
    Intact {
        checkpoints: usize,
    },
    NotSigned {
        row: i64,
    },
    /// The trail ends before a checkpointed row: rows were deleted.
    Truncated {
        row: i64,
        last: i64,
    },
    /// A checkpointed row's hash differs: that row or one before it was rewritten.
    Rewritten {
        row: i64,
    },
}

/// Holds the trail to `checkpoints`, each signed by `key`.
pub async fn check(
    db: &sqlx::PgPool,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
) -> Result<Finding> {
    let last = sqlx::query_scalar!("SELECT max(id) FROM audit_events")
        .fetch_one(db)
        .await?
        .unwrap_or(0);
    for c in checkpoints {
        if !c.signed_by(key) {
            return Ok(Finding::NotSigned { row: c.row });
        }
        if c.row > last {
            return Ok(Finding::Truncated { row: c.row, last });
        }
        let stored = sqlx::query_scalar!("SELECT row_hash FROM audit_events WHERE id = $1", c.row)
            .fetch_optional(db)
            .await?;
        if stored.map(|h| hex(&h)) != Some(c.hash.clone()) {
            return Ok(Finding::Rewritten { row: c.row });
        }
    }
    Ok(Finding::Intact {
        checkpoints: checkpoints.len(),
    })
}

/// Takes a checkpoint of the chain's head, if it grew since the last one in the file (or
/// there is none), after checking the whole chain and the last checkpoint still hold.
/// Writes it to the file and the webhook configured; answers it.
pub async fn take(app: &App) -> Result<Option<Checkpoint>> {
    let key = app
        .config
        .audit_signing_key
        .as_ref()
        .ok_or_else(|| Error::BadRequest("BERTH_AUDIT_SIGNING_KEY is not set".into()))?;
    let key =
        signing_key(key).map_err(|e| Error::BadRequest(format!("BERTH_AUDIT_SIGNING_KEY {e}")))?;
    let previous = match &app.config.audit_checkpoint_file {
        Some(path) if path.exists() => read(path)
            .map_err(Error::Internal)?
            .into_iter()
            .rfind(|c| c.signed_by(&key.verifying_key())),
        _ => None,
    };
    let (verification, head) = super::walk(&app.db, |_, _| {}).await?;
    if let Some((id, reason)) = verification.first_broken {
        metrics::gauge!("berth_audit_chain_intact").set(0.0);
        return Err(Error::Internal(anyhow::anyhow!(
            "the audit chain is broken at row {id} ({reason}); no checkpoint signed"
        )));
    }
    if let Some(previous) = &previous {
        let finding = check(
            &app.db,
            std::slice::from_ref(previous),
            &key.verifying_key(),
        )
        .await?;
        if finding != (Finding::Intact { checkpoints: 1 }) {
            metrics::gauge!("berth_audit_chain_intact").set(0.0);
            return Err(Error::Internal(anyhow::anyhow!(
                "the audit trail no longer matches its last checkpoint ({finding:?}); no checkpoint signed"
            )));
        }
    }
    metrics::gauge!("berth_audit_chain_intact").set(1.0);
    let Some((row, hash)) = head else {
        return Ok(None);
    };
    if previous.as_ref().is_some_and(|p| p.row == row) {
        return Ok(None);
    }
    let at = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|e| Error::Internal(e.into()))?;
    let hash = hex(&hash);
    let signature = key.sign(Checkpoint::message(&at, row, &hash).as_bytes());
    let checkpoint = Checkpoint {
        at,
        row,
        hash,
        key: public_key_text(&key),
        signature: B64.encode(signature.to_bytes()),
    };
    let line = serde_json::to_string(&checkpoint).map_err(|e| Error::Internal(e.into()))?;
    if let Some(path) = &app.config.audit_checkpoint_file {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| {
                writeln!(f, "{line}")?;
                f.sync_data()?;
                Ok(f)
            })
            .map_err(|e| Error::Internal(anyhow::anyhow!("{}: {e}", path.display())))?;
        let _ = file.flush();
    }
    if let Some(url) = &app.config.audit_checkpoint_url {
        let sent = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Internal(e.into()))?
            .post(url)
            .header("content-type", "application/json")
            .body(line)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the audit checkpoint webhook refused the checkpoint")
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "the audit checkpoint webhook could not be reached")
            }
        }
    }
    tracing::info!(row = checkpoint.row, "audit checkpoint signed");
    Ok(Some(checkpoint))
}

/// Takes a checkpoint every `BERTH_AUDIT_CHECKPOINT_INTERVAL_SECONDS` when a destination and
/// a key are configured. A broken or rewritten trail is logged as an error each time.
pub fn spawn_periodic(app: App) {
    let interval = app.config.audit_checkpoint_interval_seconds;
    let configured = app.config.audit_signing_key.is_some()
        && (app.config.audit_checkpoint_file.is_some()
            || app.config.audit_checkpoint_url.is_some());
    if interval == 0 || !configured {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval));
        loop {
            tick.tick().await;
            if let Err(e) = take(&app).await {
                tracing::error!(error = %e, "audit checkpoint failed");
            }
        }
    });
}
