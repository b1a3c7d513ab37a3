//! What varies between services: the URI rules, the session token's place, the payload hash.

use sha2::{Digest, Sha256};

use super::SigningError;

/// The hash AWS uses for an empty body: the hex SHA-256 of zero bytes.
const EMPTY_BODY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The payload hash S3 accepts in place of a hash when the body is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How one request is signed for one service in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningSettings {
    /// The signing name of the service, such as `s3`.
    pub service: String,
    /// The region, such as `ap-northeast-1`.
    pub region: String,
    pub rules: UriRules,
    pub session_token_mode: SessionTokenMode,
    pub payload: PayloadHash,
    /// Whether to send and sign `x-amz-content-sha256` (S3 requires it).
    pub add_content_sha256_header: bool,
}

impl SigningSettings {
    /// What S3 expects: its URI rules, the session token signed, and `x-amz-content-sha256`
    /// sent and signed.
    pub fn s3(region: &str, payload: PayloadHash) -> Self {
        SigningSettings {
            service: "s3".to_owned(),
            region: region.to_owned(),
            rules: UriRules::S3,
            session_token_mode: SessionTokenMode::SignedToken,
            payload,
            add_content_sha256_header: true,
        }
    }
}

/// How the path becomes the canonical URI (see [`super::s3_key_path`] for S3 paths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriRules {
    /// S3: the path is never normalized and is encoded once.
    S3,
    /// Every other service: the sent path is encoded once more, and, when `normalize` is
    /// set, its `.`, `..` and empty segments are removed first.
    Generic { normalize: bool },
}

/// Where the session token of temporary credentials goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTokenMode {
    /// `x-amz-security-token` is one of the signed headers (what S3 requires).
    SignedToken,
    /// `x-amz-security-token` is added to the request but left out of the signature.
    AddedAfterSigning,
}

/// The last line of the canonical request: what the signature says about the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// The body is not signed: `UNSIGNED-PAYLOAD`.
    UnsignedPayload,
    /// The body is empty: the SHA-256 of zero bytes.
    EmptyBody,
    /// The lowercase hex SHA-256 of the body, computed by the caller.
    Precomputed(String),
}

impl PayloadHash {
    /// Hashes `body` now.
    pub fn sha256_of(body: &[u8]) -> Self {
        PayloadHash::Precomputed(hex::encode(Sha256::digest(body)))
    }

    /// The text that ends the canonical request and fills `x-amz-content-sha256`.
    pub fn value(&self) -> Result<&str, SigningError> {
        match self {
            PayloadHash::UnsignedPayload => Ok(UNSIGNED_PAYLOAD),
            PayloadHash::EmptyBody => Ok(EMPTY_BODY_SHA256),
            PayloadHash::Precomputed(hash) if is_sha256_hex(hash) => Ok(hash),
            PayloadHash::Precomputed(bad) => Err(SigningError::InvalidPayloadHash(bad.clone())),
        }
    }
}

fn is_sha256_hex(text: &str) -> bool {
    let is_lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    text.len() == 64 && text.bytes().all(is_lower_hex)
}
