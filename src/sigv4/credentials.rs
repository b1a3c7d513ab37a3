//! The AWS access key that signs, with the session token of temporary credentials.

use std::fmt;

use chrono::{DateTime, Utc};
use zeroize::ZeroizeOnDrop;

use crate::secret::REDACTED;

/// An access key: its id is public, its secret and session token are secrets. `Debug` shows
/// only the id, and the secrets are wiped from memory on drop.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Credentials {
    #[zeroize(skip)]
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    #[zeroize(skip)]
    expiration: Option<DateTime<Utc>>,
}

impl Credentials {
    /// Long-term credentials: no session token, no expiration.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            expiration: None,
        }
    }

    /// Adds the session token that comes with temporary credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Adds the time after which AWS refuses these credentials.
    pub fn with_expiration(mut self, expiration: DateTime<Utc>) -> Self {
        self.expiration = Some(expiration);
        self
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        self.expiration
    }

    /// Only the signing key derivation reads the secret.
    pub(super) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &Redacted)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| Redacted),
            )
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Debug-prints [`REDACTED`] without quotes, in place of a secret.
pub(super) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}
