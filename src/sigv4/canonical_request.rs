//! The canonical request (IAM User Guide, "Create a canonical request").

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use super::string_to_sign::format_amz_date;
use super::uri::{canonical_query, canonical_uri};
use super::{SessionTokenMode, SignableRequest, SigningError, SigningSettings};

pub(super) const X_AMZ_DATE: &str = "x-amz-date";
pub(super) const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
pub(super) const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const AUTHORIZATION: &str = "authorization";

/// The request reduced to the text AWS hashes: method, canonical URI, canonical query,
/// canonical headers, signed headers and payload hash, one per line.
///
/// `Display` writes that exact text. It holds the session token when the token is signed, so
/// it is for tests and never for logs; `Debug` leaves header values out.
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    method: String,
    uri: String,
    query: String,
    /// Lowercase names, sorted, each with its values folded and joined by `,`.
    headers: BTreeMap<String, String>,
    payload_hash: String,
}

impl CanonicalRequest {
    /// Builds the canonical request, adding the headers signing sets: `x-amz-date`, and, as
    /// `settings` ask, `x-amz-security-token` (from `session_token`) and
    /// `x-amz-content-sha256`.
    pub fn build(
        request: &SignableRequest,
        settings: &SigningSettings,
        session_token: Option<&str>,
    ) -> Result<Self, SigningError> {
        // Take the request's headers, refusing those that signing itself sets.
        let payload_hash = settings.payload.value()?.to_owned();
        let reserved = reserved_headers(settings, session_token.is_some());
        let mut headers = canonical_headers(&request.headers, &reserved)?;
        if !headers.contains_key("host") {
            return Err(SigningError::MissingHost);
        }

        // Add the headers that signing sets and signs.
        let added = signing_headers(request, settings, session_token, &payload_hash);
        headers.extend(added);

        Ok(CanonicalRequest {
            method: request.method.clone(),
            uri: canonical_uri(&request.path, settings.rules),
            query: canonical_query(&request.query),
            headers,
            payload_hash,
        })
    }

    /// The `SignedHeaders` list: the lowercase header names joined by `;`.
    pub fn signed_headers(&self) -> String {
        let names: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        names.join(";")
    }

    pub fn payload_hash(&self) -> &str {
        &self.payload_hash
    }

    /// The lowercase hex SHA-256 of the text, as it appears in the string to sign.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_string().as_bytes()))
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.method)?;
        writeln!(f, "{}", self.uri)?;
        writeln!(f, "{}", self.query)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}:{value}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.signed_headers())?;
        write!(f, "{}", self.payload_hash)
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("query", &self.query)
            .field("signed_headers", &self.signed_headers())
            .field("payload_hash", &self.payload_hash)
            .finish()
    }
}

/// `x-amz-date`, and, as `settings` ask, `x-amz-security-token` and `x-amz-content-sha256`.
fn signing_headers(
    request: &SignableRequest,
    settings: &SigningSettings,
    session_token: Option<&str>,
    payload_hash: &str,
) -> Vec<(String, String)> {
    let mut added = vec![(X_AMZ_DATE.to_owned(), format_amz_date(request.time))];
    if settings.session_token_mode == SessionTokenMode::SignedToken {
        let token = session_token.map(|token| (X_AMZ_SECURITY_TOKEN.to_owned(), token.into()));
        added.extend(token);
    }
    if settings.add_content_sha256_header {
        added.push((X_AMZ_CONTENT_SHA256.to_owned(), payload_hash.to_owned()));
    }
    added
}

/// The headers a request must not bring because signing sets them.
fn reserved_headers(settings: &SigningSettings, has_token: bool) -> Vec<&'static str> {
    let mut reserved = vec![AUTHORIZATION, X_AMZ_DATE];
    if has_token {
        reserved.push(X_AMZ_SECURITY_TOKEN);
    }
    if settings.add_content_sha256_header {
        reserved.push(X_AMZ_CONTENT_SHA256);
    }
    reserved
}

/// Lowercases names, trims and folds values, and joins repeated headers in their order.
fn canonical_headers(
    headers: &[(String, String)],
    reserved: &[&str],
) -> Result<BTreeMap<String, String>, SigningError> {
    let mut canonical: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = canonical_name(name)?;
        if reserved.contains(&name.as_str()) {
            return Err(SigningError::ReservedHeader(name));
        }
        let value = fold_whitespace(value);
        canonical
            .entry(name)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(canonical)
}

/// A header name lowercased, once checked to be an HTTP token (RFC 9110, section 5.6.2).
fn canonical_name(name: &str) -> Result<String, SigningError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(SigningError::InvalidHeaderName(name.to_owned()));
    }
    Ok(name.to_ascii_lowercase())
}

/// Trims the value and folds every run of spaces, tabs and line breaks into one space, so a
/// value continued over several lines becomes one line.
fn fold_whitespace(value: &str) -> String {
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    words.join(" ")
}
