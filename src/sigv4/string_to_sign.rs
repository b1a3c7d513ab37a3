//! The credential scope and the string to sign (IAM User Guide, "Create a string to sign").

use std::fmt;

use chrono::{DateTime, Utc};

use super::CanonicalRequest;

/// The algorithm name that opens the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The terminator of every credential scope.
const SCOPE_TERMINATOR: &str = "aws4_request";

/// `YYYYMMDD/region/service/aws4_request`: what the signing key is valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialScope {
    date: String,
    region: String,
    service: String,
}

impl CredentialScope {
    /// The scope of a request signed at `time` (its UTC date).
    pub fn new(time: DateTime<Utc>, region: &str, service: &str) -> Self {
        CredentialScope {
            date: time.format("%Y%m%d").to_string(),
            region: region.to_owned(),
            service: service.to_owned(),
        }
    }

    /// `YYYYMMDD`.
    pub fn date(&self) -> &str {
        &self.date
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub(super) fn terminator(&self) -> &'static str {
        SCOPE_TERMINATOR
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (date, region, service) = (&self.date, &self.region, &self.service);
        write!(f, "{date}/{region}/{service}/{SCOPE_TERMINATOR}")
    }
}

/// The algorithm, the request time, the scope and the canonical request's hash, one per
/// line. `Display` writes that exact text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringToSign {
    amz_date: String,
    scope: CredentialScope,
    canonical_request_hash: String,
}

impl StringToSign {
    /// The string to sign for `canonical`, sent at `time` under `scope`.
    pub fn new(time: DateTime<Utc>, scope: CredentialScope, canonical: &CanonicalRequest) -> Self {
        StringToSign {
            amz_date: format_amz_date(time),
            scope,
            canonical_request_hash: canonical.hash(),
        }
    }

    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{ALGORITHM}")?;
        writeln!(f, "{}", self.amz_date)?;
        writeln!(f, "{}", self.scope)?;
        write!(f, "{}", self.canonical_request_hash)
    }
}

/// `YYYYMMDDTHHMMSSZ`, the format of `x-amz-date` (seconds precision, UTC).
pub(super) fn format_amz_date(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}
