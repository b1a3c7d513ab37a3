//! `certdrop send`: one transfer. Creates an active certificate with the receiver IoT policy,
//! uploads the file under `transfers/<certificate id>/`, packs the receiver program for each
//! platform asked, checks through the receiver's own code that the new identity can read the
//! object, and hands out the program and its password.
//!
//! Any failure rolls back everything created so far ([`Rollback`]): no orphan certificate,
//! object, multipart upload or half-written program.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use certdrop::credentials::{CredentialsClient, CredentialsError};
use certdrop::envelope::{KdfParams, Payload};
use certdrop::s3::{S3ErrorKind, S3Object};
use certdrop::secret::Password;
use certdrop::transfer::{Endpoint, TransferInfo};
use chrono::{DateTime, SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::debug;
use zeroize::Zeroizing;

use crate::aws::{self, call, Aws};
use crate::config::{ConfigDir, Settings, TransferRecord};
use crate::delivery::{self, LinkLimit};
use crate::identity::pkcs12_from_pem;
use crate::init::{TTL_DAYS, TTL_TAG};
use crate::pack::{pack_program, write_file, write_program};
use crate::upload::{self, Destination, S3Source, Uploaded};
use crate::{password, Platform, SendArgs};

/// How long the preflight keeps trying while AWS makes the new certificate known everywhere.
const PREFLIGHT_PATIENCE: Duration = Duration::from_secs(30);
/// The longest transfer.
const MAX_EXPIRY_HOURS: i64 = 30 * 24;

pub fn run(args: &SendArgs) -> Result<()> {
    // 1. Everything that can be checked without AWS, before anything is created.
    let config_dir = ConfigDir::new(&args.aws.profile_name())?;
    let settings = config_dir.load()?;
    let source = Source::check(&args.file)?;
    let file_name = source.file_name()?;
    let hours = parse_expiry(&args.expires)?;
    let stubs = find_stubs(args, &settings)?;
    let out_dir = output_folder(args.out.as_deref())?;
    let programs: Vec<(PathBuf, Vec<u8>)> = stubs
        .into_iter()
        .map(|(platform, stub)| (out_dir.join(program_name(&file_name, platform)), stub))
        .collect();
    for (path, _) in &programs {
        let zip = args.zip.then(|| zip_path(path));
        for path in std::iter::once(path).chain(zip.as_ref()) {
            if path.exists() {
                bail!(
                    "{} already exists; remove it or choose another --out folder",
                    path.display()
                );
            }
        }
    }
    let kdf = match args.kdf_memory_mib {
        Some(mib) => KdfParams::with_memory_mib(mib).context("--kdf-memory-mib")?,
        None => KdfParams::DEFAULT,
    };
    let (password, generated) = choose_password(args)?;
    let sender = sender_name(args)?;

    // 2. The AWS side, with a rollback that undoes whatever was created.
    let runtime = aws::runtime()?;
    runtime.block_on(async {
        let aws = Aws::load(&args.aws, Some(&settings.region)).await?;
        let mut rollback = Rollback::new(&aws, &settings);
        let result = send(
            &aws,
            &settings,
            args,
            &mut rollback,
            Plan {
                source,
                file_name,
                hours,
                programs,
                password: &password,
                kdf,
                sender,
                note: args.note.clone(),
            },
        )
        .await;
        match result {
            Ok(sent) => {
                let record = sent.record(args);
                if let Err(error) = config_dir.save_record(&record) {
                    eprintln!("warning: the local record was not written: {error:#}");
                }
                print_result(&sent, &password, generated, args.json);
                Ok(())
            }
            Err(error) => {
                rollback.run().await;
                Err(error)
            }
        }
    })
}

/// What `send` needs once the inputs are checked.
struct Plan<'a> {
    source: Source,
    file_name: String,
    hours: i64,
    programs: Vec<(PathBuf, Vec<u8>)>,
    password: &'a Password,
    kdf: KdfParams,
    sender: String,
    note: Option<String>,
}

/// What `send` produced.
struct Sent {
    info: TransferInfo,
    handouts: Vec<Handout>,
    created_at: DateTime<Utc>,
}

/// What goes to the recipient for one platform: the program, and its zip and link if asked.
struct Handout {
    program: PathBuf,
    zip: Option<PathBuf>,
    link: Option<delivery::Link>,
}

