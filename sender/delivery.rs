//! Handing the program over when mail refuses an `.exe`: a zip holding the program and the
//! recipient's bilingual read-me (`send --zip`), and a copy in the bucket under
//! `receivers/<transfer id>/` behind a pre-signed HTTPS link (`send --link`).

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use crate::aws::{self, call, Aws};

/// The longest a pre-signed SigV4 URL can live (an S3 limit).
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The read-me that goes into the zip, in Japanese and English.
const README_TEMPLATE: &str = "README-recipient.txt";
/// Its name inside the zip.
pub const README_NAME: &str = "README.txt";

/// `receive-report.exe` becomes `receive-report.zip`.
pub fn zip_name(program_name: &str) -> String {
    let stem = program_name.strip_suffix(".exe").unwrap_or(program_name);
    format!("{stem}.zip")
}

/// The zip for the recipient: the program and the read-me, stored as they are (the program
/// is mostly random bytes and compresses poorly; stored entries open everywhere).
pub fn recipient_zip(program_name: &str, program: &[u8], modified: DateTime<Utc>) -> Vec<u8> {
    let readme = crate::init::TEMPLATES
        .get_file(README_TEMPLATE)
        .expect("templates/README-recipient.txt is embedded at build time")
        .contents();
    let entries = [(program_name, program), (README_NAME, readme)];
    zip::stored(&entries, modified)
}

/// Where a program's copy lives in the bucket.
pub fn receiver_key(transfer_id: &str, file_name: &str) -> String {
    format!("receivers/{transfer_id}/{file_name}")
}

/// A pre-signed link and when it stops working.
pub struct Link {
    pub url: String,
    pub expires_at: DateTime<Utc>,
    /// Why it ends before the transfer does, if it does.
    pub cut_short_by: Option<LinkLimit>,
}

/// What ends a link before the transfer's own expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLimit {
    /// S3 lets a pre-signed URL live 7 days at most.
    SevenDays,
    /// The URL is signed with the sender's temporary credentials and dies with them.
    SenderCredentials,
}

/// How long a link may live: the transfer's expiry, capped by S3's 7 days and by the
/// sender's own credentials when they are temporary (SSO, an assumed role).
pub fn link_lifetime(
    now: DateTime<Utc>,
    transfer_expires: DateTime<Utc>,
    credentials_expire: Option<DateTime<Utc>>,
) -> Result<(Duration, Option<LinkLimit>)> {
    let until = |end: DateTime<Utc>| (end - now).to_std().unwrap_or(Duration::ZERO);
    let mut lifetime = until(transfer_expires);
    let mut limit = None;
    if lifetime > MAX_LINK_LIFETIME {
        lifetime = MAX_LINK_LIFETIME;
        limit = Some(LinkLimit::SevenDays);
    }
    if let Some(end) = credentials_expire {
        if until(end) < lifetime {
            lifetime = until(end);
            limit = Some(LinkLimit::SenderCredentials);
        }
    }
    if lifetime < Duration::from_secs(60) {
        bail!(
            "your AWS credentials expire in less than a minute, so a link signed with them \
             would not work; sign in again (`aws sso login`) and send again"
        );
    }
    Ok((lifetime, limit))
}

/// When the sender's credentials expire, if they are temporary.
pub async fn credentials_expiry(aws: &Aws) -> Result<Option<DateTime<Utc>>> {
    let provider = aws
        .config
        .credentials_provider()
        .context("no AWS credentials are configured; sign in or choose a profile")?;
    let credentials = provider
        .provide_credentials()
        .await
        .context("loading your AWS credentials to sign the link")?;
    Ok(credentials.expiry().map(DateTime::<Utc>::from))
}

