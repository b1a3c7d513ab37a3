//! HTTPS clients on the operating system's TLS stack (Schannel on Windows, OpenSSL on Linux),
//! and what a failed request means for the recipient.
//!
//! Trust: the system's store always; the envelope's extra trust anchor, if any, is added to the
//! clients that talk to the envelope's two endpoints, which are the only clients there are.
//! The system's proxy settings are honoured (environment, and on Windows Internet Options).

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

/// How long a connection may take to establish.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a response may go without a byte before it counts as stalled.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client presenting `identity` (if any) and trusting `trust_anchor_pem` (if any) on top of
/// the system's trust store. TLS 1.2 at least; certificate checks are never turned off;
/// redirects are not followed.
pub fn client(
    identity: Option<native_tls::Identity>,
    trust_anchor_pem: Option<&str>,
    connections: usize,
) -> Result<reqwest::Client, NetError> {
    let mut tls = native_tls::TlsConnector::builder();
    tls.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if let Some(identity) = identity {
        tls.identity(identity);
    }
    for pem in pem_certificates(trust_anchor_pem.unwrap_or_default()) {
        let anchor = native_tls::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| NetError::setup(format!("the extra trust anchor is not valid: {e}")))?;
        tls.add_root_certificate(anchor);
    }
    let tls = tls.build().map_err(|e| NetError::setup(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_max_idle_per_host(connections)
        // A redirect would take the signed headers, the session token among them, to a host
        // the envelope does not name (and trust the envelope's anchor there): never follow.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("certdrop-receiver/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NetError::setup(e.to_string()))
}

/// Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle.
/// The server's clock when it answered: the `Date` header, if it has a valid one.
pub fn server_time(headers: &reqwest::header::HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let date = chrono::DateTime::parse_from_rfc2822(date).ok()?;
    Some(date.with_timezone(&chrono::Utc))
}

fn pem_certificates(bundle: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = bundle;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(rest[start..end].to_owned());
        rest = &rest[end..];
    }
    blocks
}

/// A request that did not get an answer: what kind of failure, for the advice given.
#[derive(Debug)]
pub struct NetError {
    kind: NetErrorKind,
    detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetErrorKind {
    /// No connection: DNS, refused, unreachable, proxy.
    Connect,
    /// The TLS handshake failed (certificate not trusted, client certificate refused).
    Tls,
    /// No byte for too long.
    Timeout,
    /// The connection broke during the exchange.
    Interrupted,
    /// The client could not be built.
    Setup,
}

impl NetError {
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        let kind = if has_tls_source(&error) {
            NetErrorKind::Tls
        } else if error.is_timeout() {
            NetErrorKind::Timeout
        } else if error.is_connect() {
            NetErrorKind::Connect
        } else {
            NetErrorKind::Interrupted
        };
        NetError {
            kind,
            detail: error_chain(&error),
        }
    }

    fn setup(detail: String) -> Self {
        NetError {
            kind: NetErrorKind::Setup,
            detail,
        }
    }

    pub fn kind(&self) -> NetErrorKind {
        self.kind
    }

    pub fn is_tls(&self) -> bool {
        self.kind == NetErrorKind::Tls
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            NetErrorKind::Connect => "could not connect",
            NetErrorKind::Tls => "the secure connection failed",
            NetErrorKind::Timeout => "the server stopped answering",
            NetErrorKind::Interrupted => "the connection broke",
            NetErrorKind::Setup => "the connection could not be prepared",
        };
        write!(f, "{what}: {}", self.detail)
    }
}

impl std::error::Error for NetError {}

/// Whether the failure came from TLS: the handshake itself, or an alert the server sent once
/// it had seen our client certificate (with TLS 1.3 that arrives after the handshake, as a
/// read error).
fn has_tls_source(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<native_tls::Error>() || is_tls_io_error(cause) {
            return true;
        }
        source = cause.source();
    }
    false
}

fn is_tls_io_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let Some(io) = error.downcast_ref::<std::io::Error>() else {
        return false;
    };
    // Schannel reports SSPI errors (SEC_E_*, 0x8009_03xx) as OS errors.
    let sspi = io
        .raw_os_error()
        .is_some_and(|code| (code as u32) >> 8 == 0x0080_0903);
    // OpenSSL's errors reach us as text inside an io::Error ("...:SSL routines:...").
    let text = io.to_string();
    sspi || text.contains("SSL routines") || text.contains("tlsv1 alert")
}

/// The error and its causes on one line (reqwest's own Display, for one, stops at the first),
/// each cause once.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_split_into_certificates() {
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let bundle = format!("junk\n{one}\n\n{one}\ntrailing");
        assert_eq!(
            pem_certificates(&bundle),
            vec![one.to_owned(), one.to_owned()]
        );
        assert!(pem_certificates("no pem here").is_empty());
    }
}