impl Sent {
    fn record(&self, args: &SendArgs) -> TransferRecord {
        TransferRecord {
            transfer_id: self.info.transfer_id.clone(),
            recipient: args.to.clone(),
            note: args.note.clone(),
            file_name: self.info.file_name.clone(),
            key: self.info.key.clone(),
            size: self.info.size,
            sha256: self.info.sha256.clone(),
            created_at: self.created_at,
            expires_at: self.info.expires_at,
            programs: self
                .handouts
                .iter()
                .flat_map(|h| std::iter::once(&h.program).chain(&h.zip))
                .cloned()
                .collect(),
        }
    }
}

async fn send(
    aws: &Aws,
    settings: &Settings,
    args: &SendArgs,
    rollback: &mut Rollback<'_>,
    mut plan: Plan<'_>,
) -> Result<Sent> {
    // An object already in S3 must exist and be readable before anything is created.
    if let Source::S3 { source, size, etag } = &mut plan.source {
        (*size, *etag) = upload::head_source(&aws.s3, source).await?;
    }
    let created_at = Utc::now().trunc_subsecs(0);
    let expires_at = created_at + chrono::Duration::hours(plan.hours);

    // The certificate, active, with the receiver policy.
    let certificate = create_certificate(aws).await?;
    let id = certificate.id.clone();
    rollback.certificate = Some((certificate.id.clone(), certificate.arn.clone()));
    eprintln!("created the transfer's certificate {id}");
    attach_policy(aws, settings, &certificate.arn).await?;
    rollback.policy_attached = true;

    // The upload.
    let key = format!("transfers/{id}/{}", plan.file_name);
    rollback.object = Some(key.clone());
    let tagging = format!("{TTL_TAG}={}d", ttl_days(plan.hours));
    let destination = Destination {
        s3: aws.s3.clone(),
        bucket: settings.bucket.clone(),
        key: key.clone(),
        tagging: Some(tagging.clone()),
        expires_at,
        parallel: args.parallel,
    };
    let progress = progress_bar(args.json);
    let uploaded = match &plan.source {
        Source::Local(path) => upload::upload_file(&destination, path, &progress).await?,
        Source::S3 { source, size, etag } => {
            upload::copy_object(&destination, source, *size, etag, &progress).await?
        }
    };
    progress.finish_and_clear();
    eprintln!(
        "uploaded {} bytes to s3://{}/{key}",
        uploaded.size, settings.bucket
    );

    // The receiver programs.
    let info = transfer_info(aws, settings, &plan, &id, &key, &uploaded, expires_at)?;
    let identity = pkcs12_from_pem(&certificate.pem, &certificate.key_pem)
        .context("turning the new certificate into the receiver's identity")?;
    let payload = Payload {
        info: info.clone(),
        pkcs12: identity.der,
        pkcs12_password: identity.password,
    };
    let mut packed = Vec::new();
    for (path, stub) in &plan.programs {
        let program = pack_program(stub, &payload, plan.password, plan.kdf)
            .with_context(|| format!("packing {}", path.display()))?;
        rollback.programs.push(path.clone());
        write_program(path, &program)?;
        packed.push((path.clone(), program));
    }

    // Before handing anything out: can the new identity really get the file?
    preflight(&payload).await?;

    // The zip and the link, for recipients whose mail refuses an exe.
    let delivery = Delivery {
        aws,
        bucket: &settings.bucket,
        info: &info,
        tagging: &tagging,
        created_at,
        zip: args.zip,
        link: args.link,
    };
    let mut handouts = Vec::new();
    for (path, program) in packed {
        handouts.push(delivery.hand_out(rollback, path, program).await?);
    }
    rollback.disarm();
    Ok(Sent {
        info,
        handouts,
        created_at,
    })
}

/// `receive-report.exe` is zipped as `receive-report.zip` beside it.
fn zip_path(program: &Path) -> PathBuf {
    let name = program.file_name().map(|n| n.to_string_lossy());
    program.with_file_name(delivery::zip_name(name.as_deref().unwrap_or("receive")))
}

/// What the zip and the link of each program need to know of the transfer, and which of
/// them were asked for.
struct Delivery<'a> {
    aws: &'a Aws,
    bucket: &'a str,
    info: &'a TransferInfo,
    tagging: &'a str,
    created_at: DateTime<Utc>,
    zip: bool,
    link: bool,
}

