//! AWS Signature Version 4, header signing, written from AWS's description ("Create a signed
//! AWS API request" in the IAM User Guide) and S3's variant of it ("Signature Calculations for
//! the Authorization Header" in the S3 API Reference).
//!
//! Each stage is public so tests can check it against AWS's suite on its own:
//! [`CanonicalRequest`], then [`StringToSign`] (with its [`CredentialScope`]), then
//! [`SigningKey`] and its [`Signature`]. [`sign`] runs them all and returns the headers to add.
//!
//! Limitation: only header signing is written, not presigned (query-string) URLs nor S3's
//! chunked `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` uploads, so a body is either hashed whole
//! before sending or sent as `UNSIGNED-PAYLOAD`.

mod canonical_request;
mod credentials;
mod error;
mod request;
mod settings;
mod sign;
mod signing_key;
mod string_to_sign;
mod uri;

#[cfg(test)]
mod tests;

pub use canonical_request::CanonicalRequest;
pub use credentials::Credentials;
pub use error::SigningError;
pub use request::SignableRequest;
pub use settings::{PayloadHash, SessionTokenMode, SigningSettings, UriRules};
pub use sign::{sign, SigningOutput};
pub use signing_key::{Signature, SigningKey};
pub use string_to_sign::{CredentialScope, StringToSign, ALGORITHM};
pub use uri::{s3_key_path, uri_encode};