/// Uploads `body` to `key` with the transfer's time-to-live tag, and signs a GET link to it.
pub async fn upload_and_link(
    aws: &Aws,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    tagging: &str,
    transfer_expires: DateTime<Utc>,
) -> Result<Link> {
    let put = call("s3:PutObject", format!("s3://{bucket}/{key}"));
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .content_type(content_type(key))
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| aws::explain(e, &put))?;

    let now = Utc::now();
    let credentials = credentials_expiry(aws).await?;
    let (lifetime, cut_short_by) = link_lifetime(now, transfer_expires, credentials)?;
    let presigning = PresigningConfig::builder()
        .start_time(SystemTime::from(now))
        .expires_in(lifetime)
        .build()
        .context("the link's lifetime")?;
    let get = call("s3:GetObject", format!("s3://{bucket}/{key}"));
    let request = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(presigning)
        .await
        .map_err(|e| aws::explain(e, &get))?;
    let lifetime = chrono::Duration::from_std(lifetime).expect("at most 7 days");
    Ok(Link {
        url: request.uri().to_owned(),
        expires_at: now + lifetime,
        cut_short_by,
    })
}

fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The few lines of the ZIP format (PKWARE's APPNOTE.TXT) that certdrop needs: stored
/// entries, UTF-8 names, no ZIP64 (a receiver program is a few megabytes).
mod zip {
    use chrono::{DateTime, Datelike, Timelike, Utc};

    const LOCAL_HEADER: u32 = 0x0403_4b50;
    const CENTRAL_HEADER: u32 = 0x0201_4b50;
    const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
    /// Version 2.0: what a stored entry needs.
    const VERSION: u16 = 20;
    /// General purpose bit 11: names are UTF-8.
    const UTF8_NAMES: u16 = 1 << 11;
    /// Compression method 0.
    const STORED: u16 = 0;

    /// An archive of `entries` (name, content), each stored, all dated `modified`.
    pub fn stored(entries: &[(&str, &[u8])], modified: DateTime<Utc>) -> Vec<u8> {
        let (time, date) = dos_time(modified);
        let mut archive = Vec::new();
        let mut central = Vec::new();
        for (name, content) in entries {
            let offset = u32::try_from(archive.len()).expect("a receiver zip is under 4 GiB");
            let fields = Fields {
                crc: crc32fast::hash(content),
                size: u32::try_from(content.len()).expect("a receiver zip is under 4 GiB"),
                name: name.as_bytes(),
                time,
                date,
            };
            put_u32(&mut archive, LOCAL_HEADER);
            fields.write_common(&mut archive);
            archive.extend_from_slice(fields.name);
            archive.extend_from_slice(content);

            put_u32(&mut central, CENTRAL_HEADER);
            put_u16(&mut central, VERSION); // made by: MS-DOS, version 2.0
            fields.write_common(&mut central);
            put_u16(&mut central, 0); // comment length
            put_u16(&mut central, 0); // disk number
            put_u16(&mut central, 0); // internal attributes
            put_u32(&mut central, 0); // external attributes
            put_u32(&mut central, offset);
            central.extend_from_slice(fields.name);
        }
        let count = u16::try_from(entries.len()).expect("a receiver zip has a few entries");
        let directory_offset = u32::try_from(archive.len()).expect("under 4 GiB");
        let directory_size = u32::try_from(central.len()).expect("under 4 GiB");
        archive.extend_from_slice(&central);
        put_u32(&mut archive, END_OF_CENTRAL_DIRECTORY);
        put_u16(&mut archive, 0); // this disk
        put_u16(&mut archive, 0); // the disk the directory starts on
        put_u16(&mut archive, count);
        put_u16(&mut archive, count);
        put_u32(&mut archive, directory_size);
        put_u32(&mut archive, directory_offset);
        put_u16(&mut archive, 0); // comment length
        archive
    }

    /// What the local and central headers share, from "version needed" to "extra length".
    struct Fields<'a> {
        crc: u32,
        size: u32,
        name: &'a [u8],
        time: u16,
        date: u16,
    }

    impl Fields<'_> {
        fn write_common(&self, out: &mut Vec<u8>) {
            put_u16(out, VERSION);
            put_u16(out, UTF8_NAMES);
            put_u16(out, STORED);
            put_u16(out, self.time);
            put_u16(out, self.date);
            put_u32(out, self.crc);
            put_u32(out, self.size); // compressed
            put_u32(out, self.size); // uncompressed
            let name_len = u16::try_from(self.name.len()).expect("names are short");
            put_u16(out, name_len);
            put_u16(out, 0); // extra field length
        }
    }

    /// MS-DOS time and date (2-second resolution, years 1980 to 2107).
    fn dos_time(t: DateTime<Utc>) -> (u16, u16) {
        let year = t.year().clamp(1980, 2107) as u16;
        let time = (t.hour() as u16) << 11 | (t.minute() as u16) << 5 | (t.second() as u16 / 2);
        let date = (year - 1980) << 9 | (t.month() as u16) << 5 | t.day() as u16;
        (time, date)
    }

    fn put_u16(out: &mut Vec<u8>, value: u16) {
        out.extend_from_slice(&value.to_le_bytes());
    }

    fn put_u32(out: &mut Vec<u8>, value: u32) {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
    }

    #[test]
    fn link_lives_as_long_as_the_transfer_within_seven_days() {
        let (lifetime, limit) = link_lifetime(at(0), at(36), None).unwrap();
        assert_eq!(lifetime, Duration::from_secs(36 * 3600));
        assert_eq!(limit, None);

        let (lifetime, limit) = link_lifetime(at(0), at(30 * 24), None).unwrap();
        assert_eq!(lifetime, MAX_LINK_LIFETIME);
        assert_eq!(limit, Some(LinkLimit::SevenDays));
    }

    #[test]
    fn link_ends_with_the_senders_temporary_credentials() {
        let (lifetime, limit) = link_lifetime(at(0), at(30 * 24), Some(at(8))).unwrap();
        assert_eq!(lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(limit, Some(LinkLimit::SenderCredentials));

        // Credentials outliving the transfer change nothing.
        let (lifetime, limit) = link_lifetime(at(0), at(2), Some(at(8))).unwrap();
        assert_eq!(lifetime, Duration::from_secs(2 * 3600));
        assert_eq!(limit, None);
    }

    #[test]
    fn link_is_refused_when_the_senders_credentials_are_about_to_expire() {
        let soon = at(0) + chrono::Duration::seconds(30);
        let error = link_lifetime(at(0), at(24), Some(soon)).unwrap_err();
        assert!(error.to_string().contains("aws sso login"), "{error}");
    }

    #[test]
    fn zip_names_replace_the_exe_extension() {
        assert_eq!(zip_name("receive-report.exe"), "receive-report.zip");
        assert_eq!(zip_name("receive-見積書"), "receive-見積書.zip");
    }

    #[test]
    fn stored_zip_has_the_layout_appnote_describes() {
        let archive = zip::stored(&[("a.txt", b"hello"), ("名前.bin", b"")], at(13));
        // Local header of the first entry: signature, version, UTF-8 flag, stored.
        assert_eq!(&archive[..4], b"PK\x03\x04");
        assert_eq!(&archive[6..10], &[0x00, 0x08, 0x00, 0x00]);
        // CRC-32 of "hello", then both sizes.
        assert_eq!(&archive[14..18], &0x3610_a686u32.to_le_bytes());
        assert_eq!(&archive[18..26], &[5, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(&archive[30..35], b"a.txt");
        assert_eq!(&archive[35..40], b"hello");
        // The end record counts two entries and points at the central directory.
        let end = &archive[archive.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(&end[8..12], &[2, 0, 2, 0]);
        let offset = u32::from_le_bytes(end[16..20].try_into().unwrap()) as usize;
        assert_eq!(&archive[offset..offset + 4], b"PK\x01\x02");
    }
}