impl Delivery<'_> {
    /// Writes the zip (`--zip`), and uploads what the recipient gets, the zip or else the
    /// program, under `receivers/<id>/` with a pre-signed link to it (`--link`).
    async fn hand_out(
        &self,
        rollback: &mut Rollback<'_>,
        program: PathBuf,
        bytes: Vec<u8>,
    ) -> Result<Handout> {
        let program_name = program
            .file_name()
            .expect("program paths are made from a file name")
            .to_string_lossy()
            .into_owned();
        let mut handout = Handout {
            program,
            zip: None,
            link: None,
        };
        let mut given = (program_name.clone(), bytes);
        if self.zip {
            let path = zip_path(&handout.program);
            let archive = delivery::recipient_zip(&program_name, &given.1, self.created_at);
            rollback.programs.push(path.clone());
            write_file(&path, &archive)?;
            given = (delivery::zip_name(&program_name), archive);
            handout.zip = Some(path);
        }
        if self.link {
            let key = delivery::receiver_key(&self.info.transfer_id, &given.0);
            rollback.receivers.push(key.clone());
            let expires = self.info.expires_at;
            let link = delivery::upload_and_link(
                self.aws,
                self.bucket,
                &key,
                given.1,
                self.tagging,
                expires,
            )
            .await?;
            handout.link = Some(link);
        }
        Ok(handout)
    }
}

/// A certificate made by CreateKeysAndCertificate; the key never leaves memory unzeroized.
struct NewCertificate {
    id: String,
    arn: String,
    pem: String,
    key_pem: Zeroizing<String>,
}

async fn create_certificate(aws: &Aws) -> Result<NewCertificate> {
    let what = call("iot:CreateKeysAndCertificate", "a new certificate");
    let answer = aws
        .iot
        .create_keys_and_certificate()
        .set_as_active(true)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    let missing = |field| format!("CreateKeysAndCertificate gave no {field}");
    let key_pem = Zeroizing::new(
        answer
            .key_pair()
            .and_then(|k| k.private_key())
            .with_context(|| missing("private key"))?
            .to_owned(),
    );
    Ok(NewCertificate {
        id: answer
            .certificate_id()
            .with_context(|| missing("id"))?
            .to_owned(),
        arn: answer
            .certificate_arn()
            .with_context(|| missing("ARN"))?
            .to_owned(),
        pem: answer
            .certificate_pem()
            .with_context(|| missing("PEM"))?
            .to_owned(),
        key_pem,
    })
}

async fn attach_policy(aws: &Aws, settings: &Settings, certificate_arn: &str) -> Result<()> {
    let what = call(
        "iot:AttachPolicy",
        format!("policy {} to {certificate_arn}", settings.iot_policy),
    );
    aws.iot
        .attach_policy()
        .policy_name(&settings.iot_policy)
        .target(certificate_arn)
        .send()
        .await
        .map_err(|e| aws::explain(e, &what))?;
    Ok(())
}

fn transfer_info(
    aws: &Aws,
    settings: &Settings,
    plan: &Plan<'_>,
    id: &str,
    key: &str,
    uploaded: &Uploaded,
    expires_at: DateTime<Utc>,
) -> Result<TransferInfo> {
    let info = TransferInfo {
        transfer_id: id.to_owned(),
        credentials_endpoint: settings.credentials_endpoint.clone(),
        role_alias: settings.role_alias.clone(),
        region: settings.region.clone(),
        bucket: settings.bucket.clone(),
        key: key.to_owned(),
        s3_endpoint: aws.custom_s3_endpoint(),
        size: uploaded.size,
        sha256: uploaded.sha256.clone(),
        file_name: plan.file_name.clone(),
        expires_at,
        sender: plan.sender.clone(),
        note: plan.note.clone(),
        receipt_prefix: format!("receipts/{id}/"),
        trust_anchor_pem: settings.ca_pem.clone(),
    };
    info.validate()
        .context("the transfer description is not valid")?;
    Ok(info)
}

