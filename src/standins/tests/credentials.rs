//! The credentials emulator as the receiver meets it.

use serde_json::Value;

use super::*;
use crate::standins::credentials::{ERROR_TYPE_HEADER, THING_NAME_HEADER};
use crate::standins::pki::TestCa;

/// Checks an error answer: status, `x-amzn-ErrorType` and a `{"message": ...}` body.
async fn assert_aws_error(response: Response, status: u16, error_type: &str) {
    assert_eq!(response.status(), status);
    let header = response
        .headers()
        .get(ERROR_TYPE_HEADER)
        .expect("x-amzn-ErrorType");
    assert_eq!(header, error_type);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let message = body["message"].as_str().expect("a message string");
    assert!(!message.is_empty());
    assert_eq!(body.as_object().unwrap().len(), 1, "only a message: {body}");
}

#[tokio::test]
async fn active_certificate_gets_credentials_in_awss_json_shape() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    let response = request_credentials(&stack, &identity).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let fields = body["credentials"]
        .as_object()
        .expect("a credentials object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    let expected = [
        "accessKeyId",
        "expiration",
        "secretAccessKey",
        "sessionToken",
    ];
    assert_eq!(names, expected);
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only credentials: {body}"
    );

    let access_key = fields["accessKeyId"].as_str().unwrap();
    assert!(access_key.starts_with("ASIA") && access_key.len() == 20);
    let expiration = fields["expiration"].as_str().unwrap();
    let parsed = chrono::NaiveDateTime::parse_from_str(expiration, "%Y-%m-%dT%H:%M:%SZ");
    assert!(
        parsed.is_ok(),
        "expiration {expiration} is not like 2026-12-03T20:00:00Z"
    );

    let stored = stack
        .store()
        .get(access_key)
        .expect("recorded for the S3 stand-in");
    assert_eq!(stored.certificate_id(), identity.certificate_id());
    assert_eq!(
        stored.session_token(),
        fields["sessionToken"].as_str().unwrap()
    );
    assert_eq!(stack.requests_served(), 1);
}

#[tokio::test]
async fn revoked_certificate_gets_403_forbidden_exception() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    stack.revoke(&identity.certificate_id());
    let response = request_credentials(&stack, &identity).await.unwrap();
    assert_aws_error(response, 403, "ForbiddenException").await;
    assert!(
        stack.store().is_empty(),
        "no credentials for a revoked certificate"
    );

    stack.activate(&identity.certificate_id());
    let response = request_credentials(&stack, &identity).await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "re-activated certificate is served again"
    );
}

#[tokio::test]
async fn unregistered_certificate_of_the_right_ca_gets_403() {
    let stack = stack();
    let unregistered = stack.ca().issue_client("never registered").unwrap();
    let response = request_credentials(&stack, &unregistered).await.unwrap();
    assert_aws_error(response, 403, "ForbiddenException").await;
}

#[tokio::test]
async fn unknown_role_alias_gets_404_resource_not_found() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    let client = client(stack.ca_pem(), Some(&identity), TlsOptions::default());
    let url = format!(
        "{}/role-aliases/no-such-alias/credentials",
        stack.credentials_endpoint()
    );
    let response = client.get(url).send().await.unwrap();
    assert_aws_error(response, 404, "ResourceNotFoundException").await;
}

#[tokio::test]
async fn malformed_alias_and_wrong_method_get_400_invalid_request() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    let client = client(stack.ca_pem(), Some(&identity), TlsOptions::default());
    let base = stack.credentials_endpoint();
    let bad_alias = format!("{base}/role-aliases/bad%20alias/credentials");
    let response = client.get(bad_alias).send().await.unwrap();
    assert_aws_error(response, 400, "InvalidRequestException").await;
    let response = client.post(stack.credentials_url()).send().await.unwrap();
    assert_aws_error(response, 400, "InvalidRequestException").await;
}

#[tokio::test]
async fn thing_name_header_is_accepted() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    let client = client(stack.ca_pem(), Some(&identity), TlsOptions::default());
    let request = client
        .get(stack.credentials_url())
        .header(THING_NAME_HEADER, "thing-1");
    assert_eq!(request.send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn no_client_certificate_fails_the_handshake() {
    let stack = stack();
    let anonymous = client(stack.ca_pem(), None, TlsOptions::default());
    let refused = anonymous.get(stack.credentials_url()).send().await;
    assert!(
        refused.is_err(),
        "served without a client certificate: {refused:?}"
    );
    assert_eq!(stack.requests_served(), 0, "no request got past TLS");
}

#[tokio::test]
async fn certificate_from_another_ca_fails_the_handshake() {
    let stack = stack();
    let stranger = TestCa::new("another CA")
        .unwrap()
        .issue_client("recipient")
        .unwrap();
    // Registered, so only the chain check can refuse it.
    stack.activate(&stranger.certificate_id());
    let refused = request_credentials(&stack, &stranger).await;
    assert!(
        refused.is_err(),
        "served a certificate of another CA: {refused:?}"
    );
    assert_eq!(stack.requests_served(), 0);
}

#[tokio::test]
async fn rsa_client_key_over_tls12_gets_credentials() {
    let stack = stack();
    let key = openssl_rsa_key();
    let identity = stack.issue_client_for_key("wine recipient", &key).unwrap();
    assert_eq!(identity.key_pem(), key, "the caller's key is kept as given");
    let tls12 = TlsOptions { tls12_only: true };
    let client = client(stack.ca_pem(), Some(&identity), tls12);
    let response = client.get(stack.credentials_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn server_certificate_is_valid_for_localhost_too() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    let client = client(stack.ca_pem(), Some(&identity), TlsOptions::default());
    let url = stack.credentials_url().replace("127.0.0.1", "localhost");
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn fail_switch_answers_500_internal_failure_then_recovers() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    stack.fail_next_requests(2);
    for _ in 0..2 {
        let response = request_credentials(&stack, &identity).await.unwrap();
        assert_aws_error(response, 500, "InternalFailureException").await;
    }
    let response = request_credentials(&stack, &identity).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(stack.requests_served(), 3);
}

#[tokio::test]
async fn close_switch_drops_connections_without_answer_then_recovers() {
    let stack = stack();
    let identity = stack.issue_client("recipient").unwrap();
    stack.close_next_requests(2);
    for attempt in 0..2 {
        let dropped = request_credentials(&stack, &identity).await;
        assert!(
            dropped.is_err(),
            "attempt {attempt} got an answer: {dropped:?}"
        );
    }
    let response = request_credentials(&stack, &identity).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(stack.requests_served(), 3);
    assert_eq!(stack.store().len(), 1, "dropped requests issued nothing");
}

#[test]
fn dropping_the_stack_stops_both_servers() {
    let stack = stack();
    let ports = [stack.credentials_port(), stack.s3_port()];
    let data_dir = stack.data_dir().to_path_buf();
    for port in ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
    drop(stack);
    for port in ports {
        let refused = std::net::TcpStream::connect(("127.0.0.1", port));
        assert!(refused.is_err(), "port {port} still accepts connections");
    }
    assert!(!data_dir.exists(), "temporary bucket folder left behind");
}
