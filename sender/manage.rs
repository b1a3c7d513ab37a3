//! `certdrop list`, `status`, `revoke`, `delete` and `sweep`. AWS is the source of truth: the
//! transfers are the certificates carrying certdrop's IoT policy and the objects under
//! `transfers/`; the local records only add the recipient's name and the note.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aws_sdk_iot::types::CertificateStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::debug;

use crate::aws::{self, call, Aws};
use crate::config::{is_transfer_id, ConfigDir, Settings};
use crate::upload::EXPIRES_METADATA;
use crate::{DeleteArgs, ListArgs, RevokeArgs, StatusArgs, SweepArgs};

/// One transfer as AWS (and the local record) describe it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Transfer {
    pub transfer_id: String,
    pub state: State,
    /// ACTIVE, INACTIVE, or absent when the certificate is gone.
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<u64>,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub recipient: Option<String>,
    pub note: Option<String>,
    pub receipts: Vec<ReceiptSummary>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Active,
    Revoked,
    Expired,
    /// Half a transfer: the certificate without its object or the other way round.
    Incomplete,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReceiptSummary {
    pub key: String,
    pub time: Option<String>,
    pub verified: Option<bool>,
    pub client: Option<String>,
}

/// Runs `body` with the profile's settings and AWS clients.
fn with_aws<T>(
    aws_args: &crate::aws::AwsArgs,
    body: impl AsyncFnOnce(&Aws, &Settings, &ConfigDir) -> Result<T>,
) -> Result<T> {
    let config_dir = ConfigDir::new(&aws_args.profile_name())?;
    let settings = config_dir.load()?;
    aws::runtime()?.block_on(async {
        let aws = Aws::load(aws_args, Some(&settings.region)).await?;
        body(&aws, &settings, &config_dir).await
    })
}

pub fn list(args: &ListArgs) -> Result<()> {
    with_aws(&args.aws, async |aws, settings, config_dir| {
        let transfers = all_transfers(aws, settings, config_dir).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&transfers)?);
            return Ok(());
        }
        if transfers.is_empty() {
            println!("no transfers");
            return Ok(());
        }
        println!(
            "{:<16} {:<10} {:<24} {:>12} {:<20} {:<20} receipt",
            "id", "state", "file", "size", "created", "expires"
        );
        for t in &transfers {
            println!(
                "{:<16} {:<10} {:<24} {:>12} {:<20} {:<20} {}",
                short(&t.transfer_id),
                format!("{:?}", t.state).to_lowercase(),
                t.file_name.as_deref().unwrap_or("-"),
                t.size.map_or("-".to_owned(), |s| s.to_string()),
                time(t.created_at),
                time(t.expires_at),
                if t.receipts.is_empty() { "no" } else { "yes" },
            );
            if let Some(recipient) = &t.recipient {
                println!("{:<16} to {recipient}", "");
            }
        }
        Ok(())
    })
}

pub fn status(args: &StatusArgs) -> Result<()> {
    with_aws(&args.aws, async |aws, settings, config_dir| {
        let id = resolve_id(aws, settings, config_dir, &args.id).await?;
        let mut transfer = one_transfer(aws, settings, config_dir, &id).await?;
        transfer.receipts = receipts(aws, settings, &id).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&transfer)?);
            return Ok(());
        }
        let t = &transfer;
        println!("transfer:    {}", t.transfer_id);
        println!("state:       {}", format!("{:?}", t.state).to_lowercase());
        println!(
            "certificate: {}",
            t.certificate.as_deref().unwrap_or("deleted")
        );
        println!("object:      {}", t.key.as_deref().unwrap_or("none"));
        if let Some(size) = t.size {
            println!("size:        {size} bytes");
        }
        println!("created:     {}", time(t.created_at));
        println!("expires:     {}", time(t.expires_at));
        if let Some(recipient) = &t.recipient {
            println!("recipient:   {recipient}");
        }
        if let Some(note) = &t.note {
            println!("note:        {note}");
        }
        if t.receipts.is_empty() {
            println!("receipts:    none (not downloaded yet)");
        }
        for receipt in &t.receipts {
            let verified = match receipt.verified {
                Some(true) => "downloaded, verified",
                _ => "downloaded",
            };
            println!(
                "receipt:     {verified} at {} ({})",
                receipt.time.as_deref().unwrap_or("?"),
                receipt.client.as_deref().unwrap_or("?")
            );
        }
        Ok(())
    })
}

