//! The signing key and the signature (IAM User Guide, "Calculate the signature").

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::{CredentialScope, Credentials, StringToSign};

/// The size of an HMAC-SHA256 output.
const KEY_LEN: usize = 32;

/// The key derived from the secret access key for one date, region and service. It is wiped
/// on drop and its `Debug` never shows it.
///
/// Limitation: the `hmac` crate (0.12) does not wipe its own state, so the key-derived pads
/// of each HMAC stay in freed memory until it is reused.
pub struct SigningKey(Zeroizing<[u8; KEY_LEN]>);

impl SigningKey {
    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    pub fn derive(credentials: &Credentials, scope: &CredentialScope) -> Self {
        let secret = credentials.secret_access_key().as_bytes();
        let mut seed = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret);

        let date_key = hmac_sha256(&seed, scope.date().as_bytes());
        let region_key = hmac_sha256(&*date_key, scope.region().as_bytes());
        let service_key = hmac_sha256(&*region_key, scope.service().as_bytes());
        SigningKey(hmac_sha256(&*service_key, scope.terminator().as_bytes()))
    }

    /// Signs the string to sign.
    pub fn sign(&self, string_to_sign: &StringToSign) -> Signature {
        let mac = hmac_sha256(&*self.0, string_to_sign.to_string().as_bytes());
        Signature(hex::encode(*mac))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(")?;
        f.write_str(crate::secret::REDACTED)?;
        f.write_str(")")
    }
}

/// The signature: the lowercase hex HMAC-SHA256 of the string to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature(String);

impl Signature {
    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    let mut output = mac.finalize().into_bytes();

    let mut copy = Zeroizing::new([0u8; KEY_LEN]);
    copy.copy_from_slice(&output);
    output.as_mut_slice().zeroize();
    copy
}
