//! Cross-checks certdrop's hand-written SigV4 signer (certdrop::sigv4) against aws-sigv4, the
//! AWS SDK for Rust's signer, on randomized S3 requests: for the same request, credentials,
//! region and time, both must add the same headers and the same `Authorization`.
//!
//! aws-sigv4 gets S3's settings: the path taken as sent (`PercentEncodingMode::Single`), never
//! normalized, `x-amz-content-sha256` added and signed, and the session token signed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    self as aws, PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

use certdrop::sigv4::{self, s3_key_path, Credentials, PayloadHash, SignableRequest};

/// One S3 request, as both signers get it.
#[derive(Clone, Debug)]
struct S3Request {
    method: &'static str,
    bucket: String,
    key: String,
    /// Raw query string, already encoded as it is sent (empty for none).
    query: String,
    /// Header names as sent (any case) and values (possibly with extra spaces).
    headers: Vec<(String, String)>,
    region: String,
    time: DateTime<Utc>,
    payload: Payload,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

#[derive(Clone, Debug)]
enum Payload {
    Unsigned,
    Empty,
    Sha256(String),
}

impl S3Request {
    fn host(&self) -> String {
        format!("{}.s3.{}.amazonaws.com", self.bucket, self.region)
    }

    /// Every header sent before signing, `host` first.
    fn all_headers(&self) -> Vec<(String, String)> {
        let host = ("host".to_owned(), self.host());
        std::iter::once(host)
            .chain(self.headers.iter().cloned())
            .collect()
    }
}

/// The headers certdrop's signer adds, with lowercase names.
fn sign_with_certdrop(request: &S3Request) -> BTreeMap<String, String> {
    let signable = SignableRequest {
        method: request.method.to_owned(),
        path: s3_key_path(&request.key),
        query: request.query.clone(),
        headers: request.all_headers(),
        time: request.time,
    };
    let payload = match &request.payload {
        Payload::Unsigned => PayloadHash::UnsignedPayload,
        Payload::Empty => PayloadHash::EmptyBody,
        Payload::Sha256(hex) => PayloadHash::Precomputed(hex.clone()),
    };
    let settings = sigv4::SigningSettings::s3(&request.region, payload);
    let mut credentials = Credentials::new(&request.access_key_id, &request.secret_access_key);
    if let Some(token) = &request.session_token {
        credentials = credentials.with_session_token(token);
    }
    let output = sigv4::sign(&signable, &settings, &credentials)
        .unwrap_or_else(|e| panic!("certdrop refused {request:?}: {e}"));
    let added = output.headers();
    added
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect()
}

/// The headers aws-sigv4 adds, with lowercase names.
fn sign_with_aws(request: &S3Request) -> BTreeMap<String, String> {
    let credentials = aws_credential_types::Credentials::new(
        &request.access_key_id,
        &request.secret_access_key,
        request.session_token.clone(),
        None,
        "crosscheck",
    );
    let identity: Identity = credentials.into();

    let mut settings = aws::SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.session_token_mode = SessionTokenMode::Include;
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(request.time.timestamp() as u64);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&request.region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .expect("every parameter is set")
        .into();

    let mut uri = format!("https://{}{}", request.host(), s3_key_path(&request.key));
    if !request.query.is_empty() {
        uri = format!("{uri}?{}", request.query);
    }
    let headers = request.all_headers();
    let body = match &request.payload {
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Empty => SignableBody::Bytes(&[]),
        Payload::Sha256(hex) => SignableBody::Precomputed(hex.clone()),
    };
    let pairs = headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let signable = aws::SignableRequest::new(request.method, uri, pairs, body)
        .unwrap_or_else(|e| panic!("aws-sigv4 refused {request:?}: {e}"));
    let (instructions, _signature) = aws::sign(signable, &params)
        .unwrap_or_else(|e| panic!("aws-sigv4 could not sign {request:?}: {e}"))
        .into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect()
}

// Strategies: what a real S3 request of certdrop's can hold, and the awkward cases of keys.

/// One key segment: ASCII letters and digits, the characters S3 keys often carry that need
/// encoding (space, `+`, `(`, `)`, `%`, `=`, `&`, ...), the unreserved `-_.~`, and UTF-8.
fn key_segment() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[A-Za-z0-9]{1,6}",
        2 => prop::sample::select(vec![
            " ", "+", "(", ")", "~", "-", "_", ".", "!", "*", "'", "%", "=", "&", "@", ",",
            ";", ":", "$", "?", "#", "[", "]", "^", "`", "{", "}", "|", "\\", "\"", "<", ">",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "見積書", "資料", "最終版", "é", "ß", "Ω", "😀", "\u{a0}", "한글", "ñ",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![".", ".."]).prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat())
}

/// An S3 key: 1 to 5 `/`-separated segments (segments may be empty, `.` or `..`), never
/// empty as a whole.
fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(key_segment(), 1..6)
        .prop_map(|segments| segments.join("/"))
        .prop_filter("S3 keys are not empty", |key| !key.is_empty())
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "us-east-1",
            "ap-northeast-1",
            "eu-central-1",
            "us-gov-west-1",
            "cn-north-1",
        ])
        .prop_map(str::to_owned),
        "[a-z]{2}-[a-z]{4,9}-[1-9]",
    ]
}