pub fn revoke(args: &RevokeArgs) -> Result<()> {
    with_aws(&args.aws, async |aws, settings, config_dir| {
        let id = resolve_id(aws, settings, config_dir, &args.id).await?;
        let arn = certdrop_certificate(aws, settings, &id)
            .await?
            .with_context(|| format!("the certificate of transfer {id} no longer exists"))?;
        set_inactive(aws, &id).await?;
        debug!(arn, "revoked");
        println!(
            "revoked {id}: the recipient's program gets no new credentials from now on. \
             Credentials it already received stay valid until they expire (at most the role \
             alias's lifetime, 1 hour unless IT chose `init --credential-hours`), so a \
             download running now may finish. `certdrop delete {id}` also removes the file."
        );
        Ok(())
    })
}

pub fn delete(args: &DeleteArgs) -> Result<()> {
    with_aws(&args.aws, async |aws, settings, config_dir| {
        let id = resolve_id(aws, settings, config_dir, &args.id).await?;
        delete_transfer(aws, settings, config_dir, &id, args.keep_object).await?;
        println!("deleted {id}");
        Ok(())
    })
}

pub fn sweep(args: &SweepArgs) -> Result<()> {
    with_aws(&args.aws, async |aws, settings, config_dir| {
        let now = Utc::now();
        let transfers = all_transfers(aws, settings, config_dir).await?;
        let expired: Vec<&Transfer> = transfers
            .iter()
            .filter(|t| t.expires_at.is_some_and(|e| e <= now))
            .collect();
        if expired.is_empty() {
            println!(
                "nothing to sweep ({} transfer(s), none expired)",
                transfers.len()
            );
            return Ok(());
        }
        let mut failures = 0;
        for t in expired {
            if args.dry_run {
                println!(
                    "would delete {} (expired {})",
                    t.transfer_id,
                    time(t.expires_at)
                );
                continue;
            }
            match delete_transfer(aws, settings, config_dir, &t.transfer_id, false).await {
                Ok(()) => println!("deleted {} (expired {})", t.transfer_id, time(t.expires_at)),
                Err(error) => {
                    failures += 1;
                    eprintln!("could not delete {}: {error:#}", t.transfer_id);
                }
            }
        }
        if failures > 0 {
            bail!("{failures} expired transfer(s) could not be deleted; see above");
        }
        Ok(())
    })
}

/// Every transfer: certificates carrying the policy, objects under `transfers/`, joined.
async fn all_transfers(
    aws: &Aws,
    settings: &Settings,
    config_dir: &ConfigDir,
) -> Result<Vec<Transfer>> {
    let mut ids: BTreeMap<String, ()> = BTreeMap::new();
    for arn in policy_targets(aws, settings).await? {
        if let Some(id) = arn.rsplit_once(":cert/").map(|(_, id)| id.to_owned()) {
            ids.insert(id, ());
        }
    }
    for key in list_keys(aws, settings, "transfers/").await? {
        if let Some(id) = key.split('/').nth(1).filter(|id| is_transfer_id(id)) {
            ids.insert(id.to_owned(), ());
        }
    }
    let mut transfers = Vec::new();
    for id in ids.keys() {
        transfers.push(one_transfer(aws, settings, config_dir, id).await?);
    }
    for t in &mut transfers {
        t.receipts = receipt_keys(aws, settings, &t.transfer_id)
            .await?
            .into_iter()
            .map(|key| ReceiptSummary {
                key,
                time: None,
                verified: None,
                client: None,
            })
            .collect();
    }
    transfers.sort_by_key(|t| t.created_at);
    Ok(transfers)
}

/// What AWS knows about one transfer, plus the local record.
async fn one_transfer(
    aws: &Aws,
    settings: &Settings,
    config_dir: &ConfigDir,
    id: &str,
) -> Result<Transfer> {
    let mut t = Transfer {
        transfer_id: id.to_owned(),
        ..Transfer::default()
    };
    let certificate = describe_certificate(aws, id).await?;
    if let Some((status, created)) = &certificate {
        t.certificate = Some(status.as_str().to_owned());
        t.created_at = *created;
    }
    let prefix = format!("transfers/{id}/");
    if let Some(key) = list_keys(aws, settings, &prefix).await?.into_iter().next() {
        let what = call("s3:GetObject", format!("s3://{}/{key}", settings.bucket));
        let head = aws
            .s3
            .head_object()
            .bucket(&settings.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        t.size = head.content_length().map(|s| s.max(0) as u64);
        t.expires_at = head
            .metadata()
            .and_then(|m| m.get(EXPIRES_METADATA))
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc));
        t.file_name = key.strip_prefix(&prefix).map(str::to_owned);
        t.key = Some(key);
    }
    if let Some(record) = config_dir.record(id) {
        t.recipient = record.recipient;
        t.note = record.note;
        t.created_at = t.created_at.or(Some(record.created_at));
        t.expires_at = t.expires_at.or(Some(record.expires_at));
        t.file_name = t.file_name.or(Some(record.file_name));
    }
    // A certificate whose object is gone lived at most 30 days.
    if t.expires_at.is_none() {
        t.expires_at = t.created_at.map(|c| c + chrono::Duration::days(30));
    }
    t.state = state(&t, Utc::now());
    Ok(t)
}

