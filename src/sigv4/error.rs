//! Why a request could not be signed.

use chrono::{DateTime, Utc};

/// Why [`super::sign`] or [`super::CanonicalRequest::build`] refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningError {
    #[error("the request has no host header: set it to the endpoint's host before signing")]
    MissingHost,
    #[error("the request already has a {0} header: remove it, signing sets it")]
    ReservedHeader(String),
    #[error("{0:?} is not a valid header name: use letters, digits and !#$%&'*+-.^_`|~ only")]
    InvalidHeaderName(String),
    #[error(
        "payload hash {0:?} is not 64 lowercase hex digits: \
         pass the body's sha-256 or sign it as an unsigned payload"
    )]
    InvalidPayloadHash(String),
    #[error(
        "the credentials of {access_key_id} expired at {expired_at}: \
         fetch new temporary credentials and sign again"
    )]
    ExpiredCredentials {
        access_key_id: String,
        expired_at: DateTime<Utc>,
    },
}
