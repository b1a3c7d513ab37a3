//! The transfer description: the manifest given to `certdrop pack` and the metadata sealed in
//! the envelope (docs/FORMAT.md, sections 1 and 3). It holds no secret.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the receiver needs to know about one transfer. Field order is the canonical order of
/// docs/FORMAT.md section 1: serde_json writes fields in declaration order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInfo {
    pub transfer_id: String,
    pub credentials_endpoint: String,
    pub role_alias: String,
    pub region: String,
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub file_name: String,
    pub expires_at: DateTime<Utc>,
    pub sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Empty in a manifest that leaves it out; [`TransferInfo::from_manifest`] fills it in.
    #[serde(default)]
    pub receipt_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_anchor_pem: Option<String>,
}

/// A field of the transfer description that breaks the rules of docs/FORMAT.md section 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        reason: reason.into(),
    }
}

impl TransferInfo {
    /// The extra trust anchor as the S3 client may use it: only for the envelope's own S3
    /// endpoint. AWS's S3 is trusted through the system's roots alone, whatever CA the
    /// credentials endpoint needs.
    pub fn s3_trust_anchor(&self) -> Option<&str> {
        self.s3_endpoint.as_ref()?;
        self.trust_anchor_pem.as_deref()
    }

    /// Parses a manifest (docs/FORMAT.md section 1), fills in the default receipt prefix and
    /// checks every field.
    pub fn from_manifest(json: &str) -> Result<Self, ManifestError> {
        let mut info: TransferInfo = serde_json::from_str(json).map_err(ManifestError::Json)?;
        if info.receipt_prefix.is_empty() {
            info.receipt_prefix = format!("receipts/{}/", info.transfer_id);
        }
        info.validate().map_err(ManifestError::Field)?;
        Ok(info)
    }

    /// Checks every field against docs/FORMAT.md section 1.
    pub fn validate(&self) -> Result<(), InvalidField> {
        check_chars("transfer_id", &self.transfer_id, 128, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        })?;
        Endpoint::parse(&self.credentials_endpoint)
            .map_err(|e| invalid("credentials_endpoint", e.to_string()))?;
        check_chars("role_alias", &self.role_alias, 128, |c| {
            c.is_ascii_alphanumeric() || "=,@_-".contains(c)
        })?;
        check_chars("region", &self.region, 32, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        })?;
        check_bucket(&self.bucket)?;
        if self.key.is_empty() || self.key.len() > 1024 {
            return Err(invalid("key", "must be 1 to 1024 bytes of UTF-8"));
        }
        if let Some(url) = &self.s3_endpoint {
            Endpoint::parse(url).map_err(|e| invalid("s3_endpoint", e.to_string()))?;
        }
        let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if self.sha256.len() != 64 || !self.sha256.chars().all(is_hex) {
            return Err(invalid("sha256", "must be 64 lowercase hexadecimal digits"));
        }
        check_text("file_name", &self.file_name, 255)?;
        check_text("sender", &self.sender, 200)?;
        if let Some(note) = &self.note {
            if note.chars().count() > 2000 {
                return Err(invalid("note", "must be at most 2000 characters"));
            }
        }
        if !self.receipt_prefix.ends_with('/') || self.receipt_prefix.len() > 512 {
            return Err(invalid(
                "receipt_prefix",
                "must end with `/` (at most 512 bytes)",
            ));
        }
        if let Some(pem) = &self.trust_anchor_pem {
            if !pem.contains("-----BEGIN CERTIFICATE-----") || pem.len() > 64 * 1024 {
                return Err(invalid(
                    "trust_anchor_pem",
                    "must hold PEM certificates (≤ 64 KiB)",
                ));
            }
        }
        Ok(())
    }

    /// The metadata's canonical encoding (docs/FORMAT.md section 3).
    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and integers always serializes")
    }
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid JSON for a transfer: {0}")]
    Json(serde_json::Error),
    #[error("the manifest has an {0}")]
    Field(InvalidField),
}