/// Gets credentials with the new identity through the receiver's own client, then HEADs the
/// object with them, trying again briefly while AWS spreads the new certificate around.
async fn preflight(payload: &Payload) -> Result<()> {
    let info = &payload.info;
    let endpoint = Endpoint::parse(&info.credentials_endpoint)
        .with_context(|| format!("the credentials endpoint {}", info.credentials_endpoint))?;
    let client = CredentialsClient::new(&endpoint, &info.role_alias, payload)
        .context("preparing the preflight check")?;
    let http = certdrop::net::client(None, info.s3_trust_anchor(), 1)
        .context("preparing the preflight check")?;
    let object = S3Object::new(http, info, &info.key).context("preparing the preflight check")?;
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome = async {
            let credentials = client.fetch().await.map_err(Failure::Credentials)?;
            object.head(&credentials).await.map_err(Failure::S3)
        }
        .await;
        let failure = match outcome {
            Ok(head) if head.size == info.size => {
                debug!(attempt, "preflight passed");
                return Ok(());
            }
            Ok(head) => bail!(
                "preflight: the object has {} bytes, not the {} uploaded",
                head.size,
                info.size
            ),
            Err(failure) => failure,
        };
        if !failure.may_pass() || started.elapsed() > PREFLIGHT_PATIENCE {
            bail!(
                "preflight failed: the new transfer's identity could not {}; nothing was \
                 handed out. Check the credentials endpoint ({}) and the stack \
                 (`certdrop init`), then send again",
                failure,
                info.credentials_endpoint
            );
        }
        debug!(attempt, %failure, "preflight not yet passing; trying again");
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt.min(6)))).await;
    }
}

/// Why the preflight did not pass (yet).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("get credentials: {0}")]
    Credentials(CredentialsError),
    #[error("read the object: {0}")]
    S3(certdrop::s3::S3Error),
}

impl Failure {
    /// New certificates and policies take a moment to work everywhere on AWS.
    fn may_pass(&self) -> bool {
        match self {
            Failure::Credentials(e) => {
                e.is_transient() || matches!(e, CredentialsError::Forbidden(_))
            }
            Failure::S3(e) => {
                e.kind.is_retryable()
                    || matches!(e.kind, S3ErrorKind::AccessDenied | S3ErrorKind::NotFound)
            }
        }
    }
}

/// Undoes what `send` created, in reverse order; each step is tried even if another fails.
struct Rollback<'a> {
    aws: &'a Aws,
    settings: &'a Settings,
    certificate: Option<(String, String)>,
    policy_attached: bool,
    object: Option<String>,
    /// Copies of the programs under `receivers/<id>/`, for `--link`.
    receivers: Vec<String>,
    programs: Vec<PathBuf>,
    armed: bool,
}

impl<'a> Rollback<'a> {
    fn new(aws: &'a Aws, settings: &'a Settings) -> Self {
        Rollback {
            aws,
            settings,
            certificate: None,
            policy_attached: false,
            object: None,
            receivers: Vec::new(),
            programs: Vec::new(),
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }

    async fn run(&mut self) {
        if !self.armed {
            return;
        }
        let mut left = Vec::new();
        for path in self.programs.drain(..) {
            if let Err(e) = fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    left.push(format!("the program {}", path.display()));
                }
            }
        }
        let receivers = self.receivers.drain(..);
        for key in receivers.chain(self.object.take()) {
            if let Err(e) =
                crate::manage::delete_object(self.aws, &self.settings.bucket, &key).await
            {
                left.push(format!("{e:#}"));
            }
        }
        if let Some((id, arn)) = self.certificate.take() {
            let steps = crate::manage::remove_certificate(
                self.aws,
                self.settings,
                &id,
                &arn,
                self.policy_attached,
            )
            .await;
            if let Err(e) = steps {
                left.push(format!("{e:#}"));
            } else {
                eprintln!(
                    "rolled back: the certificate {id} and everything sent with it are deleted"
                );
            }
        }
        for what in left {
            eprintln!(
                "warning: could not roll back: {what}; remove it by hand (or `certdrop sweep`)"
            );
        }
    }
}

/// Where the file comes from.
enum Source {
    Local(PathBuf),
    S3 {
        source: S3Source,
        size: u64,
        etag: String,
    },
}

impl Source {
    /// Checks a local file now; an S3 source is only parsed (its HEAD needs AWS).
    fn check(text: &str) -> Result<Source> {
        if let Some(parsed) = S3Source::parse(text) {
            let source = parsed?;
            return Ok(Source::S3 {
                source,
                size: 0,
                etag: String::new(),
            });
        }
        let path = PathBuf::from(text);
        let metadata = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "{} does not exist; check the name and folder",
                    path.display()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("looking at {}", path.display())),
        };
        if metadata.is_dir() {
            bail!(
                "{} is a folder; certdrop sends one file: zip the folder first",
                path.display()
            );
        }
        if !metadata.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        fs::File::open(&path).with_context(|| {
            format!(
                "cannot read {} (check its permissions, or whether another program locks it)",
                path.display()
            )
        })?;
        Ok(Source::Local(path))
    }

    fn file_name(&self) -> Result<String> {
        let name = match self {
            Source::Local(path) => path
                .file_name()
                .context("the file has no name")?
                .to_str()
                .with_context(|| {
                    format!(
                        "the file name of {} is not valid Unicode; rename it",
                        path.display()
                    )
                })?
                .to_owned(),
            Source::S3 { source, .. } => source.file_name().to_owned(),
        };
        if name.chars().count() > 255 || name.chars().any(char::is_control) {
            bail!("the file name {name:?} is too long or holds control characters; rename it");
        }
        Ok(name)
    }
}

