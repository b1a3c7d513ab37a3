//! Temporary AWS credentials from the AWS IoT credentials provider: one HTTPS GET, with the
//! transfer's client certificate presented through mutual TLS.
//!
//! `GET https://<endpoint>/role-aliases/<alias>/credentials` answers
//! `{"credentials":{"accessKeyId":…,"secretAccessKey":…,"sessionToken":…,"expiration":…}}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::Mutex;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::envelope::Payload;
use crate::key_cleanup::{self, KeyCleanup};
use crate::net::{self, NetError};
use crate::sigv4::Credentials;
use crate::transfer::Endpoint;

/// Credentials this close to their expiration are replaced before use (or sooner, for
/// short-lived ones: when a fifth of their lifetime is left).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Why no credentials were issued. Each case has its own advice for the recipient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// 403: the certificate is inactive (revoked) or not allowed to use the role alias.
    #[error("the credentials provider refused this transfer's certificate (403 {0})")]
    Forbidden(String),
    /// 404: the role alias does not exist (the transfer is no longer set up).
    #[error("the credentials provider does not know this transfer's role alias (404 {0})")]
    NotFound(String),
    /// 400 or 401: the role cannot be assumed with this certificate.
    #[error("the credentials provider could not assume the transfer's role ({0} {1})")]
    RoleNotAssumable(u16, String),
    /// 5xx: worth trying again later.
    #[error("the credentials provider failed ({0} {1})")]
    Server(u16, String),
    /// The TLS handshake failed while presenting the client certificate.
    #[error("the secure connection to the credentials provider was refused: {0}")]
    TlsRejected(String),
    #[error(transparent)]
    Network(NetError),
    /// The enveloped identity could not be loaded into the TLS stack.
    #[error("the transfer's client identity could not be loaded: {0}")]
    Identity(String),
    #[error("the credentials provider's answer is not understood: {0}")]
    BadResponse(&'static str),
}

impl CredentialsError {
    /// Whether waiting and asking again may help.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialsError::Server(..) => true,
            CredentialsError::Network(e) => !e.is_tls(),
            _ => false,
        }
    }
}

/// Asks the credentials provider for credentials, as the transfer's certificate.
pub struct CredentialsClient {
    http: reqwest::Client,
    url: String,
    /// Removes the imported key from the system when the client is dropped.
    _key_cleanup: KeyCleanup,
}

impl CredentialsClient {
    pub fn new(
        endpoint: &Endpoint,
        role_alias: &str,
        payload: &Payload,
    ) -> Result<Self, CredentialsError> {
        let (identity, key_cleanup) =
            key_cleanup::import_identity(payload).map_err(CredentialsError::Identity)?;
        let anchors = payload.info.trust_anchor_pem.as_deref();
        let http = net::client(Some(identity), anchors, 2)
            .map_err(|e| CredentialsError::Identity(e.to_string()))?;
        let url = format!("{endpoint}/role-aliases/{role_alias}/credentials");
        Ok(CredentialsClient {
            http,
            url,
            _key_cleanup: key_cleanup,
        })
    }

    /// One request, no retries: the caller decides whether to try again.
    pub async fn fetch(&self) -> Result<Credentials, CredentialsError> {
        tracing::debug!(url = %self.url, "asking for temporary credentials");
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status().as_u16();
        let server_time = net::server_time(response.headers());
        let error_type = response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let body = Zeroizing::new(response.bytes().await.map_err(request_error)?.to_vec());
        if status != 200 {
            let kind = error_type.unwrap_or_else(|| error_message(&body));
            return Err(status_error(status, kind));
        }
        let credentials = parse_credentials(&body)?;
        Ok(match server_time {
            Some(server_time) => in_our_clock(credentials, server_time, Utc::now()),
            None => credentials,
        })
    }
}

/// The credentials with their expiry moved from the provider's clock (its `Date` when it
/// answered) to ours. A recipient's clock hours fast (the right local time in the wrong time
/// zone) would otherwise find every set of credentials expired on arrival; S3's `Date` then
/// corrects the signing time (crate::s3).
fn in_our_clock(
    credentials: Credentials,
    server_time: DateTime<Utc>,
    received: DateTime<Utc>,
) -> Credentials {
    let Some(expiration) = credentials.expiration() else {
        return credentials;
    };
    let ahead = received - server_time;
    if ahead.num_seconds().abs() > 60 {
        tracing::debug!(
            seconds = ahead.num_seconds(),
            "our clock differs from the credentials provider's; judging expiry by its clock"
        );
    }
    credentials.with_expiration(expiration + ahead)
}

fn request_error(error: reqwest::Error) -> CredentialsError {
    let error = NetError::from_reqwest(error);
    if error.is_tls() {
        return CredentialsError::TlsRejected(error.to_string());
    }
    CredentialsError::Network(error)
}

fn status_error(status: u16, kind: String) -> CredentialsError {
    match status {
        403 => CredentialsError::Forbidden(kind),
        404 => CredentialsError::NotFound(kind),
        400 | 401 => CredentialsError::RoleNotAssumable(status, kind),
        _ => CredentialsError::Server(status, kind),
    }
}

