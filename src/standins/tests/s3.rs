//! The S3 stand-in, reached with credentials from the emulator as the receiver reaches it.

use std::time::Duration;

use super::*;

const REPORT: &[u8] = b"the quarterly report, all of it";

/// A stack holding one object for `identity`'s transfer and one for another transfer;
/// returns the emulator's credentials for `identity` and both keys.
async fn transfer_setup(stack: &Stack) -> (IssuedCert, Credentials, String, String) {
    let identity = stack.issue_client("recipient").unwrap();
    let own = format!("transfers/{}/report.zip", identity.certificate_id());
    let other = format!("transfers/{}/report.zip", "f".repeat(64));
    stack.put_object(&own, REPORT).unwrap();
    stack.put_object(&other, b"someone else's").unwrap();
    let response = request_credentials(stack, &identity).await.unwrap();
    (identity, credentials_from(response).await, own, other)
}

#[tokio::test]
async fn issued_credentials_read_their_own_transfer_and_are_denied_another() {
    let stack = stack();
    let (_, credentials, own, other) = transfer_setup(&stack).await;

    let response = s3_get(&stack, &credentials, &own).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), REPORT);

    let denied = s3_get(&stack, &credentials, &other).await;
    assert_eq!(denied.status(), 403);
    assert_eq!(s3_error_code(denied).await, "AccessDenied");
}

#[tokio::test]
async fn ranged_get_returns_the_asked_bytes() {
    let stack = stack();
    let (_, credentials, own, _) = transfer_setup(&stack).await;
    let target = (stack.bucket(), own.as_str());
    let range = [("range", "bytes=4-13")];
    let endpoint = stack.s3_endpoint();
    let response = s3_request(
        &endpoint,
        stack.region(),
        &credentials,
        Method::GET,
        target,
        &range,
        vec![],
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap(), &REPORT[4..14]);
}

#[tokio::test]
async fn receipt_may_be_written_only_under_its_own_prefix() {
    let stack = stack();
    let (identity, credentials, own, _) = transfer_setup(&stack).await;
    let endpoint = stack.s3_endpoint();
    let put = |key: String| {
        let credentials = credentials.clone();
        let endpoint = endpoint.clone();
        let bucket = stack.bucket().to_owned();
        let region = stack.region().to_owned();
        async move {
            let target = (bucket.as_str(), key.as_str());
            let body = b"{\"verified\":true}".to_vec();
            s3_request(
                &endpoint,
                &region,
                &credentials,
                Method::PUT,
                target,
                &[],
                body,
            )
            .await
        }
    };

    let receipt = format!("receipts/{}/receipt.json", identity.certificate_id());
    assert_eq!(put(receipt.clone()).await.status(), 200);
    assert_eq!(
        stack.get_object(&receipt).unwrap().unwrap(),
        b"{\"verified\":true}"
    );

    let elsewhere = put(format!("receipts/{}/receipt.json", "e".repeat(64))).await;
    assert_eq!(s3_error_code(elsewhere).await, "AccessDenied");
    let overwrite = put(own.clone()).await;
    assert_eq!(s3_error_code(overwrite).await, "AccessDenied");
    assert_eq!(stack.get_object(&own).unwrap().unwrap(), REPORT);
}

#[tokio::test]
async fn expired_credentials_are_refused_by_s3() {
    let stack = stack();
    stack.set_credential_lifetime(Duration::from_secs(2));
    let (_, credentials, own, _) = transfer_setup(&stack).await;
    assert_eq!(s3_get(&stack, &credentials, &own).await.status(), 200);

    let issued = stack.store().get(credentials.access_key_id()).unwrap();
    let left = (issued.expiration() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    let expired = s3_get(&stack, &credentials, &own).await;
    assert_eq!(expired.status(), 400);
    assert_eq!(s3_error_code(expired).await, "ExpiredToken");
}

#[tokio::test]
async fn wrong_secret_fails_the_signature_check() {
    let stack = stack();
    let (_, credentials, own, _) = transfer_setup(&stack).await;
    let token = credentials.session_token().unwrap();
    let forged =
        Credentials::new(credentials.access_key_id(), "not-the-secret").with_session_token(token);
    let refused = s3_get(&stack, &forged, &own).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(s3_error_code(refused).await, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn session_token_must_be_the_issued_one() {
    let stack = stack();
    let (_, credentials, own, _) = transfer_setup(&stack).await;
    let secret_holder = stack.store().get(credentials.access_key_id()).unwrap();
    let secret = secret_holder.secret_access_key();

    let wrong_token = Credentials::new(credentials.access_key_id(), secret)
        .with_session_token("a-token-never-issued");
    let refused = s3_get(&stack, &wrong_token, &own).await;
    assert_eq!(s3_error_code(refused).await, "InvalidToken");

    let no_token = Credentials::new(credentials.access_key_id(), secret);
    let refused = s3_get(&stack, &no_token, &own).await;
    assert_eq!(s3_error_code(refused).await, "InvalidAccessKeyId");
}

#[tokio::test]
async fn admin_key_may_write_anywhere_in_the_bucket() {
    let stack = stack();
    let admin = stack.admin_credentials();
    let target = (stack.bucket(), "transfers/any/uploaded.bin");
    let endpoint = stack.s3_endpoint();
    let body = b"from the sender".to_vec();
    let response = s3_request(
        &endpoint,
        stack.region(),
        &admin,
        Method::PUT,
        target,
        &[],
        body,
    )
    .await;
    assert_eq!(response.status(), 200);
    let listed = stack.list("transfers/").unwrap();
    assert_eq!(listed, ["transfers/any/uploaded.bin"]);
    let response = s3_get(&stack, &admin, "transfers/any/uploaded.bin").await;
    assert_eq!(response.bytes().await.unwrap(), &b"from the sender"[..]);
}