/// `--expires`: `12h`, `7d` (or a bare number of days), from 1 hour to 30 days.
pub fn parse_expiry(text: &str) -> Result<i64> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix(['h', 'H']) {
        Some(n) => (n, 1),
        None => (text.strip_suffix(['d', 'D']).unwrap_or(text), 24),
    };
    let hours = number
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n * unit)
        .with_context(|| format!("--expires {text}: give hours or days, such as 12h or 7d"))?;
    if hours > MAX_EXPIRY_HOURS {
        bail!("--expires {text}: at most 30 days (30d)");
    }
    Ok(hours)
}

/// The lifecycle tag's days: the next rule at or above the exact expiry.
pub fn ttl_days(hours: i64) -> u32 {
    let days = (hours as u64).div_ceil(24) as u32;
    TTL_DAYS
        .into_iter()
        .find(|d| *d >= days)
        .unwrap_or(TTL_DAYS[TTL_DAYS.len() - 1])
}

/// `receive-<name without extensions><platform's extension>`: one extension only, so that
/// `report.zip` never becomes `report.zip.exe`.
pub fn program_name(file_name: &str, platform: Platform) -> String {
    let safe = certdrop::safe_name::safe_file_name(file_name);
    let stem = safe
        .split('.')
        .find(|s| !s.trim().is_empty())
        .unwrap_or("file");
    format!("receive-{}{}", stem.trim(), platform.extension())
}

/// Each platform's stub: `--stub`, or the configured stub folder, or next to this program.
fn find_stubs(args: &SendArgs, settings: &Settings) -> Result<Vec<(Platform, Vec<u8>)>> {
    let platforms = if args.platform.is_empty() {
        vec![Platform::WindowsX86_64]
    } else {
        args.platform.clone()
    };
    if args.stub.is_some() && platforms.len() > 1 {
        bail!("--stub gives one stub: use it with a single --platform");
    }
    let mut stubs = Vec::new();
    for platform in platforms {
        let path = match &args.stub {
            Some(path) => path.clone(),
            None => locate_stub(platform, settings)?,
        };
        let bytes =
            fs::read(&path).with_context(|| format!("reading the stub {}", path.display()))?;
        stubs.push((platform, bytes));
    }
    Ok(stubs)
}

fn locate_stub(platform: Platform, settings: &Settings) -> Result<PathBuf> {
    let name = platform.stub_name();
    let exe = std::env::current_exe().context("finding this program")?;
    let mut folders = Vec::new();
    folders.extend(settings.stub_dir.clone());
    folders.extend(exe.parent().map(Path::to_path_buf));
    for folder in &folders {
        let candidate = folder.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let looked: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
    bail!(
        "no {} receiver stub ({name}) in {}; put IT's signed stub there or pass --stub PATH",
        platform.name(),
        looked.join(" or ")
    )
}

fn output_folder(out: Option<&Path>) -> Result<PathBuf> {
    let folder = match out {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("finding the current folder")?,
    };
    if !folder.is_dir() {
        bail!(
            "--out {} is not a folder; give the folder to write the program into",
            folder.display()
        );
    }
    Ok(folder)
}

/// The password: generated unless the sender chose one (which must not be weak).
fn choose_password(args: &SendArgs) -> Result<(Password, bool)> {
    if !args.password_stdin && !args.password_prompt {
        return Ok((password::generate(), true));
    }
    let chosen = password::new_password(args.password_stdin)?;
    password::check_strength(&chosen)?;
    Ok((chosen, false))
}

fn sender_name(args: &SendArgs) -> Result<String> {
    let name = match &args.from {
        Some(name) => name.clone(),
        None => std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "certdrop".to_owned()),
    };
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        bail!("--from: give your name (1 to 200 characters, no control characters)");
    }
    Ok(name)
}