fn check_chars(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), InvalidField> {
    if value.is_empty() || value.len() > max || !value.chars().all(allowed) {
        return Err(invalid(
            field,
            format!("must be 1 to {max} allowed characters"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), InvalidField> {
    let count = value.chars().count();
    if count == 0 || count > max {
        return Err(invalid(field, format!("must be 1 to {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_bucket(bucket: &str) -> Result<(), InvalidField> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edges_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !(3..=63).contains(&bucket.len())
        || !bucket.chars().all(allowed)
        || !edges_ok(bucket.chars().next())
        || !edges_ok(bucket.chars().last())
    {
        return Err(invalid(
            "bucket",
            "must be an S3 bucket name (3 to 63 of a-z 0-9 . -)",
        ));
    }
    Ok(())
}

/// `scheme://host[:port]`: an endpoint of the credentials provider or of S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    /// The host as written in the URL: a DNS name, an IPv4 address or `[IPv6]`.
    pub host: String,
    pub port: u16,
}

/// Why an endpoint URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "must start with https:// (http:// only for this computer: localhost, 127.0.0.1, [::1])"
    )]
    Scheme,
    #[error("must be scheme://host[:port] with nothing after the host and port")]
    Shape,
    #[error("has an invalid host name")]
    Host,
    #[error("has an invalid port")]
    Port,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(EndpointError::Scheme);
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(EndpointError::Shape);
        }
        let (host, port) = split_host_port(rest)?;
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(EndpointError::Port)?,
        };
        let endpoint = Endpoint {
            tls,
            host: host.to_ascii_lowercase(),
            port,
        };
        if !tls && !endpoint.is_loopback() {
            return Err(EndpointError::Scheme);
        }
        Ok(endpoint)
    }

    /// True for `localhost`, `127.0.0.0/8` and `[::1]`.
    pub fn is_loopback(&self) -> bool {
        if self.host == "localhost" || self.host == "[::1]" {
            return true;
        }
        self.host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), EndpointError> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(EndpointError::Host)?;
        let (host, after) = authority.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(EndpointError::Shape)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if !host_ok {
        return Err(EndpointError::Host);
    }
    Ok((host, port))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_manifest() -> String {
        serde_json::json!({
            "transfer_id": "3f1c0e7d9b",
            "credentials_endpoint": "https://c2abc.credentials.iot.ap-northeast-1.amazonaws.com",
            "role_alias": "certdrop-receiver",
            "region": "ap-northeast-1",
            "bucket": "acme-transfers",
            "key": "transfers/3f1c0e7d9b/資料/見積書 2026 (最終版)+v2.zip",
            "size": 3_000_000_000u64,
            "sha256": "ab".repeat(32),
            "file_name": "見積書 2026 (最終版)+v2.zip",
            "expires_at": "2026-12-10T09:00:00+09:00",
            "sender": "Sato, Example Corp",
            "note": "Here are the drawings.",
        })
        .to_string()
    }

    #[test]
    fn manifest_gets_the_default_receipt_prefix_and_utc_expiry() {
        let info = TransferInfo::from_manifest(&sample_manifest()).unwrap();
        assert_eq!(info.receipt_prefix, "receipts/3f1c0e7d9b/");
        assert_eq!(info.expires_at.to_rfc3339(), "2026-12-10T00:00:00+00:00");
        let json = info.to_canonical_json();
        assert!(json.starts_with(r#"{"transfer_id":"3f1c0e7d9b","credentials_endpoint""#));
        assert!(
            json.contains(r#""expires_at":"2026-12-10T00:00:00Z""#),
            "{json}"
        );
    }

    #[test]
    fn the_extra_trust_anchor_reaches_s3_only_at_the_envelopes_own_endpoint() {
        let mut info = TransferInfo::from_manifest(&sample_manifest()).unwrap();
        info.trust_anchor_pem = Some("-----BEGIN CERTIFICATE-----".into());
        assert_eq!(info.s3_trust_anchor(), None, "AWS's S3: system roots only");
        info.s3_endpoint = Some("https://s3.internal.example".into());
        assert_eq!(info.s3_trust_anchor(), Some("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn unknown_manifest_keys_are_an_error() {
        let mut value: serde_json::Value = serde_json::from_str(&sample_manifest()).unwrap();
        value["bukcet"] = "typo".into();
        let err = TransferInfo::from_manifest(&value.to_string()).unwrap_err();
        assert!(err.to_string().contains("unknown field `bukcet`"), "{err}");
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("sha256", serde_json::json!("AB".repeat(32))),
            ("bucket", serde_json::json!("-bad")),
            (
                "credentials_endpoint",
                serde_json::json!("http://example.com"),
            ),
            (
                "credentials_endpoint",
                serde_json::json!("https://example.com/path"),
            ),
            ("s3_endpoint", serde_json::json!("ftp://example.com")),
            ("transfer_id", serde_json::json!("../x")),
            ("file_name", serde_json::json!("a\u{7}b")),
            ("receipt_prefix", serde_json::json!("receipts/x")),
        ];
        for (field, value) in cases {
            let mut manifest: serde_json::Value = serde_json::from_str(&sample_manifest()).unwrap();
            manifest[field] = value.clone();
            match TransferInfo::from_manifest(&manifest.to_string()) {
                Err(ManifestError::Field(e)) => assert_eq!(e.field, field, "{value}"),
                other => panic!("{field} = {value} gave {other:?}"),
            }
        }
    }

    #[test]
    fn endpoints_allow_plain_http_only_on_loopback() {
        let ok = [
            ("https://example.com", "https://example.com:443"),
            ("https://Example.com:8443/", "https://example.com:8443"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://localhost:1", "http://localhost:1"),
            ("https://[::1]:4443", "https://[::1]:4443"),
            ("http://[::1]", "http://[::1]:80"),
        ];
        for (url, shown) in ok {
            assert_eq!(Endpoint::parse(url).unwrap().to_string(), shown);
        }
        let refused = [
            ("http://10.0.0.1", EndpointError::Scheme),
            ("http://localhost.example.com", EndpointError::Scheme),
            ("https://a.com:0", EndpointError::Port),
            ("https://a.com:99999", EndpointError::Port),
            ("https://user@a.com", EndpointError::Shape),
            ("https://", EndpointError::Shape),
            ("https://a_b!.com", EndpointError::Host),
            ("https://[zz]:1", EndpointError::Host),
        ];
        for (url, err) in refused {
            assert_eq!(Endpoint::parse(url), Err(err), "{url}");
        }
    }
}
