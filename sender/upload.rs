//! Putting the file into S3: a parallel multipart upload with bounded memory, the file's
//! SHA-256 computed while it is read, a SHA-256 checksum on every part (S3 checks it), and
//! failed parts retried. Sources already in S3 are copied server side.
//!
//! Whatever fails, the multipart upload is aborted before the error is returned: no parts are
//! left behind to be billed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::aws::{self, call};

/// The smallest part S3 accepts (except the last), and ours unless the file is huge.
pub const MIN_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on the number of parts.
const MAX_PARTS: u64 = 10_000;
/// Parts in flight at once; memory use is at most this many parts (8 MiB each for files up
/// to 80 GB). Eight, like the receiver's connections: one TCP stream is slow on a long path.
pub const DEFAULT_PARALLEL: usize = 8;
/// Tries per part before the upload fails.
const PART_ATTEMPTS: u32 = 4;
/// CopyObject's limit; above it the copy goes part by part (UploadPartCopy).
const COPY_OBJECT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
/// Parts of a server-side copy, unless 10,000 of them would not cover the object.
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// Where the file goes and how it is labelled.
#[derive(Clone)]
pub struct Destination {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub key: String,
    /// `key=value&...`, as S3's `x-amz-tagging` header takes it.
    pub tagging: Option<String>,
    /// The exact expiry, kept as the object's metadata: what `list` and `sweep` go by.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub parallel: usize,
}

