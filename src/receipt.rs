//! The receipt: a small JSON object the receiver writes after a verified download, so that
//! the sender's `certdrop status` can show "downloaded, verified".

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::credentials::CredentialsCache;
use crate::s3::S3Object;
use crate::transfer::TransferInfo;

/// What a receipt says. It holds nothing about the recipient beyond the time and platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub transfer_id: String,
    pub time: String,
    pub size: u64,
    pub sha256: String,
    pub verified: bool,
    pub client: String,
}

impl Receipt {
    pub fn verified(info: &TransferInfo, time: DateTime<Utc>) -> Self {
        Receipt {
            transfer_id: info.transfer_id.clone(),
            time: time.to_rfc3339_opts(SecondsFormat::Secs, true),
            size: info.size,
            sha256: info.sha256.clone(),
            verified: true,
            client: format!(
                "certdrop-receiver/{} ({})",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS
            ),
        }
    }

    /// `<receipt prefix><UTC time>.json`, for example `receipts/abc/20261203T190412Z.json`.
    pub fn key(info: &TransferInfo, time: DateTime<Utc>) -> String {
        format!(
            "{}{}.json",
            info.receipt_prefix,
            time.format("%Y%m%dT%H%M%SZ")
        )
    }
}

/// Writes the receipt; a failure is only logged (the file itself is what matters).
pub async fn write(object: &S3Object, info: &TransferInfo, credentials: &CredentialsCache) {
    let now = Utc::now();
    let receipt = Receipt::verified(info, now);
    let body = serde_json::to_vec(&receipt).expect("a receipt serializes");
    let result = async {
        let target = object
            .sibling(info, &Receipt::key(info, now))
            .map_err(|e| e.to_string())?;
        let credentials = credentials.get().await.map_err(|e| e.to_string())?;
        target
            .put(&credentials, body, "application/json")
            .await
            .map_err(|e| e.to_string())
    };
    match result.await {
        Ok(()) => tracing::debug!("receipt written"),
        Err(error) => tracing::debug!(%error, "could not write the receipt; ignoring it"),
    }
}