fn state(t: &Transfer, now: DateTime<Utc>) -> State {
    if t.expires_at.is_some_and(|e| e <= now) {
        return State::Expired;
    }
    match (t.certificate.as_deref(), t.key.is_some()) {
        (Some("ACTIVE"), true) => State::Active,
        (Some(_), true) => State::Revoked,
        _ => State::Incomplete,
    }
}

/// A full id from a full or unambiguous shortened one (as `list` prints them).
async fn resolve_id(
    aws: &Aws,
    settings: &Settings,
    config_dir: &ConfigDir,
    given: &str,
) -> Result<String> {
    let given = given.trim().to_ascii_lowercase();
    if !is_transfer_id(&given) {
        bail!("{given:?} is not a transfer id (hexadecimal, as `certdrop list` shows)");
    }
    if given.len() == 64 {
        return Ok(given);
    }
    let all = all_transfers(aws, settings, config_dir).await?;
    let matching: Vec<&Transfer> = all
        .iter()
        .filter(|t| t.transfer_id.starts_with(&given))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.transfer_id.clone()),
        [] => bail!("no transfer {given}; `certdrop list` shows them"),
        _ => bail!("{given} matches several transfers; give more of the id"),
    }
}

/// Status and creation time; `None` when the certificate does not exist.
async fn describe_certificate(
    aws: &Aws,
    id: &str,
) -> Result<Option<(CertificateStatus, Option<DateTime<Utc>>)>> {
    let what = call("iot:DescribeCertificate", format!("certificate {id}"));
    match aws
        .iot
        .describe_certificate()
        .certificate_id(id)
        .send()
        .await
    {
        Ok(answer) => {
            let description = answer
                .certificate_description()
                .context("DescribeCertificate gave no description")?;
            let created = description
                .creation_date()
                .and_then(|d| DateTime::from_timestamp(d.secs(), 0));
            let status = description
                .status()
                .cloned()
                .unwrap_or(CertificateStatus::Inactive);
            Ok(Some((status, created)))
        }
        Err(error) if aws::error_code(&error) == Some("ResourceNotFoundException") => Ok(None),
        Err(error) => Err(aws::explain(error, &what)),
    }
}

/// The certificate's ARN if it exists and carries certdrop's policy; an error if it exists
/// without it (certdrop never touches certificates it did not make).
async fn certdrop_certificate(aws: &Aws, settings: &Settings, id: &str) -> Result<Option<String>> {
    let what = call("iot:DescribeCertificate", format!("certificate {id}"));
    let arn = match aws
        .iot
        .describe_certificate()
        .certificate_id(id)
        .send()
        .await
    {
        Ok(answer) => answer
            .certificate_description()
            .and_then(|d| d.certificate_arn())
            .context("DescribeCertificate gave no ARN")?
            .to_owned(),
        Err(error) if aws::error_code(&error) == Some("ResourceNotFoundException") => {
            return Ok(None)
        }
        Err(error) => return Err(aws::explain(error, &what)),
    };
    if !attached_policies(aws, &arn)
        .await?
        .contains(&settings.iot_policy)
    {
        bail!(
            "the certificate {id} does not carry certdrop's policy {}: it is not a certdrop \
             transfer, so certdrop leaves it alone",
            settings.iot_policy
        );
    }
    Ok(Some(arn))
}

async fn attached_policies(aws: &Aws, arn: &str) -> Result<Vec<String>> {
    let what = call("iot:ListAttachedPolicies", arn.to_owned());
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .iot
            .list_attached_policies()
            .target(arn)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        names.extend(
            page.policies()
                .iter()
                .filter_map(|p| p.policy_name().map(str::to_owned)),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(names);
        }
    }
}

