//! What each signed request may do: everything for the admin key; for a temporary key,
//! what the shared receiver role's policy grants the certificate it was issued to.

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};
use subtle::ConstantTimeEq;
use tracing::debug;

use super::S3StandinConfig;
use crate::standins::credentials::{CredentialStore, TemporaryCredentials};

/// The header that carries the session token of temporary credentials.
const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";

/// Whether the receiver role, with `${credentials-iot:AwsCertificateId}` set to
/// `certificate_id`, allows operation `op` (s3s's name, such as `GetObject`) on `path`:
/// `s3:GetObject` (which also covers HEAD) on `<bucket>/transfers/<id>/*` and
/// `s3:PutObject` on `<bucket>/receipts/<id>/*`.
pub fn receiver_may(op: &str, path: &S3Path, bucket: &str, certificate_id: &str) -> bool {
    let Some((path_bucket, key)) = path.as_object() else {
        return false;
    };
    let prefix = match op {
        "GetObject" | "HeadObject" => "transfers",
        "PutObject" => "receipts",
        _ => return false,
    };
    let under = format!("{prefix}/{certificate_id}/");
    path_bucket == bucket && key.starts_with(&under) && key.len() > under.len()
}

/// The policy s3s consults after the signature checked out.
pub(super) struct ReceiverPolicy {
    bucket: String,
    admin_access_key: String,
    store: CredentialStore,
}

impl ReceiverPolicy {
    pub(super) fn new(config: &S3StandinConfig) -> Self {
        ReceiverPolicy {
            bucket: config.bucket.clone(),
            admin_access_key: config.admin.access_key_id().to_owned(),
            store: config.store.clone(),
        }
    }

    fn decide(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
        };
        let access_key = credentials.access_key.as_str();
        if access_key == self.admin_access_key {
            return Ok(());
        }
        let Some(issued) = self.store.get(access_key) else {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        };
        check_session_token(cx, &issued)?;

        let op = cx.s3_op().name();
        let certificate_id = issued.certificate_id();
        if receiver_may(op, cx.s3_path(), &self.bucket, certificate_id) {
            Ok(())
        } else {
            debug!(op, path = ?cx.s3_path(), certificate_id, "denied by the receiver role");
            Err(s3_error!(AccessDenied, "Access Denied"))
        }
    }
}

#[async_trait::async_trait]
impl S3Access for ReceiverPolicy {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        self.decide(cx)
    }
}

/// Temporary credentials are only valid with the session token they were issued with. s3s
/// has already checked that the token, when sent, is covered by the signature.
fn check_session_token(cx: &S3AccessContext<'_>, issued: &TemporaryCredentials) -> S3Result<()> {
    let Some(sent) = cx.headers().get(SECURITY_TOKEN_HEADER) else {
        // What S3 answers for a temporary key sent without its token.
        return Err(s3_error!(
            InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records."
        ));
    };
    let expected = issued.session_token().as_bytes();
    if bool::from(sent.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidToken,
            "The provided token is malformed or otherwise invalid."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0a1b2c";

    fn may(op: &str, bucket: &str, key: &str) -> bool {
        receiver_may(op, &S3Path::object(bucket, key), "drop", ID)
    }

    #[test]
    fn receiver_reads_only_its_own_transfer() {
        assert!(may("GetObject", "drop", "transfers/0a1b2c/report.zip"));
        assert!(may("HeadObject", "drop", "transfers/0a1b2c/report.zip"));
        assert!(!may("GetObject", "drop", "transfers/ffffff/report.zip"));
        assert!(!may("GetObject", "drop", "transfers/0a1b2c"));
        assert!(!may("GetObject", "drop", "transfers/0a1b2cd/x"));
        assert!(!may("GetObject", "other", "transfers/0a1b2c/report.zip"));
        assert!(!may("PutObject", "drop", "transfers/0a1b2c/report.zip"));
    }

    #[test]
    fn receiver_writes_only_its_own_receipts() {
        assert!(may("PutObject", "drop", "receipts/0a1b2c/receipt.json"));
        assert!(!may("PutObject", "drop", "receipts/ffffff/receipt.json"));
        assert!(!may("GetObject", "drop", "receipts/0a1b2c/receipt.json"));
        assert!(!may("DeleteObject", "drop", "transfers/0a1b2c/report.zip"));
    }

    #[test]
    fn receiver_may_not_list_or_touch_buckets() {
        let bucket = S3Path::bucket("drop");
        assert!(!receiver_may("ListObjectsV2", &bucket, "drop", ID));
        assert!(!receiver_may("ListBuckets", &S3Path::root(), "drop", ID));
    }
}
