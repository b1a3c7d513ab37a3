//! Credentials assumed in moto, judged by moto's own S3 with authentication on.

use std::time::Duration;

use super::*;
use crate::standins::moto::{
    receiver_policy, MotoClient, MotoIssuer, MotoIssuerConfig, MotoServer,
};

const BUCKET: &str = "certdrop-moto";
const REGION: &str = "us-east-1";

/// A running moto with authentication on, a bucket holding two transfers, and the keys of
/// an IAM admin user.
struct MotoSetup {
    server: MotoServer,
    admin: Credentials,
}

async fn moto_with_transfers(own_id: &str, other_id: &str) -> MotoSetup {
    let server = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    // Any key will do until authentication is on.
    let bootstrap = Credentials::new("AKIAIOSFODNN7EXAMPLE", "bootstrap-secret");
    let anyone = MotoClient::new(server.endpoint(), bootstrap).unwrap();
    let admin = anyone.create_admin_user("certdrop-admin").await.unwrap();
    let client = MotoClient::new(server.endpoint(), admin.clone()).unwrap();
    client.create_bucket(BUCKET).await.unwrap();
    for id in [own_id, other_id] {
        let key = format!("transfers/{id}/report.zip");
        client
            .put_object(BUCKET, &key, id.as_bytes())
            .await
            .unwrap();
    }
    client.enable_auth().await.unwrap();
    MotoSetup { server, admin }
}

#[tokio::test]
async fn moto_credentials_reach_only_their_own_transfer() {
    let own_id = "a".repeat(64);
    let other_id = "b".repeat(64);
    let setup = moto_with_transfers(&own_id, &other_id).await;
    let endpoint = setup.server.endpoint().to_owned();
    let issuer = MotoIssuer::new(MotoIssuerConfig {
        endpoint: endpoint.clone(),
        admin: setup.admin.clone(),
        receiver_policy: receiver_policy(BUCKET),
    })
    .unwrap();

    // Issued twice for the same certificate: the role is made once and reused.
    let lifetime = Duration::from_secs(900);
    issuer.issue(&own_id, lifetime).await.unwrap();
    let issued = issuer.issue(&own_id, lifetime).await.unwrap();
    assert_eq!(issued.certificate_id(), own_id);
    assert!(issued.access_key_id().starts_with("ASIA"));
    let credentials = issued.to_signing_credentials();
    let get = |key: String| {
        let (endpoint, credentials) = (endpoint.clone(), credentials.clone());
        async move {
            let target = (BUCKET, key.as_str());
            s3_request(
                &endpoint,
                REGION,
                &credentials,
                Method::GET,
                target,
                &[],
                vec![],
            )
            .await
        }
    };

    let own = get(format!("transfers/{own_id}/report.zip")).await;
    assert_eq!(own.status(), 200);
    assert_eq!(own.bytes().await.unwrap(), own_id.as_bytes());
    let other = get(format!("transfers/{other_id}/report.zip")).await;
    assert_eq!(
        other.status(),
        403,
        "moto let one certificate read another's transfer"
    );
    assert_eq!(s3_error_code(other).await, "AccessDenied");

    let receipt = format!("receipts/{own_id}/receipt.json");
    let target = (BUCKET, receipt.as_str());
    let body = b"{}".to_vec();
    let put = s3_request(
        &endpoint,
        REGION,
        &credentials,
        Method::PUT,
        target,
        &[],
        body,
    )
    .await;
    assert_eq!(put.status(), 200);
}

#[tokio::test]
async fn moto_in_auth_mode_refuses_a_wrong_secret() {
    let own_id = "c".repeat(64);
    let setup = moto_with_transfers(&own_id, &"d".repeat(64)).await;
    let forged = Credentials::new(setup.admin.access_key_id(), "wrong-secret");
    let key = format!("transfers/{own_id}/report.zip");
    let target = (BUCKET, key.as_str());
    let endpoint = setup.server.endpoint();
    let refused = s3_request(endpoint, REGION, &forged, Method::GET, target, &[], vec![]).await;
    assert_eq!(
        refused.status(),
        403,
        "auth mode is off: the moto tests would prove nothing"
    );
}
