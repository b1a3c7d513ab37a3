//! The stand-ins tested over real sockets, with the client the receiver uses: reqwest on
//! native-tls (OpenSSL here), a client certificate and the test CA as the only root.

mod credentials;
mod moto;
mod s3;

use std::process::Command;

use reqwest::{Client, Method, Response, Url};
use serde_json::Value;

use super::pki::IssuedCert;
use super::{signed, Stack, StackConfig};
use crate::sigv4::{self, Credentials};

/// A stack with the default configuration.
fn stack() -> Stack {
    Stack::start(StackConfig::default()).expect("the stand-ins start")
}

/// How the test client does TLS.
#[derive(Clone, Copy, Default)]
struct TlsOptions {
    /// Cap the client at TLS 1.2, as Wine's Schannel is.
    tls12_only: bool,
}

/// A client trusting only `ca_pem`, presenting `identity` when given.
fn client(ca_pem: &str, identity: Option<&IssuedCert>, options: TlsOptions) -> Client {
    let mut tls = native_tls::TlsConnector::builder();
    tls.disable_built_in_roots(true);
    tls.add_root_certificate(native_tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
    if let Some(identity) = identity {
        let cert = identity.cert_pem().as_bytes();
        let key = identity.key_pem().as_bytes();
        tls.identity(native_tls::Identity::from_pkcs8(cert, key).unwrap());
    }
    if options.tls12_only {
        tls.max_protocol_version(Some(native_tls::Protocol::Tlsv12));
    }
    let connector = tls.build().expect("native-tls accepts the test identity");
    Client::builder()
        .tls_backend_preconfigured(connector)
        .no_proxy()
        .build()
        .unwrap()
}

/// A plain-HTTP client for the S3 stand-ins.
fn http_client() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

/// `GET` the stack's credentials URL with `identity`.
async fn request_credentials(stack: &Stack, identity: &IssuedCert) -> reqwest::Result<Response> {
    let client = client(stack.ca_pem(), Some(identity), TlsOptions::default());
    client.get(stack.credentials_url()).send().await
}

/// The `credentials` object of a 200 answer, as signing credentials.
async fn credentials_from(response: Response) -> Credentials {
    assert_eq!(response.status(), 200, "credentials request refused");
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let fields = &body["credentials"];
    let text = |name: &str| fields[name].as_str().unwrap().to_owned();
    // No expiration: the tests want to see S3, not the signer, refuse expired credentials.
    Credentials::new(text("accessKeyId"), text("secretAccessKey"))
        .with_session_token(text("sessionToken"))
}

/// A signed request to a path-style S3 endpoint.
async fn s3_request(
    endpoint: &str,
    region: &str,
    credentials: &Credentials,
    method: Method,
    bucket_and_key: (&str, &str),
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    let (bucket, key) = bucket_and_key;
    let url = Url::parse(&format!("{endpoint}/{bucket}{}", sigv4::s3_key_path(key))).unwrap();
    let settings = signed::s3_settings(region, &body);
    let client = http_client();
    signed::send(&client, credentials, &settings, method, url, headers, body)
        .await
        .expect("the S3 stand-in answers")
}

/// A signed GET of one object from the stack's bucket.
async fn s3_get(stack: &Stack, credentials: &Credentials, key: &str) -> Response {
    let target = (stack.bucket(), key);
    let endpoint = stack.s3_endpoint();
    s3_request(
        &endpoint,
        stack.region(),
        credentials,
        Method::GET,
        target,
        &[],
        Vec::new(),
    )
    .await
}

/// The `<Code>` of an S3 error answer.
async fn s3_error_code(response: Response) -> String {
    let body = response.text().await.unwrap();
    super::moto::xml_text(&body, "Code").unwrap_or_else(|| panic!("no error code in {body}"))
}

/// A 2048-bit RSA key in PKCS#8 PEM from OpenSSL, as the Wine tests make them.
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
