//! Sealing cluster credentials at rest with XChaCha20-Poly1305 under the configured key.
//! A sealed value is `nonce (24 bytes) || ciphertext`; nothing sealed is ever returned by the
//! API or written to a log.

use base64::Engine;
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    XChaCha20Poly1305,
};
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

#[derive(Clone)]
pub struct Sealer {
    cipher: Option<XChaCha20Poly1305>,
}

/// A fresh key, base64-encoded, for `BERTH_SECRET_KEY`.
pub fn generate_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
}

impl Sealer {
    pub fn new(key: Option<&SecretString>) -> Self {
        let cipher = key.and_then(|k| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(k.expose_secret().trim())
                .ok()?;
            XChaCha20Poly1305::new_from_slice(&bytes).ok()
        });
        Sealer { cipher }
    }

    fn cipher(&self) -> Result<&XChaCha20Poly1305> {
        self.cipher.as_ref().ok_or_else(|| Error::Conflict {
            message: "Berth has no BERTH_SECRET_KEY, so it cannot store or use cluster credentials"
                .into(),
            fields: Default::default(),
        })
    }

    pub fn seal(&self, plaintext: &str) -> Result<Vec<u8>> {
        let cipher = self.cipher()?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| Error::Internal(anyhow::anyhow!("sealing failed")))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    pub fn open(&self, sealed: &[u8]) -> Result<SecretString> {
        let cipher = self.cipher()?;
        if sealed.len() < 24 {
            return Err(Error::Internal(anyhow::anyhow!(
                "a sealed credential is truncated"
            )));
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let plain = cipher.decrypt(nonce.into(), ciphertext).map_err(|_| {
            Error::Internal(anyhow::anyhow!(
                "a sealed credential does not open with this BERTH_SECRET_KEY"
            ))
        })?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| Error::Internal(anyhow::anyhow!("a sealed credential is not text")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let key = SecretString::from(generate_key());
        let sealer = Sealer::new(Some(&key));
        let sealed = sealer.seal("my-token").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"my-token"));
        assert_eq!(sealer.open(&sealed).unwrap().expose_secret(), "my-token");
        let other = Sealer::new(Some(&SecretString::from(generate_key())));
        assert!(other.open(&sealed).is_err());
        assert!(Sealer::new(None).seal("x").is_err());
    }
}
