//! Which secret signs for which access key: s3s asks, then checks the signature itself.

use chrono::Utc;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{s3_error, S3Result};
use tracing::debug;

use super::AdminKey;
use crate::standins::credentials::CredentialStore;

/// The admin key, and every unexpired temporary key the credentials emulator issued.
pub(super) struct StandinAuth {
    admin: AdminKey,
    store: CredentialStore,
}

impl StandinAuth {
    pub(super) fn new(admin: &AdminKey, store: &CredentialStore) -> Self {
        StandinAuth {
            admin: admin.clone(),
            store: store.clone(),
        }
    }

    fn secret_for(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.admin.access_key_id() {
            return Ok(SecretKey::from(self.admin.secret_access_key()));
        }
        let Some(issued) = self.store.get(access_key) else {
            debug!(access_key, "unknown access key");
            return Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ));
        };
        if issued.is_expired_at(Utc::now()) {
            debug!(access_key, expired = %issued.expiration(), "expired access key");
            return Err(s3_error!(ExpiredToken, "The provided token has expired."));
        }
        Ok(SecretKey::from(issued.secret_access_key()))
    }
}

#[async_trait::async_trait]
impl S3Auth for StandinAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.secret_for(access_key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use s3s::S3ErrorCode;

    use super::*;
    use crate::standins::credentials::TemporaryCredentials;

    fn auth_with(issued: &TemporaryCredentials) -> StandinAuth {
        let store = CredentialStore::new();
        store.insert(issued.clone());
        StandinAuth::new(&AdminKey::generate(), &store)
    }

    #[test]
    fn issued_key_gets_its_own_secret() {
        let issued = TemporaryCredentials::generate("c1", Duration::from_secs(60));
        let secret = auth_with(&issued)
            .secret_for(issued.access_key_id())
            .unwrap();
        assert_eq!(secret.expose(), issued.secret_access_key());
    }

    #[test]
    fn expired_key_is_refused_with_expired_token() {
        let issued = TemporaryCredentials::generate("c1", Duration::ZERO);
        let error = auth_with(&issued)
            .secret_for(issued.access_key_id())
            .unwrap_err();
        assert_eq!(*error.code(), S3ErrorCode::ExpiredToken);
    }

    #[test]
    fn unknown_key_is_refused_with_invalid_access_key_id() {
        let issued = TemporaryCredentials::generate("c1", Duration::from_secs(60));
        let error = auth_with(&issued)
            .secret_for("ASIANOTISSUED0000000")
            .unwrap_err();
        assert_eq!(*error.code(), S3ErrorCode::InvalidAccessKeyId);
    }
}