pub fn progress_bar(json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .expect("a valid template");
    bar.set_style(style);
    bar
}

fn print_result(sent: &Sent, password: &Password, generated: bool, json: bool) {
    let info = &sent.info;
    let programs: Vec<&PathBuf> = sent.handouts.iter().map(|h| &h.program).collect();
    if json {
        let zips: Vec<&PathBuf> = sent
            .handouts
            .iter()
            .filter_map(|h| h.zip.as_ref())
            .collect();
        let links: Vec<serde_json::Value> = sent
            .handouts
            .iter()
            .filter_map(|h| h.link.as_ref())
            .map(|l| {
                let cut_short_by = l.cut_short_by.map(|limit| match limit {
                    LinkLimit::SevenDays => "seven_day_limit",
                    LinkLimit::SenderCredentials => "sender_credentials",
                });
                serde_json::json!({
                    "url": l.url,
                    "expires_at": l.expires_at,
                    "cut_short_by": cut_short_by,
                    "note": link_lifetime_note(l, info.expires_at),
                })
            })
            .collect();
        let value = serde_json::json!({
            "transfer_id": info.transfer_id,
            "programs": programs,
            "zips": zips,
            "links": links,
            "bucket": info.bucket,
            "key": info.key,
            "size": info.size,
            "sha256": info.sha256,
            "expires_at": info.expires_at,
            "password": password.expose(),
            "password_generated": generated,
        });
        println!("{value}");
        return;
    }
    println!("transfer:  {}", info.transfer_id);
    for handout in &sent.handouts {
        println!("program:   {}", handout.program.display());
        if let Some(zip) = &handout.zip {
            println!("zip:       {}", zip.display());
        }
        if let Some(link) = &handout.link {
            println!("link:      {}", link.url);
            println!("           {}", link_lifetime_note(link, info.expires_at));
        }
    }
    println!("expires:   {}", info.expires_at.to_rfc3339());
    println!("password:  {}", password.expose());
    let what = if sent.handouts.iter().any(|h| h.link.is_some()) {
        "the link"
    } else if sent.handouts.iter().any(|h| h.zip.is_some()) {
        "the zip"
    } else {
        "the program"
    };
    println!(
        "Send {what} to the recipient, and the password by another channel (phone, a \
         different messenger), never in the same mail."
    );
}

/// When a link stops working, and why if that is before the transfer ends.
fn link_lifetime_note(link: &delivery::Link, transfer_expires: DateTime<Utc>) -> String {
    let until = link.expires_at.to_rfc3339();
    let transfer = transfer_expires.to_rfc3339();
    match link.cut_short_by {
        None => format!("(works until {until}, as long as the transfer)"),
        Some(LinkLimit::SevenDays) => format!(
            "(works until {until}: S3 lets a link live 7 days at most, and the transfer lasts \
             until {transfer}; after that, hand over the program itself)"
        ),
        Some(LinkLimit::SenderCredentials) => format!(
            "(works until {until} only: it is signed with your temporary AWS credentials and \
             ends with them, before the transfer does ({transfer}); hand over the program \
             itself, or send again signed in with longer-lived credentials)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_hours_or_days_up_to_30_days() {
        assert_eq!(parse_expiry("12h").unwrap(), 12);
        assert_eq!(parse_expiry("7d").unwrap(), 168);
        assert_eq!(parse_expiry("3").unwrap(), 72);
        assert_eq!(parse_expiry("30d").unwrap(), 720);
        for bad in ["31d", "0h", "-1d", "tomorrow", ""] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifecycle_tag_rounds_up_to_the_next_rule() {
        let cases = [
            (1, 1),
            (24, 1),
            (25, 3),
            (72, 3),
            (96, 7),
            (169, 14),
            (720, 30),
        ];
        for (hours, days) in cases {
            assert_eq!(ttl_days(hours), days, "{hours} h");
        }
    }

    #[test]
    fn program_names_have_a_single_extension() {
        let windows = Platform::WindowsX86_64;
        assert_eq!(program_name("report.zip", windows), "receive-report.exe");
        assert_eq!(program_name("data.tar.gz", windows), "receive-data.exe");
        assert_eq!(
            program_name("見積書 2026.pdf", windows),
            "receive-見積書 2026.exe"
        );
        assert_eq!(
            program_name(".hidden", Platform::LinuxX86_64),
            "receive-hidden"
        );
    }
}
