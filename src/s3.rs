//! The few S3 requests the receiver makes, signed with SigV4: HEAD and ranged GET of the
//! transfer's object, and PUT of a small receipt.
//!
//! Addressing: virtual-hosted style (`https://<bucket>.s3.<region>.amazonaws.com/<key>`) by
//! default; path style (`https://s3.<region>.amazonaws.com/<bucket>/<key>`) when the bucket
//! name has dots (its certificate would not match) and always on a custom endpoint.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::net::{NetError, NetErrorKind};
use crate::sigv4::{self, Credentials, PayloadHash, SignableRequest, SigningSettings};
use crate::transfer::{Endpoint, TransferInfo};

/// What HEAD says about the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
}

/// What went wrong with one S3 request, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct S3Error {
    pub kind: S3ErrorKind,
    message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3ErrorKind {
    /// The credentials expired: get new ones and try again.
    ExpiredToken,
    /// Our clock is off; the offset has been corrected from the server's `Date`: try again.
    ClockSkew,
    /// 412: the object is no longer the one the download started with.
    Changed,
    /// 403: not allowed (the transfer was revoked, or the role lacks a permission).
    AccessDenied,
    /// 404: the object or the bucket is gone.
    NotFound,
    /// 503 SlowDown or 429: wait (as long as the server asked, if it did) and try again.
    Throttled { retry_after: Option<Duration> },
    /// Another 5xx: try again.
    Server,
    /// No answer: try again.
    Network(NetErrorKind),
    /// An answer that does not match the request (wrong range or length): try again.
    BadResponse,
    /// The request could not be signed (a bad header).
    Signing,
}

impl S3ErrorKind {
    /// Whether the same request, repeated after a pause, may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            S3ErrorKind::Throttled { .. }
                | S3ErrorKind::Server
                | S3ErrorKind::Network(_)
                | S3ErrorKind::BadResponse
                | S3ErrorKind::ExpiredToken
                | S3ErrorKind::ClockSkew
        )
    }
}

impl S3Error {
    fn new(kind: S3ErrorKind, message: impl Into<String>) -> Self {
        S3Error {
            kind,
            message: message.into(),
        }
    }

    /// An answer whose body does not fit the request.
    pub fn bad_response(what: &str) -> Self {
        S3Error::new(S3ErrorKind::BadResponse, what)
    }

    /// A request that got no (complete) answer.
    pub fn network(error: NetError) -> Self {
        S3Error::new(S3ErrorKind::Network(error.kind()), error.to_string())
    }
}

/// One object in one bucket, and how to reach it.
pub struct S3Object {
    http: reqwest::Client,
    region: String,
    base_url: String,
    host: String,
    path: String,
    /// Seconds to add to our clock, learnt from a RequestTimeTooSkewed answer.
    clock_offset: AtomicI64,
}

impl S3Object {
    /// The object `key` of the transfer's bucket.
    pub fn new(http: reqwest::Client, info: &TransferInfo, key: &str) -> Result<Self, S3Error> {
        let (base, bucket_in_path) = match &info.s3_endpoint {
            Some(url) => (parse_endpoint(url)?, true),
            None if info.bucket.contains('.') => (
                aws_endpoint(format!("s3.{}.amazonaws.com", info.region)),
                true,
            ),
            None => {
                let host = format!("{}.s3.{}.amazonaws.com", info.bucket, info.region);
                (aws_endpoint(host), false)
            }
        };
        let key_path = sigv4::s3_key_path(key);
        let path = match bucket_in_path {
            true => format!("/{}{key_path}", info.bucket),
            false => key_path,
        };
        let host = host_header(&base);
        Ok(S3Object {
            http,
            region: info.region.clone(),
            base_url: format!("{}://{host}", if base.tls { "https" } else { "http" }),
            host,
            path,
            clock_offset: AtomicI64::new(0),
        })
    }

    /// Another object in the same bucket, sharing the connections and the clock correction.
    pub fn sibling(&self, info: &TransferInfo, key: &str) -> Result<Self, S3Error> {
        let sibling = S3Object::new(self.http.clone(), info, key)?;
        sibling
            .clock_offset
            .store(self.clock_offset.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(sibling)
    }

    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }

