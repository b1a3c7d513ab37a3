//! `certdrop demo`: the whole transfer on this computer, without an AWS account. The local
//! stand-ins (an IoT credentials provider emulator with its own CA, and s3s-fs, which checks
//! every signature) take AWS's place; everything else is the production code: the envelope,
//! packing, and the real receiver program run as a recipient would run it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use certdrop::envelope::{KdfParams, Payload};
use certdrop::standins::{Stack, StackConfig};
use certdrop::transfer::TransferInfo;
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

use crate::aws;
use crate::identity::pkcs12_from_pem;
use crate::pack::{pack_program, write_program};
use crate::upload::{self, Destination, Uploaded};
use crate::{password, DemoArgs};

const SAMPLE_NAME: &str = "certdrop-demo-sample.bin";

pub fn run(args: &DemoArgs) -> Result<()> {
    let stub = receiver_stub()?;
    let work = tempfile::Builder::new()
        .prefix("certdrop-demo-")
        .tempdir()?;
    let (sender_dir, recipient_dir) = (work.path().join("sender"), work.path().join("recipient"));
    std::fs::create_dir_all(&sender_dir)?;
    std::fs::create_dir_all(&recipient_dir)?;

    // 1. The local stand-ins for AWS.
    say("starting the local stand-ins for AWS (credentials provider emulator, S3)");
    let stack = Stack::start(StackConfig::default()).context("starting the stand-ins")?;

    // 2. The file to send.
    let sample = sender_dir.join(SAMPLE_NAME);
    let content = sample_content(args.size_mib);
    std::fs::write(&sample, &content)?;
    say(&format!(
        "the file to send: {} ({} MiB)",
        sample.display(),
        args.size_mib
    ));

    // 3. What `certdrop send` does once it has an identity: upload, seal, pack.
    let client = stack.issue_client("certdrop demo recipient")?;
    let transfer_id = client.certificate_id();
    let key = format!("transfers/{transfer_id}/{SAMPLE_NAME}");
    let uploaded = upload(&stack, &key, &sample)?;
    if uploaded.sha256 != hex::encode(Sha256::digest(&content)) {
        bail!("the uploader read other bytes than the sample holds");
    }
    let info = transfer_info(&stack, &transfer_id, key, &uploaded);
    say(&format!("uploaded to s3://{}/{}", info.bucket, info.key));
    let identity = pkcs12_from_pem(client.cert_pem(), client.key_pem())?;
    let payload = Payload {
        info,
        pkcs12: identity.der,
        pkcs12_password: identity.password,
    };
    let password = password::generate();
    let program = work.path().join(program_name(&stub));
    let packed = pack_program(
        &std::fs::read(&stub)?,
        &payload,
        &password,
        KdfParams::DEFAULT,
    )?;
    write_program(&program, &packed)?;
    say(&format!(
        "packed the receiver program: {}",
        program.display()
    ));
    say(&format!(
        "the password to pass on by another channel: {}",
        password.expose()
    ));

    // 4. The recipient runs the program.
    let status = receive(
        &program,
        &recipient_dir,
        password.expose(),
        args.non_interactive,
    )?;
    if !status.success() {
        bail!("the receiver program failed ({status})");
    }

    // 5. What the sender can check.
    let received = recipient_dir.join(SAMPLE_NAME);
    let received = std::fs::read(&received).context("reading the received file")?;
    if Sha256::digest(&received) != Sha256::digest(std::fs::read(&sample)?) {
        bail!("the received file differs from the sent one");
    }
    let receipts = stack.list(&format!("receipts/{transfer_id}/"))?;
    say(&format!(
        "verified: the received file is identical to the sent one; receipt: {}",
        receipts.first().map_or("missing", String::as_str)
    ));
    say("cleaning up (the stand-ins stop, the demo folder is removed)");
    Ok(())
}

/// The receiver stub built next to this program (`cargo build --release` builds both).
fn receiver_stub() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program")?;
    let name = format!("certdrop-receiver{}", std::env::consts::EXE_SUFFIX);
    let stub = exe.with_file_name(name);
    if !stub.exists() {
        bail!(
            "the receiver stub {} is missing; build both programs with `cargo build --release`",
            stub.display()
        );
    }
    Ok(stub)
}

fn program_name(stub: &Path) -> String {
    let extension = stub
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()));
    format!(
        "receive-certdrop-demo-sample{}",
        extension.unwrap_or_default()
    )
}

/// Random bytes: a sample nothing can compress or guess.
fn sample_content(size_mib: u32) -> Vec<u8> {
    let mut content = vec![0u8; size_mib as usize * 1024 * 1024];
    for chunk in content.chunks_mut(1 << 20) {
        getrandom::getrandom(chunk).expect("the operating system provides random numbers");
    }
    content
}

fn transfer_info(
    stack: &Stack,
    transfer_id: &str,
    key: String,
    uploaded: &Uploaded,
) -> TransferInfo {
    TransferInfo {
        transfer_id: transfer_id.to_owned(),
        credentials_endpoint: stack.credentials_endpoint(),
        role_alias: stack.role_alias().to_owned(),
        region: stack.region().to_owned(),
        bucket: stack.bucket().to_owned(),
        key,
        s3_endpoint: Some(stack.s3_endpoint()),
        size: uploaded.size,
        sha256: uploaded.sha256.clone(),
        file_name: SAMPLE_NAME.to_owned(),
        expires_at: Utc::now() + Duration::days(1),
        sender: "certdrop demo".to_owned(),
        note: Some("A sample file sent through local stand-ins for AWS.".to_owned()),
        receipt_prefix: format!("receipts/{transfer_id}/"),
        trust_anchor_pem: Some(stack.ca_pem().to_owned()),
    }
}

/// `certdrop send`'s uploader (parallel multipart, SHA-256 while reading) with an AWS SDK
/// client pointed at the S3 stand-in and signing with its administrator's key.
fn upload(stack: &Stack, key: &str, sample: &Path) -> Result<Uploaded> {
    let admin = stack.admin_key();
    let credentials = aws_sdk_s3::config::Credentials::new(
        admin.access_key_id(),
        admin.secret_access_key(),
        None,
        None,
        "certdrop-demo",
    );
    let builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(stack.region().to_owned()))
        .endpoint_url(stack.s3_endpoint())
        .credentials_provider(credentials)
        .http_client(aws::http_client());
    let destination = Destination {
        s3: aws::s3_client(builder, true),
        bucket: stack.bucket().to_owned(),
        key: key.to_owned(),
        tagging: None,
        expires_at: Utc::now() + Duration::days(1),
        parallel: upload::DEFAULT_PARALLEL,
    };
    let progress = crate::send::progress_bar(false);
    let uploaded = aws::runtime()?.block_on(upload::upload_file(&destination, sample, &progress));
    progress.finish_and_clear();
    uploaded
}

/// Runs the packed program: at this terminal, or with the password on standard input.
fn receive(
    program: &Path,
    out: &Path,
    password: &str,
    non_interactive: bool,
) -> Result<std::process::ExitStatus> {
    let mut command = Command::new(program);
    command.arg("--out").arg(out).arg("--no-pause");
    if !non_interactive {
        say("now the recipient's side: type the password above when asked");
        return Ok(command.status()?);
    }
    say("now the recipient's side (the password goes to standard input)");
    let mut child = command
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .context("the receiver's standard input")?;
    writeln!(stdin, "{password}")?;
    drop(stdin);
    Ok(child.wait()?)
}

fn say(text: &str) {
    println!("demo: {text}");
}