/// Seconds between 2000-01-01 and 2099-12-31, whole seconds as `x-amz-date` has.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..4_102_358_400).prop_map(|secs| {
        DateTime::from_timestamp(secs, 0).expect("the range holds valid timestamps")
    })
}

/// A header name in one of the cases a client may send it in.
fn cased(name: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(name.to_owned()),
        Just(name.to_ascii_lowercase()),
        Just(name.to_ascii_uppercase()),
    ]
}

/// A value surrounded by, or holding runs of, plain spaces that signing folds.
fn spaced(value: String) -> impl Strategy<Value = String> {
    (0usize..3, 0usize..3).prop_map(move |(before, after)| {
        format!("{}{value}{}", " ".repeat(before), " ".repeat(after))
    })
}

fn range_header() -> impl Strategy<Value = (String, String)> {
    let value = (0u64..1 << 40, 0u64..1 << 30)
        .prop_map(|(start, len)| format!("bytes={start}-{}", start + len));
    (cased("Range"), value)
}

fn if_match_header() -> impl Strategy<Value = (String, String)> {
    let etag = prop_oneof![
        "[0-9a-f]{32}".prop_map(|hex| format!("\"{hex}\"")),
        "[0-9a-f]{32}".prop_map(|hex| format!("\"{hex}-12\"")),
        "[0-9a-f]{8}".prop_map(|hex| format!("\"{hex}\",  \"{hex}\"")),
    ];
    (cased("If-Match"), etag.prop_flat_map(spaced))
}

/// Optional query parameters an S3 GET or HEAD may carry, encoded as sent.
fn query() -> impl Strategy<Value = String> {
    let version = "[A-Za-z0-9._]{1,32}".prop_map(|id| format!("versionId={id}"));
    let part = (1u32..=10_000).prop_map(|n| format!("partNumber={n}"));
    (prop::option::of(version), prop::option::of(part)).prop_map(|(version, part)| {
        let params: Vec<String> = [part, version].into_iter().flatten().collect();
        params.join("&")
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::Unsigned),
        Just(Payload::Empty),
        "[0-9a-f]{64}".prop_map(Payload::Sha256),
    ]
}

fn s3_request() -> impl Strategy<Value = S3Request> {
    let method = prop::sample::select(vec!["GET", "HEAD", "PUT"]);
    let headers = (
        prop::option::of(range_header()),
        prop::option::of(if_match_header()),
    );
    let credentials = (
        "AKIA[A-Z2-7]{16}",
        "[A-Za-z0-9/+]{40}",
        prop::option::of("[A-Za-z0-9/+]{16,300}={0,2}"),
    );
    let target = (
        "[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]",
        key(),
        query(),
        region(),
        time(),
    );
    (method, target, headers, payload(), credentials).prop_map(
        |(method, target, (range, if_match), payload, credentials)| {
            let (bucket, key, query, region, time) = target;
            let (access_key_id, secret_access_key, session_token) = credentials;
            // A PUT carries no query and no Range: certdrop uploads whole objects.
            let put = method == "PUT";
            let mut headers: Vec<(String, String)> = Vec::new();
            headers.extend(range.filter(|_| !put));
            headers.extend(if_match);
            S3Request {
                method,
                bucket,
                key,
                query: if put { String::new() } else { query },
                headers,
                region,
                time,
                payload,
                access_key_id,
                secret_access_key,
                session_token,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn authorization_matches_aws_sigv4_for_random_s3_requests(request in s3_request()) {
        let ours = sign_with_certdrop(&request);
        let theirs = sign_with_aws(&request);
        prop_assert_eq!(
            ours.get("authorization"),
            theirs.get("authorization"),
            "authorization differs for {:?}",
            request
        );
        prop_assert_eq!(ours, theirs, "the added headers differ for {:?}", request);
    }
}

#[test]
fn both_signers_agree_on_a_fixed_utf8_key_with_a_session_token() {
    // A fixed case, so a change in either signer shows up without proptest's randomness.
    let request = S3Request {
        method: "GET",
        bucket: "acme-transfers".to_owned(),
        key: "transfers/3f1c/資料/見積書 2026 (最終版)+v2~final.zip".to_owned(),
        query: String::new(),
        headers: vec![("Range".to_owned(), "bytes=0-1048575".to_owned())],
        region: "ap-northeast-1".to_owned(),
        time: "2026-01-15T09:30:00Z".parse().expect("RFC 3339"),
        payload: Payload::Unsigned,
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        session_token: Some("FwoGZXIvYXdzEBaaDExampleToken+/=".to_owned()),
    };
    let ours = sign_with_certdrop(&request);
    assert_eq!(ours, sign_with_aws(&request));
    let authorization = &ours["authorization"];
    let signed_headers = "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;\
                          x-amz-security-token,";
    assert!(authorization.contains(signed_headers), "{authorization}");
}
