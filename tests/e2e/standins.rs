//! The stand-ins through their public API only, as the other end-to-end tests and
//! `certdrop demo` use them: credentials over mutual TLS, then signed S3 requests.

use std::process::Command;

use certdrop::sigv4::{self, Credentials};
use certdrop::standins::pki::IssuedCert;
use certdrop::standins::{signed, Stack, StackConfig};
use reqwest::{Client, Method, Response, Url};
use serde_json::Value;

use crate::support::{moto_setup, MotoSetup};

const REPORT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The receiver's kind of client: native-tls, the test CA as the only root, and `identity`,
/// capped at TLS 1.2 as Wine's Schannel is.
fn tls12_client(ca_pem: &str, identity: &IssuedCert) -> Client {
    let cert = identity.cert_pem().as_bytes();
    let key = identity.key_pem().as_bytes();
    let connector = native_tls::TlsConnector::builder()
        .disable_built_in_roots(true)
        .add_root_certificate(native_tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .identity(native_tls::Identity::from_pkcs8(cert, key).unwrap())
        .max_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .build()
        .unwrap();
    Client::builder()
        .tls_backend_preconfigured(connector)
        .no_proxy()
        .build()
        .unwrap()
}

/// Fetches credentials for `identity` from the stack's role alias.
async fn fetch_credentials(stack: &Stack, identity: &IssuedCert) -> Response {
    let client = tls12_client(stack.ca_pem(), identity);
    client.get(stack.credentials_url()).send().await.unwrap()
}

/// The signing credentials in a 200 answer of the emulator.
async fn credentials_of(response: Response) -> Credentials {
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let field = |name: &str| body["credentials"][name].as_str().unwrap().to_owned();
    let expiration = field("expiration").parse().unwrap();
    Credentials::new(field("accessKeyId"), field("secretAccessKey"))
        .with_session_token(field("sessionToken"))
        .with_expiration(expiration)
}

/// A signed path-style S3 request.
async fn s3(
    endpoint: &str,
    credentials: &Credentials,
    method: Method,
    bucket: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let url = Url::parse(&format!("{endpoint}/{bucket}{}", sigv4::s3_key_path(key))).unwrap();
    let settings = signed::s3_settings("us-east-1", body);
    let client = Client::builder().no_proxy().build().unwrap();
    let sent = signed::send(
        &client,
        credentials,
        &settings,
        method,
        url,
        headers,
        body.to_vec(),
    );
    sent.await.expect("the S3 stand-in answers")
}

fn openssl_rsa_key() -> String {
    let output = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(output.status.success(), "openssl genpkey failed");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn wine_style_identity_downloads_a_range_and_writes_its_receipt() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let identity = stack
        .issue_client_for_key("recipient", &openssl_rsa_key())
        .unwrap();
    let id = identity.certificate_id();
    let key = format!("transfers/{id}/report.zip");
    stack.put_object(&key, REPORT).unwrap();
    let credentials = credentials_of(fetch_credentials(&stack, &identity).await).await;
    let (endpoint, bucket) = (stack.s3_endpoint(), stack.bucket().to_owned());

    let range = [("range", "bytes=10-19")];
    let part = s3(
        &endpoint,
        &credentials,
        Method::GET,
        &bucket,
        &key,
        &range,
        b"",
    )
    .await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), &REPORT[10..20]);

    let receipt = format!("receipts/{id}/receipt.json");
    let put = s3(
        &endpoint,
        &credentials,
        Method::PUT,
        &bucket,
        &receipt,
        &[],
        b"{}",
    )
    .await;
    assert_eq!(put.status(), 200);
    assert_eq!(stack.list("receipts/").unwrap(), [receipt]);
}

#[tokio::test]
async fn revoked_transfer_gets_no_new_credentials_but_issued_ones_live_on() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let identity = stack.issue_client("recipient").unwrap();
    let key = format!("transfers/{}/report.zip", identity.certificate_id());
    stack.put_object(&key, REPORT).unwrap();
    let credentials = credentials_of(fetch_credentials(&stack, &identity).await).await;

    stack.revoke(&identity.certificate_id());
    let refused = fetch_credentials(&stack, &identity).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["x-amzn-ErrorType"], "ForbiddenException");

    // As on AWS: revoking stops new credentials, not those already issued.
    let (endpoint, bucket) = (stack.s3_endpoint(), stack.bucket().to_owned());
    let get = s3(
        &endpoint,
        &credentials,
        Method::GET,
        &bucket,
        &key,
        &[],
        b"",
    )
    .await;
    assert_eq!(get.status(), 200);
}

#[tokio::test]
async fn moto_mode_stack_hands_out_credentials_moto_scopes_to_the_transfer() {
    // moto with an admin user, a bucket with two transfers, and authentication on.
    let bucket = "certdrop-moto";
    let MotoSetup {
        moto,
        admin: moto_admin,
        stack,
    } = moto_setup(bucket).await;
    let identity = stack.issue_client("recipient").unwrap();
    let own = format!("transfers/{}/report.zip", identity.certificate_id());
    let other = format!("transfers/{}/report.zip", "9".repeat(64));
    for key in [&own, &other] {
        moto_admin.put_object(bucket, key, REPORT).await.unwrap();
    }
    moto_admin.enable_auth().await.unwrap();

    let credentials = credentials_of(fetch_credentials(&stack, &identity).await).await;
    let get = |key: String| {
        let credentials = credentials.clone();
        let endpoint = moto.endpoint().to_owned();
        async move { s3(&endpoint, &credentials, Method::GET, bucket, &key, &[], b"").await }
    };
    let allowed = get(own).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.bytes().await.unwrap(), REPORT);
    assert_eq!(
        get(other).await.status(),
        403,
        "moto let a certificate read another transfer"
    );
}
