use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::secret::REDACTED;

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("test timestamps are RFC 3339")
}

fn request(path: &str, headers: &[(&str, &str)]) -> SignableRequest {
    SignableRequest {
        method: "GET".to_owned(),
        path: path.to_owned(),
        query: String::new(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        time: at("2026-01-15T09:30:00Z"),
    }
}

fn host_only(path: &str) -> SignableRequest {
    request(path, &[("Host", "bucket.s3.ap-northeast-1.amazonaws.com")])
}

fn generic(normalize: bool) -> SigningSettings {
    SigningSettings {
        service: "service".to_owned(),
        region: "us-east-1".to_owned(),
        rules: UriRules::Generic { normalize },
        session_token_mode: SessionTokenMode::SignedToken,
        payload: PayloadHash::EmptyBody,
        add_content_sha256_header: false,
    }
}

/// The second line of the canonical request.
fn canonical_uri_of(request: &SignableRequest, settings: &SigningSettings) -> String {
    let canonical = CanonicalRequest::build(request, settings, None).expect("request is valid");
    canonical
        .to_string()
        .lines()
        .nth(1)
        .expect("line 2 is the URI")
        .to_owned()
}

#[test]
fn s3_key_path_encodes_a_utf8_key_once_keeping_slashes() {
    let want = "/%E8%B3%87%E6%96%99/%E8%A6%8B%E7%A9%8D%E6%9B%B8%202026\
                %20%28%E6%9C%80%E7%B5%82%E7%89%88%29%2Bv2.zip";
    assert_eq!(s3_key_path("資料/見積書 2026 (最終版)+v2.zip"), want);
}

#[test]
fn s3_signs_the_utf8_key_path_exactly_as_sent() {
    let path = s3_key_path("資料/見積書 2026 (最終版)+v2.zip");
    let settings = SigningSettings::s3("ap-northeast-1", PayloadHash::UnsignedPayload);
    assert_eq!(canonical_uri_of(&host_only(&path), &settings), path);
}

#[test]
fn s3_rules_never_normalize_dot_segments() {
    let settings = SigningSettings::s3("ap-northeast-1", PayloadHash::EmptyBody);
    let uri = canonical_uri_of(&host_only("/a/./b/../c"), &settings);
    assert_eq!(uri, "/a/./b/../c");
    let uri = canonical_uri_of(&host_only("//a//b/"), &settings);
    assert_eq!(uri, "//a//b/");
}

#[test]
fn s3_rules_encode_once_where_generic_rules_encode_twice() {
    let path = s3_key_path("a b/c%d");
    assert_eq!(path, "/a%20b/c%25d");
    let s3 = SigningSettings::s3("ap-northeast-1", PayloadHash::EmptyBody);
    assert_eq!(canonical_uri_of(&host_only(&path), &s3), "/a%20b/c%25d");
    assert_eq!(
        canonical_uri_of(&host_only(&path), &generic(true)),
        "/a%2520b/c%2525d"
    );
}

#[test]
fn s3_rules_encode_raw_characters_and_uppercase_lowercase_escapes() {
    let settings = SigningSettings::s3("ap-northeast-1", PayloadHash::EmptyBody);
    assert_eq!(
        canonical_uri_of(&host_only("/a b/%e8%b3%87"), &settings),
        "/a%20b/%E8%B3%87"
    );
}

#[test]
fn generic_rules_normalize_only_when_asked() {
    let path = "//a/./b/../c/";
    assert_eq!(canonical_uri_of(&host_only(path), &generic(true)), "/a/c/");
    assert_eq!(canonical_uri_of(&host_only(path), &generic(false)), path);
}

#[test]
fn content_sha256_header_is_sent_and_signed() {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret");
    for (payload, want) in [
        (PayloadHash::UnsignedPayload, "UNSIGNED-PAYLOAD"),
        (PayloadHash::EmptyBody, EMPTY_SHA256),
        (PayloadHash::sha256_of(b""), EMPTY_SHA256),
    ] {
        let settings = SigningSettings::s3("ap-northeast-1", payload);
        let request = host_only("/key");
        let canonical = CanonicalRequest::build(&request, &settings, None).expect("valid");
        let text = canonical.to_string();
        assert!(
            text.contains(&format!("\nx-amz-content-sha256:{want}\n")),
            "{text}"
        );
        assert_eq!(
            canonical.signed_headers(),
            "host;x-amz-content-sha256;x-amz-date"
        );
        assert!(text.ends_with(&format!("\n{want}")), "{text}");

        let output = sign(&request, &settings, &credentials).expect("valid");
        assert_eq!(output.header("x-amz-content-sha256"), Some(want));
        let authorization = output.header("Authorization").expect("always added");
        assert!(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    }
}

#[test]
fn content_sha256_header_is_absent_unless_asked() {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret");
    let output = sign(&host_only("/"), &generic(true), &credentials).expect("valid");
    let names: Vec<&str> = output.headers().map(|(name, _)| name).collect();
    assert_eq!(names, ["X-Amz-Date", "Authorization"]);
}

/// AWS's S3 API Reference, "Signature Calculations for the Authorization Header", example
/// "GET Object": the first ten bytes of `test.txt` in `examplebucket`.
#[test]
fn aws_s3_get_object_example_gives_the_published_signature() {
    let credentials = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let settings = SigningSettings::s3("us-east-1", PayloadHash::EmptyBody);
    let mut request = request(
        "/test.txt",
        &[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
        ],
    );
    request.time = Utc
        .with_ymd_and_hms(2013, 5, 24, 0, 0, 0)
        .single()
        .expect("valid date");

    // Each line follows from the rules: S3 path, no query, four sorted headers.
    let canonical = CanonicalRequest::build(&request, &settings, None).expect("valid");
    let want_canonical = format!(
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
         x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n\
         host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    );
    assert_eq!(canonical.to_string(), want_canonical);

    let scope = CredentialScope::new(request.time, "us-east-1", "s3");
    let string_to_sign = StringToSign::new(request.time, scope, &canonical);
    let want_string_to_sign = "AWS4-HMAC-SHA256\n20130524T000000Z\n\
         20130524/us-east-1/s3/aws4_request\n\
         7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
    assert_eq!(string_to_sign.to_string(), want_string_to_sign);

    let want_signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let key = SigningKey::derive(&credentials, string_to_sign.scope());
    assert_eq!(key.sign(&string_to_sign).as_hex(), want_signature);

    let output = sign(&request, &settings, &credentials).expect("valid");
    let want_authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature={want_signature}"
    );
    assert_eq!(
        output.header("authorization"),
        Some(want_authorization.as_str())
    );
    assert_eq!(output.header("x-amz-date"), Some("20130524T000000Z"));
}

#[test]
fn session_token_is_signed_for_s3() {
    let credentials = Credentials::new("ASIAEXAMPLE", "secret").with_session_token("tok");
    let settings = SigningSettings::s3("ap-northeast-1", PayloadHash::EmptyBody);
    let output = sign(&host_only("/k"), &settings, &credentials).expect("valid");
    assert_eq!(output.header("X-Amz-Security-Token"), Some("tok"));
    let authorization = output.header("Authorization").expect("always added");
    let want = "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,";
    assert!(authorization.contains(want), "{authorization}");
}

#[test]
fn session_token_added_after_signing_is_sent_but_not_signed() {
    let credentials = Credentials::new("ASIAEXAMPLE", "secret").with_session_token("tok");
    let mut settings = generic(true);
    settings.session_token_mode = SessionTokenMode::AddedAfterSigning;
    let output = sign(&host_only("/"), &settings, &credentials).expect("valid");
    assert_eq!(output.header("X-Amz-Security-Token"), Some("tok"));
    let authorization = output.header("Authorization").expect("always added");
    assert!(
        authorization.contains("SignedHeaders=host;x-amz-date,"),
        "{authorization}"
    );
}

#[test]
fn headers_are_lowercased_folded_joined_and_sorted() {
    let request = request(
        "/",
        &[
            ("Host", "h"),
            ("My-Header", "  b \n   c  "),
            ("A-Header", "x\t\ty"),
            ("my-header", "a"),
        ],
    );
    let canonical = CanonicalRequest::build(&request, &generic(true), None).expect("valid");
    let text = canonical.to_string();
    let headers: Vec<&str> = text.lines().skip(3).take(4).collect();
    assert_eq!(
        headers,
        [
            "a-header:x y",
            "host:h",
            "my-header:b c,a",
            "x-amz-date:20260115T093000Z"
        ]
    );
}

#[test]
fn request_without_host_is_refused() {
    let request = request("/", &[("Range", "bytes=0-9")]);
    let credentials = Credentials::new("AKIDEXAMPLE", "secret");
    let refused = sign(&request, &generic(true), &credentials).unwrap_err();
    assert_eq!(refused, SigningError::MissingHost);
}

#[test]
fn headers_that_signing_sets_are_refused_in_the_request() {
    let credentials = Credentials::new("ASIAEXAMPLE", "secret").with_session_token("tok");
    let settings = SigningSettings::s3("ap-northeast-1", PayloadHash::EmptyBody);
    for name in [
        "Authorization",
        "X-Amz-Date",
        "x-amz-security-token",
        "X-Amz-Content-Sha256",
    ] {
        let request = request("/", &[("Host", "h"), (name, "v")]);
        let refused = sign(&request, &settings, &credentials).unwrap_err();
        assert_eq!(
            refused,
            SigningError::ReservedHeader(name.to_ascii_lowercase())
        );
    }
}

#[test]
fn invalid_header_names_are_refused() {
    for name in ["", "bad name", "bad:name", "名前"] {
        let request = request("/", &[("Host", "h"), (name, "v")]);
        let refused = CanonicalRequest::build(&request, &generic(true), None).unwrap_err();
        assert_eq!(refused, SigningError::InvalidHeaderName(name.to_owned()));
    }
}

#[test]
fn malformed_precomputed_payload_hash_is_refused() {
    for hash in [
        "",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "abc",
    ] {
        let mut settings = generic(true);
        settings.payload = PayloadHash::Precomputed(hash.to_owned());
        let refused = CanonicalRequest::build(&host_only("/"), &settings, None).unwrap_err();
        assert_eq!(refused, SigningError::InvalidPayloadHash(hash.to_owned()));
    }
}

#[test]
fn expired_credentials_are_refused_before_signing() {
    let request = host_only("/");
    let expired_at = request.time;
    let credentials = Credentials::new("ASIAEXAMPLE", "s").with_expiration(expired_at);
    let refused = sign(&request, &generic(true), &credentials).unwrap_err();
    let access_key_id = "ASIAEXAMPLE".to_owned();
    assert_eq!(
        refused,
        SigningError::ExpiredCredentials {
            access_key_id,
            expired_at
        }
    );

    let later = Credentials::new("ASIAEXAMPLE", "s")
        .with_expiration(expired_at + chrono::Duration::seconds(1));
    assert!(sign(&request, &generic(true), &later).is_ok());
}

#[test]
fn credentials_debug_shows_the_key_id_but_redacts_secret_and_token() {
    let credentials =
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/SECRET").with_session_token("SESSIONTOKEN");
    let shown = format!("{credentials:?} {credentials:#?}");
    assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(!shown.contains("SESSIONTOKEN"), "{shown}");
    assert_eq!(shown.matches(REDACTED).count(), 4, "{shown}");
}

#[test]
fn signing_output_and_key_debug_hide_secrets() {
    let credentials = Credentials::new("AKIDEXAMPLE", "SECRET").with_session_token("TOKEN");
    let output = sign(&host_only("/"), &generic(true), &credentials).expect("valid");
    let scope = CredentialScope::new(at("2026-01-15T00:00:00Z"), "us-east-1", "s3");
    let key = SigningKey::derive(&credentials, &scope);
    let shown = format!("{output:?} {key:?} {:?}", host_only("/"));
    assert!(!shown.contains("TOKEN"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(REDACTED), "{shown}");
}

#[test]
fn request_debug_shows_header_names_only() {
    let request = request(
        "/",
        &[
            ("Host", "h"),
            ("X-Amz-Server-Side-Encryption-Customer-Key", "K3Y"),
        ],
    );
    let shown = format!("{request:?}");
    assert!(
        shown.contains("X-Amz-Server-Side-Encryption-Customer-Key"),
        "{shown}"
    );
    assert!(!shown.contains("K3Y"), "{shown}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// S3 signs any key's path exactly as [`s3_key_path`] writes it for the URL.
        #[test]
        fn s3_signs_every_key_path_as_sent(key in any::<String>()) {
            let path = s3_key_path(&key);
            let settings = SigningSettings::s3("us-east-1", PayloadHash::EmptyBody);
            prop_assert_eq!(canonical_uri_of(&host_only(&path), &settings), path);
        }

        /// An encoded key holds only unreserved bytes, `/` and `%XX` with uppercase hex.
        #[test]
        fn s3_key_path_holds_only_safe_characters(key in any::<String>()) {
            let path = s3_key_path(&key);
            let stripped = path.split('%').skip(1).all(|rest| {
                rest.len() >= 2 && rest[..2].bytes().all(|b| b.is_ascii_digit()
                    || (b'A'..=b'F').contains(&b))
            });
            prop_assert!(stripped, "{}", path);
            let safe = |b: u8| b.is_ascii_alphanumeric() || b"-_.~/%".contains(&b);
            prop_assert!(path.bytes().all(safe), "{}", path);
        }
    }
}
