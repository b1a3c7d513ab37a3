//! The temporary credentials the emulator has handed out, shared with the S3 stand-in, which
//! looks each request's access key up here as S3 asks STS.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::secret::REDACTED;
use crate::sigv4;
use crate::standins::random::{self, BASE64, UPPER_ALNUM};

/// What AWS puts before the 16 characters of a temporary access key id.
const TEMPORARY_KEY_PREFIX: &str = "ASIA";

/// One set of temporary credentials, tied to the certificate that obtained them.
/// `Debug` shows neither the secret nor the session token; both are wiped on drop.
#[derive(Clone)]
pub struct TemporaryCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Zeroizing<String>,
    expiration: DateTime<Utc>,
    certificate_id: String,
}

impl TemporaryCredentials {
    /// Credentials made by whoever issued them (moto, for instance).
    pub fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: String,
        expiration: DateTime<Utc>,
        certificate_id: String,
    ) -> Self {
        TemporaryCredentials {
            access_key_id,
            secret_access_key: Zeroizing::new(secret_access_key),
            session_token: Zeroizing::new(session_token),
            expiration,
            certificate_id,
        }
    }

    /// Fresh random credentials shaped like AWS's, valid for `lifetime` from now (to the
    /// whole second, as the credentials provider writes the expiration).
    pub fn generate(certificate_id: &str, lifetime: Duration) -> Self {
        let access_key_id = format!("{TEMPORARY_KEY_PREFIX}{}", random::text(UPPER_ALNUM, 16));
        TemporaryCredentials::new(
            access_key_id,
            random::text(BASE64, 40),
            random::text(BASE64, 356),
            expiration_after(lifetime),
            certificate_id.to_owned(),
        )
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> &str {
        &self.session_token
    }

    pub fn expiration(&self) -> DateTime<Utc> {
        self.expiration
    }

    /// The id of the certificate these credentials were issued to.
    pub fn certificate_id(&self) -> &str {
        &self.certificate_id
    }

    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expiration <= now
    }

    /// The same credentials, ready for [`sigv4::sign`].
    pub fn to_signing_credentials(&self) -> sigv4::Credentials {
        sigv4::Credentials::new(self.access_key_id.clone(), self.secret_access_key.as_str())
            .with_session_token(self.session_token.as_str())
            .with_expiration(self.expiration)
    }
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &format_args!("{REDACTED}"))
            .field("session_token", &format_args!("{REDACTED}"))
            .field("expiration", &self.expiration)
            .field("certificate_id", &self.certificate_id)
            .finish()
    }
}

/// Now plus `lifetime`, without the fraction of a second.
fn expiration_after(lifetime: Duration) -> DateTime<Utc> {
    let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
    let when = Utc::now()
        .checked_add_signed(lifetime)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    DateTime::from_timestamp(when.timestamp(), 0).unwrap_or(when)
}

/// Every issued set of credentials by access key id. Clones share the same store.
#[derive(Clone, Default)]
pub struct CredentialStore {
    by_access_key: Arc<Mutex<HashMap<String, TemporaryCredentials>>>,
}

impl CredentialStore {
    pub fn new() -> Self {
        CredentialStore::default()
    }

    pub fn insert(&self, credentials: TemporaryCredentials) {
        let key = credentials.access_key_id.clone();
        self.lock().insert(key, credentials);
    }

    pub fn get(&self, access_key_id: &str) -> Option<TemporaryCredentials> {
        self.lock().get(access_key_id).cloned()
    }

    /// How many credentials were issued to the certificate `certificate_id`.
    pub fn count_for(&self, certificate_id: &str) -> usize {
        let store = self.lock();
        store
            .values()
            .filter(|c| c.certificate_id == certificate_id)
            .count()
    }

    /// Every set of credentials issued to the certificate `certificate_id`.
    pub fn issued_to(&self, certificate_id: &str) -> Vec<TemporaryCredentials> {
        let store = self.lock();
        store
            .values()
            .filter(|c| c.certificate_id == certificate_id)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A panic elsewhere while holding the lock leaves the map consistent (every change is
    /// one `insert`), so a poisoned lock is still used.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, TemporaryCredentials>> {
        self.by_access_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Shows how many credentials are stored, not what they are.
impl fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialStore")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_look_like_aws_temporary_ones() {
        let creds = TemporaryCredentials::generate("abc", Duration::from_secs(60));
        let key = creds.access_key_id();
        assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
        assert_eq!(creds.secret_access_key().len(), 40);
        assert_eq!(creds.expiration().timestamp_subsec_nanos(), 0);
        let left = creds.expiration() - Utc::now();
        assert!(left <= chrono::Duration::seconds(60) && left > chrono::Duration::seconds(55));
    }

    #[test]
    fn debug_hides_secret_and_session_token() {
        let creds = TemporaryCredentials::generate("abc", Duration::from_secs(60));
        let shown = format!("{creds:?}");
        assert!(!shown.contains(creds.secret_access_key()), "{shown}");
        assert!(!shown.contains(creds.session_token()), "{shown}");
        assert!(shown.contains(REDACTED) && shown.contains(creds.access_key_id()));
    }

    #[test]
    fn store_clones_share_what_is_inserted() {
        let store = CredentialStore::new();
        let creds = TemporaryCredentials::generate("cert-1", Duration::from_secs(60));
        store.clone().insert(creds.clone());
        let found = store
            .get(creds.access_key_id())
            .expect("inserted through a clone");
        assert_eq!(found.session_token(), creds.session_token());
        assert_eq!(store.count_for("cert-1"), 1);
        assert_eq!(store.count_for("cert-2"), 0);
    }
}