    /// Size and ETag.
    pub async fn head(&self, credentials: &Credentials) -> Result<ObjectHead, S3Error> {
        let response = self
            .send("HEAD", &[], PayloadHash::EmptyBody, None, credentials)
            .await?;
        let headers = response.headers();
        let size = headers
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| S3Error::new(S3ErrorKind::BadResponse, "HEAD gave no Content-Length"))?;
        let etag = headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| S3Error::new(S3ErrorKind::BadResponse, "HEAD gave no ETag"))?
            .to_owned();
        Ok(ObjectHead { size, etag })
    }

    /// Bytes `start..end` (end exclusive) of the object, only if its ETag is still `etag`.
    /// The response's status and Content-Range have been checked; its body is the range.
    pub async fn get_range(
        &self,
        credentials: &Credentials,
        start: u64,
        end: u64,
        etag: &str,
    ) -> Result<reqwest::Response, S3Error> {
        let range = format!("bytes={start}-{}", end - 1);
        let headers = [("range", range.as_str()), ("if-match", etag)];
        let response = self
            .send(
                "GET",
                &headers,
                PayloadHash::UnsignedPayload,
                None,
                credentials,
            )
            .await?;
        check_content_range(&response, start, end)?;
        Ok(response)
    }

    /// Uploads a small object in one request.
    pub async fn put(
        &self,
        credentials: &Credentials,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), S3Error> {
        let payload = PayloadHash::sha256_of(&body);
        let headers = [("content-type", content_type)];
        self.send("PUT", &headers, payload, Some(body), credentials)
            .await?;
        Ok(())
    }

    /// Signs and sends one request; any answer but 2xx becomes an [`S3Error`].
    async fn send(
        &self,
        method: &str,
        headers: &[(&str, &str)],
        payload: PayloadHash,
        body: Option<Vec<u8>>,
        credentials: &Credentials,
    ) -> Result<reqwest::Response, S3Error> {
        let mut to_sign = vec![("host".to_owned(), self.host.clone())];
        to_sign.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let request = SignableRequest {
            method: method.to_owned(),
            path: self.path.clone(),
            query: String::new(),
            headers: to_sign,
            time: self.now(),
        };
        let settings = SigningSettings::s3(&self.region, payload);
        let signed = sigv4::sign(&request, &settings, credentials).map_err(signing_error)?;

        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut builder = self.http.request(method, self.url());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in signed.headers() {
            builder = builder.header(name, value);
        }
        if let Some(body) = body {
            builder = builder.body(body);
        }
        tracing::trace!(?request, "sending a signed S3 request");
        let response = builder.send().await.map_err(|e| {
            let error = NetError::from_reqwest(e);
            S3Error::new(S3ErrorKind::Network(error.kind()), error.to_string())
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.error_from(response).await)
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.clock_offset.load(Ordering::Relaxed))
    }

    /// Reads an error answer; corrects the clock when the server says it is off.
    async fn error_from(&self, response: reqwest::Response) -> S3Error {
        let status = response.status().as_u16();
        let date = crate::net::server_time(response.headers());
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let code = xml_element(&body, "Code").unwrap_or_default();
        let mut kind = classify(status, &code, retry_after);

        // A refused request from a client whose clock is minutes off is a skew, even without
        // the error code (HEAD answers have no body): compare with the server's Date.
        let skew = date.map(|server| (server - self.now()).num_seconds());
        let skewed = skew.is_some_and(|s| s.abs() > MAX_CLOCK_SKEW_SECONDS);
        if kind == S3ErrorKind::ClockSkew || (skewed && matches!(status, 400 | 403)) {
            kind = S3ErrorKind::ClockSkew;
            if let Some(skew) = skew {
                let offset = self.clock_offset.load(Ordering::Relaxed) + skew;
                tracing::warn!(
                    offset,
                    "our clock is off; correcting it from the server's Date"
                );
                self.clock_offset.store(offset, Ordering::Relaxed);
            }
        }
        let code = if code.is_empty() {
            "no error code".to_owned()
        } else {
            code
        };
        S3Error::new(
            kind,
            format!("S3 answered {status} ({code}) for {}", self.url()),
        )
    }
}

/// Credentials that expired before the request could be signed (issued with a lifetime
/// shorter than the way to the signer, or against a clock we corrected) are what S3 would
/// answer `ExpiredToken` to: the caller fetches new ones. Other refusals are final.
fn signing_error(error: sigv4::SigningError) -> S3Error {
    let kind = match error {
        sigv4::SigningError::ExpiredCredentials { .. } => S3ErrorKind::ExpiredToken,
        _ => S3ErrorKind::Signing,
    };
    S3Error::new(kind, error.to_string())
}

/// How far our clock may be from S3's before a refusal is put down to the clock. S3 itself
/// allows 15 minutes; a smaller threshold corrects the clock before that limit is reached.
const MAX_CLOCK_SKEW_SECONDS: i64 = 5 * 60;

/// What an S3 error answer means.
fn classify(status: u16, code: &str, retry_after: Option<Duration>) -> S3ErrorKind {
    match (status, code) {
        (_, "ExpiredToken" | "TokenRefreshRequired") => S3ErrorKind::ExpiredToken,
        (_, "RequestTimeTooSkewed") => S3ErrorKind::ClockSkew,
        (412, _) => S3ErrorKind::Changed,
        (_, "SlowDown") | (429 | 503, _) => S3ErrorKind::Throttled { retry_after },
        (403, _) => S3ErrorKind::AccessDenied,
        (404, _) => S3ErrorKind::NotFound,
        (500..=599, _) => S3ErrorKind::Server,
        _ => S3ErrorKind::BadResponse,
    }
}

/// The text of the first `<name>…</name>` in an XML body (S3 error bodies are flat).
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(body[start..start + len].trim().to_owned())
}