/// The `message` of an error body, for logs; never a secret (error bodies hold none).
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_default()
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct CredentialsBody {
    credentials: CredentialsFields,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
struct CredentialsFields {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

fn parse_credentials(body: &[u8]) -> Result<Credentials, CredentialsError> {
    let parsed: CredentialsBody = serde_json::from_slice(body)
        .map_err(|_| CredentialsError::BadResponse("the JSON does not hold credentials"))?;
    let fields = &parsed.credentials;
    let expiration = DateTime::parse_from_rfc3339(&fields.expiration)
        .map_err(|_| CredentialsError::BadResponse("the expiration is not an RFC 3339 time"))?
        .with_timezone(&Utc);
    Ok(Credentials::new(
        fields.access_key_id.clone(),
        fields.secret_access_key.clone(),
    )
    .with_session_token(fields.session_token.clone())
    .with_expiration(expiration))
}

/// The credentials in use, replaced before they expire or when AWS says they have.
pub struct CredentialsCache {
    client: CredentialsClient,
    /// The credentials in use and when they were received.
    current: Mutex<Option<(Credentials, DateTime<Utc>)>>,
}

impl CredentialsCache {
    pub fn new(client: CredentialsClient) -> Self {
        CredentialsCache {
            client,
            current: Mutex::new(None),
        }
    }

    /// Valid credentials, fetched again when the current ones are close to expiring.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut current = self.current.lock().await;
        if let Some((credentials, _)) = current.as_ref().filter(|(c, at)| !expires_soon(c, *at)) {
            return Ok(credentials.clone());
        }
        let fresh = self.client.fetch().await?;
        tracing::debug!(expiration = ?fresh.expiration(), "received temporary credentials");
        *current = Some((fresh.clone(), Utc::now()));
        Ok(fresh)
    }

    /// Forgets `used`, because AWS answered that it expired; credentials fetched meanwhile by
    /// another request are kept.
    pub async fn invalidate(&self, used: &Credentials) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|(c, _)| c.access_key_id() == used.access_key_id())
        {
            *current = None;
        }
    }
}

/// Whether credentials received at `received` should be replaced now.
fn expires_soon(credentials: &Credentials, received: DateTime<Utc>) -> bool {
    let Some(expiration) = credentials.expiration() else {
        return false;
    };
    let margin = chrono::Duration::from_std(REFRESH_MARGIN).expect("five minutes fits");
    let margin = margin.min((expiration - received) / 5);
    expiration - margin <= Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_moved_from_the_providers_clock_to_ours() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        let issued =
            Credentials::new("ASIAEXAMPLE", "s3cr3t").with_expiration(at("2099-12-04T04:00:00Z"));
        // The provider answered at 03:00; our clock said 12:00 (nine hours fast).
        let ours = in_our_clock(
            issued,
            at("2099-12-04T03:00:00Z"),
            at("2099-12-04T12:00:00Z"),
        );
        assert_eq!(ours.expiration(), Some(at("2099-12-04T13:00:00Z")));
    }

    #[test]
    fn aws_credentials_json_is_understood() {
        let body = br#"{"credentials":{"accessKeyId":"ASIAEXAMPLE","secretAccessKey":"s3cr3t",
            "sessionToken":"t0ken","expiration":"2026-12-03T20:00:00Z"}}"#;
        let credentials = parse_credentials(body).unwrap();
        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.session_token(), Some("t0ken"));
        assert_eq!(
            credentials.expiration().unwrap().to_rfc3339(),
            "2026-12-03T20:00:00+00:00"
        );
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0ken"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        for body in [&b""[..], b"{}", b"{\"credentials\":{}}", b"\xff\xfe"] {
            assert!(matches!(
                parse_credentials(body),
                Err(CredentialsError::BadResponse(_))
            ));
        }
    }

    #[test]
    fn status_codes_map_to_what_the_recipient_can_do() {
        let kind = || "X".to_owned();
        assert!(matches!(
            status_error(403, kind()),
            CredentialsError::Forbidden(_)
        ));
        assert!(matches!(
            status_error(404, kind()),
            CredentialsError::NotFound(_)
        ));
        assert!(matches!(
            status_error(400, kind()),
            CredentialsError::RoleNotAssumable(400, _)
        ));
        assert!(status_error(503, kind()).is_transient());
        assert!(!status_error(403, kind()).is_transient());
    }

    #[test]
    fn credentials_close_to_expiry_are_refreshed() {
        let now = Utc::now();
        let minutes = chrono::Duration::minutes;
        let expiring = |m| Credentials::new("a", "b").with_expiration(now + minutes(m));
        // An hour's credentials are replaced five minutes before they expire.
        assert!(!expires_soon(&expiring(6), now - minutes(54)));
        assert!(expires_soon(&expiring(4), now - minutes(56)));
        // A minute's credentials are used for most of their minute, not refetched each time.
        let short = Credentials::new("a", "b").with_expiration(now + chrono::Duration::seconds(50));
        assert!(!expires_soon(&short, now - chrono::Duration::seconds(10)));
        let short = Credentials::new("a", "b").with_expiration(now + chrono::Duration::seconds(5));
        assert!(expires_soon(&short, now - chrono::Duration::seconds(55)));
        assert!(!expires_soon(&Credentials::new("a", "b"), now));
    }
}
