//! Sending one SigV4-signed request with reqwest: how the stand-ins talk to moto, and how
//! the tests talk to both S3 stand-ins.

use chrono::Utc;
use reqwest::{Client, Method, Response, Url};

use crate::sigv4::{self, Credentials, PayloadHash, SignableRequest, SigningSettings};

/// Why a signed request could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignedRequestError {
    #[error("{0} has no host to sign")]
    NoHost(Url),
    #[error("could not sign the request: {0}")]
    Signing(#[from] sigv4::SigningError),
    #[error("the request to {url} failed: {source}")]
    Http {
        url: Url,
        #[source]
        source: reqwest::Error,
    },
}

/// Settings for S3 with the body hashed (what moto and s3s both check).
pub fn s3_settings(region: &str, body: &[u8]) -> SigningSettings {
    SigningSettings::s3(region, PayloadHash::sha256_of(body))
}

/// Settings for a query-protocol service (IAM, STS): the generic URI rules and a hashed body
/// without the `x-amz-content-sha256` header.
pub fn query_settings(service: &str, region: &str, body: &[u8]) -> SigningSettings {
    SigningSettings {
        service: service.to_owned(),
        region: region.to_owned(),
        rules: sigv4::UriRules::Generic { normalize: true },
        session_token_mode: sigv4::SessionTokenMode::SignedToken,
        payload: PayloadHash::sha256_of(body),
        add_content_sha256_header: false,
    }
}

/// Signs and sends `method url` with `headers` and `body`. The URL's path must already be
/// percent-encoded as it goes on the wire (for S3, [`sigv4::s3_key_path`]).
pub async fn send(
    client: &Client,
    credentials: &Credentials,
    settings: &SigningSettings,
    method: Method,
    url: Url,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response, SignedRequestError> {
    let host = host_header(&url).ok_or_else(|| SignedRequestError::NoHost(url.clone()))?;
    let mut signed_headers = vec![("host".to_owned(), host)];
    signed_headers.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let request = SignableRequest {
        method: method.as_str().to_owned(),
        path: url.path().to_owned(),
        query: url.query().unwrap_or_default().to_owned(),
        headers: signed_headers,
        time: Utc::now(),
    };
    let signing = sigv4::sign(&request, settings, credentials)?;

    // reqwest sets Host itself from the URL, to the same value.
    let mut builder = client.request(method, url.clone()).body(body);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    for (name, value) in signing.headers() {
        builder = builder.header(name, value);
    }
    let sent = builder.send().await;
    sent.map_err(|source| SignedRequestError::Http { url, source })
}

/// `host` or `host:port` when the port is not the scheme's default, as clients send it.
fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_keeps_a_non_default_port_only() {
        let with_port = Url::parse("http://127.0.0.1:9000/b/k").unwrap();
        assert_eq!(host_header(&with_port).unwrap(), "127.0.0.1:9000");
        let default_port = Url::parse("https://example.com:443/").unwrap();
        assert_eq!(host_header(&default_port).unwrap(), "example.com");
    }
}