/// A 206 whose Content-Range and Content-Length are exactly the range asked for.
fn check_content_range(response: &reqwest::Response, start: u64, end: u64) -> Result<(), S3Error> {
    let bad = |what: &str| S3Error::new(S3ErrorKind::BadResponse, what.to_owned());
    if response.status().as_u16() != 206 {
        return Err(bad(
            "S3 did not answer the range request with 206 Partial Content",
        ));
    }
    let range = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("the answer has no Content-Range"))?;
    if !range.starts_with(&format!("bytes {start}-{}/", end - 1)) {
        return Err(bad("the answer's Content-Range is not the range asked for"));
    }
    if response
        .content_length()
        .is_some_and(|len| len != end - start)
    {
        return Err(bad("the answer's Content-Length does not match its range"));
    }
    Ok(())
}

fn parse_endpoint(url: &str) -> Result<Endpoint, S3Error> {
    Endpoint::parse(url).map_err(|e| S3Error::new(S3ErrorKind::Signing, e.to_string()))
}

fn aws_endpoint(host: String) -> Endpoint {
    Endpoint {
        tls: true,
        host,
        port: 443,
    }
}

/// The Host header as an HTTP client sends it: the port only when it is not the default.
fn host_header(endpoint: &Endpoint) -> String {
    let default_port = if endpoint.tls { 443 } else { 80 };
    match endpoint.port == default_port {
        true => endpoint.host.clone(),
        false => format!("{}:{}", endpoint.host, endpoint.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(bucket: &str, s3_endpoint: Option<&str>) -> TransferInfo {
        let mut info = TransferInfo::from_manifest(&crate::transfer::tests::sample_manifest())
            .expect("the sample manifest is valid");
        info.bucket = bucket.to_owned();
        info.s3_endpoint = s3_endpoint.map(str::to_owned);
        info
    }

    fn url_of(bucket: &str, endpoint: Option<&str>, key: &str) -> String {
        let http = reqwest::Client::new();
        S3Object::new(http, &info(bucket, endpoint), key)
            .unwrap()
            .url()
    }

    #[test]
    fn addressing_follows_bucket_name_and_endpoint() {
        let key = "transfers/ab/資料/見積書 2026 (最終版)+v2.zip";
        let encoded = "/transfers/ab/%E8%B3%87%E6%96%99/\
            %E8%A6%8B%E7%A9%8D%E6%9B%B8%202026%20%28%E6%9C%80%E7%B5%82%E7%89%88%29%2Bv2.zip";
        assert_eq!(
            url_of("acme", None, key),
            format!("https://acme.s3.ap-northeast-1.amazonaws.com{encoded}")
        );
        assert_eq!(
            url_of("acme.example", None, "a b"),
            "https://s3.ap-northeast-1.amazonaws.com/acme.example/a%20b"
        );
        assert_eq!(
            url_of("acme", Some("http://127.0.0.1:9000"), "k"),
            "http://127.0.0.1:9000/acme/k"
        );
        assert_eq!(
            url_of("acme", Some("https://s3.local:443"), "k"),
            "https://s3.local/acme/k"
        );
    }

    #[test]
    fn error_answers_are_classified_for_retrying() {
        let cases = [
            (400, "ExpiredToken", S3ErrorKind::ExpiredToken),
            (403, "RequestTimeTooSkewed", S3ErrorKind::ClockSkew),
            (412, "PreconditionFailed", S3ErrorKind::Changed),
            (
                503,
                "SlowDown",
                S3ErrorKind::Throttled { retry_after: None },
            ),
            (403, "AccessDenied", S3ErrorKind::AccessDenied),
            (404, "NoSuchKey", S3ErrorKind::NotFound),
            (500, "InternalError", S3ErrorKind::Server),
        ];
        for (status, code, kind) in cases {
            assert_eq!(classify(status, code, None), kind, "{status} {code}");
        }
        assert!(S3ErrorKind::Server.is_retryable());
        assert!(!S3ErrorKind::AccessDenied.is_retryable());
        assert!(!S3ErrorKind::Changed.is_retryable());
    }

    #[test]
    fn credentials_expired_before_signing_are_fetched_again() {
        // Regression: credentials issued with a one-second lifetime arrived already expired
        // (expirations are whole seconds); the refusal to sign them ended the download.
        let expired = sigv4::SigningError::ExpiredCredentials {
            access_key_id: "ASIAEXAMPLE".to_owned(),
            expired_at: Utc::now(),
        };
        let kind = signing_error(expired).kind;
        assert_eq!(kind, S3ErrorKind::ExpiredToken);
        assert!(kind.is_retryable());
        let other = signing_error(sigv4::SigningError::MissingHost).kind;
        assert_eq!(other, S3ErrorKind::Signing);
        assert!(!other.is_retryable());
    }

    #[test]
    fn error_code_is_read_from_the_xml_body() {
        let body =
            "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>x</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("SlowDown"));
        assert_eq!(xml_element("not xml", "Code"), None);
    }
}
