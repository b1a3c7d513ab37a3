//! The parts of an HTTP request that the signature covers, independent of any HTTP crate.

use std::fmt;

use chrono::{DateTime, Utc};

/// One request to sign.
#[derive(Clone, PartialEq, Eq)]
pub struct SignableRequest {
    /// The method as sent, such as `GET`.
    pub method: String,
    /// The path exactly as sent on the wire, without the query: for S3, [`super::s3_key_path`].
    pub path: String,
    /// The raw query string as sent, without the leading `?` (empty when there is none).
    pub query: String,
    /// Every header to sign, `host` included, in the order sent. Names may be in any case,
    /// repeat, and values may span lines.
    pub headers: Vec<(String, String)>,
    /// When the request is signed; it becomes `x-amz-date`.
    pub time: DateTime<Utc>,
}

/// Shows only header names: values may carry secrets (an SSE-C key, a token).
impl fmt::Debug for SignableRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("header_names", &names)
            .field("time", &self.time)
            .finish()
    }
}
