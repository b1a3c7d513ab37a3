//! Signing a request from end to end: the `Authorization` header and its companions.

use std::fmt;

use zeroize::Zeroize;

use super::canonical_request::X_AMZ_SECURITY_TOKEN;
use super::credentials::Redacted;
use super::string_to_sign::format_amz_date;
use super::{
    CanonicalRequest, CredentialScope, Credentials, SignableRequest, Signature, SigningError,
    SigningKey, SigningSettings, StringToSign, ALGORITHM,
};

/// Signs `request` and returns the headers to add to it: `X-Amz-Date`,
/// `X-Amz-Security-Token` when the credentials have a session token, `x-amz-content-sha256`
/// when the settings ask for it, and `Authorization`.
pub fn sign(
    request: &SignableRequest,
    settings: &SigningSettings,
    credentials: &Credentials,
) -> Result<SigningOutput, SigningError> {
    refuse_expired(request, credentials)?;

    // The four stages, in the order AWS describes them.
    let token = credentials.session_token();
    let canonical = CanonicalRequest::build(request, settings, token)?;
    let scope = CredentialScope::new(request.time, &settings.region, &settings.service);
    let string_to_sign = StringToSign::new(request.time, scope, &canonical);
    let key = SigningKey::derive(credentials, string_to_sign.scope());
    let signature = key.sign(&string_to_sign);

    // The headers, with the token whether or not it was signed.
    let mut headers = vec![("X-Amz-Date", format_amz_date(request.time))];
    if let Some(token) = token {
        headers.push(("X-Amz-Security-Token", token.to_owned()));
    }
    if settings.add_content_sha256_header {
        headers.push(("x-amz-content-sha256", canonical.payload_hash().to_owned()));
    }
    let authorization = authorization(credentials, &string_to_sign, &canonical, &signature);
    headers.push(("Authorization", authorization));
    Ok(SigningOutput { headers, signature })
}

/// The headers [`sign`] adds, in the order to send them. `Debug` hides the session token.
pub struct SigningOutput {
    headers: Vec<(&'static str, String)>,
    signature: Signature,
}

impl SigningOutput {
    /// The headers as (name, value) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }

    /// The value of one added header, the name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.headers().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, value)| value)
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

impl Drop for SigningOutput {
    fn drop(&mut self) {
        self.headers
            .iter_mut()
            .for_each(|(_, value)| value.zeroize());
    }
}

impl fmt::Debug for SigningOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.headers() {
            if name.eq_ignore_ascii_case(X_AMZ_SECURITY_TOKEN) {
                list.entry(&(name, Redacted));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
}

/// Expired credentials would only earn an `ExpiredToken` answer from AWS.
fn refuse_expired(
    request: &SignableRequest,
    credentials: &Credentials,
) -> Result<(), SigningError> {
    match credentials.expiration() {
        Some(expired_at) if expired_at <= request.time => Err(SigningError::ExpiredCredentials {
            access_key_id: credentials.access_key_id().to_owned(),
            expired_at,
        }),
        _ => Ok(()),
    }
}

/// `AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=<names>, Signature=<hex>`.
fn authorization(
    credentials: &Credentials,
    string_to_sign: &StringToSign,
    canonical: &CanonicalRequest,
    signature: &Signature,
) -> String {
    let key_id = credentials.access_key_id();
    let scope = string_to_sign.scope();
    let signed_headers = canonical.signed_headers();
    format!(
        "{ALGORITHM} Credential={key_id}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}"
    )
}