/// The ARNs of the certificates carrying certdrop's IoT policy.
async fn policy_targets(aws: &Aws, settings: &Settings) -> Result<Vec<String>> {
    let what = call(
        "iot:ListTargetsForPolicy",
        format!("policy {}", settings.iot_policy),
    );
    let mut targets = Vec::new();
    let mut marker = None;
    loop {
        let page = aws
            .iot
            .list_targets_for_policy()
            .policy_name(&settings.iot_policy)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        targets.extend(page.targets().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(targets);
        }
    }
}

/// The keys under `prefix`, every page.
async fn list_keys(aws: &Aws, settings: &Settings, prefix: &str) -> Result<Vec<String>> {
    let what = call(
        "s3:ListBucket",
        format!("s3://{}/{prefix}", settings.bucket),
    );
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .s3
            .list_objects_v2()
            .bucket(&settings.bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

async fn receipt_keys(aws: &Aws, settings: &Settings, id: &str) -> Result<Vec<String>> {
    list_keys(aws, settings, &format!("receipts/{id}/")).await
}

/// Each receipt with what it says.
async fn receipts(aws: &Aws, settings: &Settings, id: &str) -> Result<Vec<ReceiptSummary>> {
    let mut found = Vec::new();
    for key in receipt_keys(aws, settings, id).await? {
        let what = call("s3:GetObject", format!("s3://{}/{key}", settings.bucket));
        let object = aws
            .s3
            .get_object()
            .bucket(&settings.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        let bytes = object
            .body
            .collect()
            .await
            .with_context(|| format!("reading {key}"))?
            .into_bytes();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        found.push(ReceiptSummary {
            key,
            time: value["time"].as_str().map(str::to_owned),
            verified: value["verified"].as_bool(),
            client: value["client"].as_str().map(str::to_owned),
        });
    }
    Ok(found)
}

async fn set_inactive(aws: &Aws, id: &str) -> Result<()> {
    let what = call("iot:UpdateCertificate", format!("certificate {id}"));
    aws.iot
        .update_certificate()
        .certificate_id(id)
        .new_status(CertificateStatus::Inactive)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    Ok(())
}

/// Detaches the policy (if attached), deactivates and deletes the certificate.
pub async fn remove_certificate(
    aws: &Aws,
    settings: &Settings,
    id: &str,
    arn: &str,
    policy_attached: bool,
) -> Result<()> {
    if policy_attached {
        let what = call(
            "iot:DetachPolicy",
            format!("policy {} from {arn}", settings.iot_policy),
        );
        aws.iot
            .detach_policy()
            .policy_name(&settings.iot_policy)
            .target(arn)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
    }
    set_inactive(aws, id).await?;
    let what = call("iot:DeleteCertificate", format!("certificate {id}"));
    aws.iot
        .delete_certificate()
        .certificate_id(id)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    Ok(())
}

pub async fn delete_object(aws: &Aws, bucket: &str, key: &str) -> Result<()> {
    let what = call("s3:DeleteObject", format!("s3://{bucket}/{key}"));
    aws.s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    Ok(())
}

/// Certificate, object(s), receipts, linked copies and the local record of one transfer.
async fn delete_transfer(
    aws: &Aws,
    settings: &Settings,
    config_dir: &ConfigDir,
    id: &str,
    keep_object: bool,
) -> Result<()> {
    if let Some(arn) = certdrop_certificate(aws, settings, id).await? {
        remove_certificate(aws, settings, id, &arn, true).await?;
    }
    let mut keys = receipt_keys(aws, settings, id).await?;
    // The copies behind `send --link`: useless once the certificate is gone.
    keys.extend(list_keys(aws, settings, &format!("receivers/{id}/")).await?);
    if !keep_object {
        keys.extend(list_keys(aws, settings, &format!("transfers/{id}/")).await?);
    }
    for key in keys {
        delete_object(aws, &settings.bucket, &key).await?;
    }
    config_dir.remove_record(id)
}

fn short(id: &str) -> &str {
    id.get(..16).unwrap_or(id)
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or("-".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_expiry_then_certificate_then_object() {
        let now = Utc::now();
        let mut t = Transfer {
            certificate: Some("ACTIVE".into()),
            key: Some("transfers/a/f".into()),
            expires_at: Some(now + chrono::Duration::hours(1)),
            ..Transfer::default()
        };
        assert_eq!(state(&t, now), State::Active);
        t.certificate = Some("INACTIVE".into());
        assert_eq!(state(&t, now), State::Revoked);
        t.key = None;
        assert_eq!(state(&t, now), State::Incomplete);
        t.expires_at = Some(now - chrono::Duration::seconds(1));
        assert_eq!(state(&t, now), State::Expired);
    }
}