/// What was uploaded.
#[derive(Clone, Debug)]
pub struct Uploaded {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl Destination {
    fn resource(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The part size for a file of `size` bytes: 8 MiB, or more so that 10,000 parts suffice.
impl Destination {
    fn metadata(&self) -> std::collections::HashMap<String, String> {
        let expires = self
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        [(EXPIRES_METADATA.to_owned(), expires)].into()
    }
}

/// The user metadata (`x-amz-meta-...`) holding the transfer's exact expiry.
pub const EXPIRES_METADATA: &str = "certdrop-expires";

pub fn part_size(size: u64) -> u64 {
    let needed = size.div_ceil(MAX_PARTS);
    needed.max(MIN_PART_SIZE).next_multiple_of(MIB)
}

/// Uploads the local file at `path`.
pub async fn upload_file(
    destination: &Destination,
    path: &Path,
    progress: &ProgressBar,
) -> Result<Uploaded> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let size = file
        .metadata()
        .await
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    progress.set_length(size);
    if size <= MIN_PART_SIZE {
        let mut body = Vec::with_capacity(size as usize);
        file.read_to_end(&mut body)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if body.len() as u64 != size {
            bail!("{} changed size while it was read", path.display());
        }
        return put_whole(destination, body, progress).await;
    }
    let upload = start_multipart(destination).await?;
    let result = upload_parts(destination, &upload, &mut file, path, size, progress).await;
    match result {
        Ok(uploaded) => Ok(uploaded),
        Err(error) => {
            abort_multipart(destination, &upload).await;
            Err(error)
        }
    }
}

/// One PutObject for a file that fits in one part.
async fn put_whole(
    destination: &Destination,
    body: Vec<u8>,
    progress: &ProgressBar,
) -> Result<Uploaded> {
    let digest = Sha256::digest(&body);
    let size = body.len() as u64;
    let what = call("s3:PutObject", destination.resource());
    let body = SdkBody::from(body);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = destination
            .s3
            .put_object()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .set_tagging(destination.tagging.clone())
            .set_metadata(Some(destination.metadata()))
            .checksum_sha256(base64_of(&digest))
            .body(ByteStream::new(
                body.try_clone().expect("an in-memory body clones"),
            ))
            .send()
            .await;
        match sent {
            Ok(_) => break,
            Err(error) if attempt < PART_ATTEMPTS && is_retryable(&error) => {
                warn!(attempt, "PutObject failed; trying again");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(error) => return Err(aws::explain(error, &what)),
        }
    }
    progress.inc(size);
    Ok(Uploaded {
        size,
        sha256: hex::encode(digest),
    })
}

async fn start_multipart(destination: &Destination) -> Result<String> {
    let what = call("s3:PutObject", destination.resource());
    let created = destination
        .s3
        .create_multipart_upload()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .set_tagging(destination.tagging.clone())
        .set_metadata(Some(destination.metadata()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let id = created
        .upload_id()
        .context("CreateMultipartUpload gave no upload id")?;
    debug!(key = destination.key, "multipart upload started");
    Ok(id.to_owned())
}

/// Aborts the upload; a failure here is only reported (the lifecycle rule cleans up later).
pub async fn abort_multipart(destination: &Destination, upload_id: &str) {
    let aborted = destination
        .s3
        .abort_multipart_upload()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .upload_id(upload_id)
        .send()
        .await;
    match aborted {
        Ok(_) => debug!(key = destination.key, "multipart upload aborted"),
        Err(error) => {
            let what = call("s3:AbortMultipartUpload", destination.resource());
            eprintln!(
                "warning: {:#} (the bucket's lifecycle rule removes the parts within a day)",
                aws::explain(error, &what)
            );
        }
    }
}

/// Reads the file part by part (hashing as it goes) and uploads up to `parallel` parts at
/// once; waits for a free slot before reading the next part, so memory stays bounded.
async fn upload_parts(
    destination: &Destination,
    upload_id: &str,
    file: &mut tokio::fs::File,
    path: &Path,
    size: u64,
    progress: &ProgressBar,
) -> Result<Uploaded> {
    let part_size = part_size(size);
    let slots = Arc::new(Semaphore::new(destination.parallel.max(1)));
    let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
    let mut parts = Vec::new();
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    let mut number = 0i32;

    while offset < size {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        // Collect the parts done so far: a failure stops the reading early, and every
        // finished part must reach CompleteMultipartUpload.
        while let Some(finished) = tasks.try_join_next() {
            parts.push(finished.context("a part upload panicked")??);
        }
        let length = part_size.min(size - offset);
        let mut buffer = vec![0u8; length as usize];
        file.read_exact(&mut buffer)
            .await
            .with_context(|| format!("reading {} at byte {offset}", path.display()))?;
        hasher.update(&buffer);
        number += 1;
        offset += length;

        let (destination, upload_id) = (destination.clone(), upload_id.to_owned());
        let progress = progress.clone();
        tasks.spawn(async move {
            let part = upload_part(&destination, &upload_id, number, buffer).await;
            progress.inc(length);
            drop(permit);
            part
        });
    }
    let mut extra = [0u8; 1];
    if file.read(&mut extra).await.unwrap_or(0) != 0 {
        bail!("{} grew while it was read; send it again", path.display());
    }

    while let Some(finished) = tasks.join_next().await {
        parts.push(finished.context("a part upload panicked")??);
    }
    parts.sort_by_key(|p| p.part_number());
    debug_assert_eq!(parts.len(), number as usize, "every part is listed once");
    complete(destination, upload_id, parts, size).await?;
    Ok(Uploaded {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Uploads one part with its SHA-256 checksum, trying again on failures that may pass.
async fn upload_part(
    destination: &Destination,
    upload_id: &str,
    number: i32,
    buffer: Vec<u8>,
) -> Result<CompletedPart> {
    let checksum = base64_of(&Sha256::digest(&buffer));
    let body = SdkBody::from(buffer);
    let what = call(
        "s3:PutObject",
        format!("{} (part {number})", destination.resource()),
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = destination
            .s3
            .upload_part()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_sha256(&checksum)
            .body(ByteStream::new(
                body.try_clone().expect("an in-memory body clones"),
            ))
            .send()
            .await;
        match sent {
            Ok(answer) => {
                let etag = answer.e_tag().context("UploadPart gave no ETag")?;
                return Ok(CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .checksum_sha256(&checksum)
                    .build());
            }
            Err(error) if attempt < PART_ATTEMPTS && is_retryable(&error) => {
                warn!(part = number, attempt, "part upload failed; trying again");
                debug!(error = %aws::error_chain(&error), "part upload error");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(error) => return Err(aws::explain(error, &what)),
        }
    }
}

async fn complete(
    destination: &Destination,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    size: u64,
) -> Result<()> {
    let what = call("s3:PutObject", destination.resource());
    let sent = destination
        .s3
        .complete_multipart_upload()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    let error = match sent {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    // Limitation: moto 5.2 answers 200 with a `CompleteMultipartUploadResponse` root, which
    // the SDK refuses to parse; an unreadable 200 is accepted only if HEAD then finds the
    // object complete, so a real failure is still reported.
    let unreadable_success = matches!(&error, aws_sdk_s3::error::SdkError::ServiceError(e)
        if e.raw().status().as_u16() == 200 && aws::error_code(&error).is_none());
    if unreadable_success && object_size(destination).await == Some(size) {
        debug!(
            key = destination.key,
            "completion answer unreadable; HEAD finds the object"
        );
        return Ok(());
    }
    Err(aws::explain(error, &what))
}

async fn object_size(destination: &Destination) -> Option<u64> {
    let head = destination
        .s3
        .head_object()
        .bucket(&destination.bucket)
        .key(&destination.key)
        .send()
        .await
        .ok()?;
    head.content_length().map(|n| n.max(0) as u64)
}

/// An object already in S3: `s3://bucket/key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Source {
    pub bucket: String,
    pub key: String,
}

impl S3Source {
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let rest = text.strip_prefix("s3://")?;
        Some(match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(S3Source {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            }),
            _ => Err(anyhow::anyhow!(
                "{text} is not s3://BUCKET/KEY (a bucket and an object key are both needed)"
            )),
        })
    }

    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// `bucket/key` with the key percent-encoded, as x-amz-copy-source takes it.
    fn copy_source(&self) -> String {
        format!("{}{}", self.bucket, certdrop::sigv4::s3_key_path(&self.key))
    }
}

/// The source object's size and ETag.
pub async fn head_source(s3: &aws_sdk_s3::Client, source: &S3Source) -> Result<(u64, String)> {
    let what = call("s3:GetObject", source.url());
    let head = s3
        .head_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let size = head.content_length().unwrap_or_default().max(0) as u64;
    let etag = head.e_tag().unwrap_or_default().to_owned();
    Ok((size, etag))
}

/// Copies `source` server side. The SHA-256 the receiver checks is computed by reading the
/// source once (S3 keeps no full-object SHA-256 for most objects); both the read and the copy
/// insist on the same ETag, so they see the same bytes.
pub async fn copy_object(
    destination: &Destination,
    source: &S3Source,
    size: u64,
    etag: &str,
    progress: &ProgressBar,
) -> Result<Uploaded> {
    progress.set_length(size);
    let sha256 = hash_source(&destination.s3, source, etag, progress).await?;
    let Some(part_size) = copy_part_size(size) else {
        let what = call("s3:PutObject", destination.resource());
        destination
            .s3
            .copy_object()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .copy_source(source.copy_source())
            .copy_source_if_match(etag)
            .set_tagging(destination.tagging.clone())
            .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
            .set_metadata(Some(destination.metadata()))
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .send()
            .await
            .map_err(|e| aws::explain(e, &what))?;
        return Ok(Uploaded { size, sha256 });
    };
    copy_in_parts(destination, source, size, etag, part_size).await?;
    Ok(Uploaded { size, sha256 })
}

/// The part size for copying an object of `size` bytes, or `None` when one CopyObject can.
fn copy_part_size(size: u64) -> Option<u64> {
    (size > COPY_OBJECT_LIMIT)
        .then(|| COPY_PART_SIZE.max(size.div_ceil(MAX_PARTS).next_multiple_of(MIB)))
}

/// A multipart upload made of UploadPartCopy requests, aborted if any of them fails.
async fn copy_in_parts(
    destination: &Destination,
    source: &S3Source,
    size: u64,
    etag: &str,
    part_size: u64,
) -> Result<()> {
    let upload = start_multipart(destination).await?;
    let copied = copy_parts(destination, &upload, source, size, etag, part_size).await;
    if copied.is_err() {
        abort_multipart(destination, &upload).await;
    }
    copied
}

async fn hash_source(
    s3: &aws_sdk_s3::Client,
    source: &S3Source,
    etag: &str,
    progress: &ProgressBar,
) -> Result<String> {
    let what = call("s3:GetObject", source.url());
    let object = s3
        .get_object()
        .bucket(&source.bucket)
        .key(&source.key)
        .if_match(etag)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let mut body = object.body;
    let mut hasher = Sha256::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .with_context(|| format!("reading {}", source.url()))?
    {
        hasher.update(&chunk);
        progress.inc(chunk.len() as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies `source` into the upload part by part, `destination.parallel` parts at a time, and
/// completes it. The first failed part ends the copy.
async fn copy_parts(
    destination: &Destination,
    upload_id: &str,
    source: &S3Source,
    size: u64,
    etag: &str,
    part_size: u64,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(destination.parallel.max(1)));
    let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
    let mut parts = Vec::new();
    let mut offset = 0;
    let mut number = 0;
    while offset < size {
        while let Some(finished) = tasks.try_join_next() {
            parts.push(finished.context("a part copy panicked")??);
        }
        let end = (offset + part_size).min(size);
        number += 1;
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let (destination, upload_id) = (destination.clone(), upload_id.to_owned());
        let (copy_source, etag) = (source.copy_source(), etag.to_owned());
        let range = format!("bytes={offset}-{}", end - 1);
        tasks.spawn(async move {
            let what = call("s3:PutObject", destination.resource());
            let answer = destination
                .s3
                .upload_part_copy()
                .bucket(&destination.bucket)
                .key(&destination.key)
                .upload_id(&upload_id)
                .part_number(number)
                .copy_source(copy_source)
                .copy_source_if_match(etag)
                .copy_source_range(range)
                .send()
                .await
                .map_err(|e| aws::explain(e, &what))?;
            drop(permit);
            let result = answer
                .copy_part_result()
                .context("UploadPartCopy gave no result")?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(result.e_tag().map(str::to_owned))
                .set_checksum_sha256(result.checksum_sha256().map(str::to_owned))
                .build())
        });
        offset = end;
    }
    while let Some(finished) = tasks.join_next().await {
        parts.push(finished.context("a part copy panicked")??);
    }
    parts.sort_by_key(|p| p.part_number());
    complete(destination, upload_id, parts, size).await
}

fn is_retryable<E>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_s3::error::SdkError;
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service.raw().status().is_server_error(),
        _ => false,
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

/// Standard base64 with padding, as S3's checksum headers take it.
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_8_mib_until_10000_would_not_suffice() {
        assert_eq!(part_size(1), MIN_PART_SIZE);
        // 80 GiB needs 8.2 MiB parts: rounded up to whole MiB.
        assert_eq!(part_size(80 * 1024 * 1024 * 1024), 9 * 1024 * 1024);
        let huge = 5u64 << 40; // 5 TiB, S3's largest object
        assert!(part_size(huge) * MAX_PARTS >= huge);
    }

    #[test]
    fn copies_above_5_gib_go_in_parts_that_10000_can_hold() {
        assert_eq!(copy_part_size(COPY_OBJECT_LIMIT), None);
        assert_eq!(copy_part_size(COPY_OBJECT_LIMIT + 1), Some(COPY_PART_SIZE));
        let huge = 5u64 << 40; // 5 TiB, S3's largest object
        let part = copy_part_size(huge).unwrap();
        assert!(
            part * MAX_PARTS >= huge && part <= COPY_OBJECT_LIMIT,
            "{part}"
        );
        assert_eq!(part % MIB, 0);
    }

    /// UploadPartCopy against moto, with parts small enough for a test (S3 takes 5 MiB and
    /// up): the copy has the source's bytes and the transfer's tag and expiry.
    #[tokio::test]
    async fn part_by_part_copy_keeps_bytes_tag_and_expiry_and_aborts_on_failure() {
        use certdrop::standins::moto::MotoServer;

        let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        let credentials = aws_sdk_s3::config::Credentials::new("key", "secret", None, None, "t");
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(moto.endpoint())
            .credentials_provider(credentials)
            .http_client(aws::http_client());
        let s3 = aws::s3_client(config, true);
        let bucket = "certdrop-copy-test";
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        let content: Vec<u8> = (0..21 * MIB + 5).map(|i| (i * 7 % 251) as u8).collect();
        let source = S3Source::parse("s3://certdrop-copy-test/exports/big file.bin")
            .unwrap()
            .unwrap();
        s3.put_object()
            .bucket(bucket)
            .key(&source.key)
            .body(ByteStream::from(content.clone()))
            .send()
            .await
            .unwrap();
        let (size, etag) = head_source(&s3, &source).await.unwrap();
        let expires_at = chrono::DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let destination = Destination {
            s3: s3.clone(),
            bucket: bucket.to_owned(),
            key: "transfers/abc/big file.bin".to_owned(),
            tagging: Some("certdrop-ttl=7d".to_owned()),
            expires_at,
            parallel: 2,
        };

        copy_in_parts(&destination, &source, size, &etag, 8 * MIB)
            .await
            .unwrap();
        let copy = s3
            .get_object()
            .bucket(bucket)
            .key(&destination.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            copy.metadata().unwrap().get(EXPIRES_METADATA).unwrap(),
            "2030-01-02T03:04:05Z"
        );
        // A multipart object's ETag ends with its number of parts.
        assert!(
            copy.e_tag().unwrap().ends_with("-3\""),
            "{:?}",
            copy.e_tag()
        );
        let copied = copy.body.collect().await.unwrap().into_bytes();
        assert!(copied == content, "the copy differs from the source");
        let tags = s3
            .get_object_tagging()
            .bucket(bucket)
            .key(&destination.key)
            .send()
            .await
            .unwrap();
        let tags: Vec<_> = tags
            .tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect();
        assert_eq!(tags, [("certdrop-ttl", "7d")]);

        // A source that is gone fails the copy, and no upload is left open.
        let missing = S3Source::parse("s3://certdrop-copy-test/exports/gone.bin")
            .unwrap()
            .unwrap();
        let other = Destination {
            key: "transfers/def/gone.bin".to_owned(),
            ..destination.clone()
        };
        let error = copy_in_parts(&other, &missing, size, &etag, 8 * MIB)
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("s3:PutObject"), "{error:#}");
        let uploads = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_of(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn s3_sources_need_a_bucket_and_a_key() {
        let source = S3Source::parse("s3://b/dir/a b.zip").unwrap().unwrap();
        assert_eq!(source.file_name(), "a b.zip");
        assert_eq!(source.copy_source(), "b/dir/a%20b.zip");
        assert!(S3Source::parse("s3://bucket").unwrap().is_err());
        assert!(S3Source::parse("s3:///key").unwrap().is_err());
        assert!(S3Source::parse("report.zip").is_none());
    }
}
