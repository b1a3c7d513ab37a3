//! The Linux receiver end to end against the stand-ins: the credentials emulator over mutual
//! TLS and s3s-fs checking our signatures.

mod hostile;

use std::path::{Path, PathBuf};
use std::process::Output;

use certdrop::standins::pki::TestCa;
use certdrop::standins::{Stack, StackConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

/// One transfer set up on the stand-ins and packed into the Linux receiver.
struct Delivery {
    stack: Stack,
    dir: tempfile::TempDir,
    transfer_id: String,
    program: PathBuf,
    content: Vec<u8>,
}

impl Delivery {
    fn new(file_name: &str, content: Vec<u8>) -> Self {
        Self::with(StackConfig::default(), file_name, content, |_| {})
    }

    fn with(
        config: StackConfig,
        file_name: &str,
        content: Vec<u8>,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Self {
        let stack = Stack::start(config).expect("the stand-ins start");
        let client = stack.issue_client("recipient").unwrap();
        let transfer_id = client.certificate_id();
        let key = format!("transfers/{transfer_id}/{file_name}");
        stack.put_object(&key, &content).unwrap();
        let mut manifest = manifest_for(&stack, &transfer_id, &key, file_name, &content);
        edit(&mut manifest);
        let (dir, program) = pack_transfer(&manifest, client.cert_pem(), client.key_pem());
        Delivery {
            stack,
            dir,
            transfer_id,
            program,
            content,
        }
    }

    fn downloads(&self) -> PathBuf {
        self.dir.path().join("downloads")
    }

    fn receive(&self) -> Output {
        let out = self.downloads();
        let args = ["--out", out.to_str().unwrap(), "--no-pause"];
        receive(&self.program, &args, PASSWORD)
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.downloads())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The manifest of a transfer served by `stack`.
fn manifest_for(
    stack: &Stack,
    transfer_id: &str,
    key: &str,
    file_name: &str,
    content: &[u8],
) -> serde_json::Value {
    json!({
        "transfer_id": transfer_id,
        "credentials_endpoint": stack.credentials_endpoint(),
        "role_alias": stack.role_alias(),
        "region": stack.region(),
        "bucket": stack.bucket(),
        "key": key,
        "s3_endpoint": stack.s3_endpoint(),
        "size": content.len(),
        "sha256": hex::encode(Sha256::digest(content)),
        "file_name": file_name,
        "expires_at": "2099-01-01T00:00:00Z",
        "sender": "Sato, Example Corp",
        "trust_anchor_pem": stack.ca_pem(),
    })
}

/// Packs the Linux receiver for `manifest` in a new folder that also has `downloads/`.
fn pack_transfer(
    manifest: &serde_json::Value,
    cert_pem: &str,
    key_pem: &str,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("transfer.json", &manifest.to_string());
    write("cert.pem", cert_pem);
    write("key.pem", key_pem);
    let transfer = Transfer { dir };
    let program = transfer.path("receive");
    transfer.pack_ok(&linux_stub(), &program);
    std::fs::create_dir(transfer.path("downloads")).unwrap();
    (transfer.dir, program)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn receiver_downloads_verifies_and_writes_a_receipt() {
    let delivery = Delivery::new("drawings.zip", random_bytes(20 * 1024 * 1024 + 17, 1));
    let output = delivery.receive();
    assert_exit(&output, 0, "Done. The file is verified");

    assert_eq!(
        delivery.files(),
        ["drawings.zip"],
        "no partial or state file is left"
    );
    assert!(read(&delivery.downloads().join("drawings.zip")) == delivery.content);
    let receipts = delivery
        .stack
        .list(&format!("receipts/{}/", delivery.transfer_id))
        .unwrap();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let receipt = delivery.stack.get_object(&receipts[0]).unwrap().unwrap();
    let receipt: serde_json::Value = serde_json::from_slice(&receipt).unwrap();
    assert_eq!(receipt["verified"], true);
    assert_eq!(receipt["size"], delivery.content.len());
}

#[test]
fn utf8_key_with_spaces_and_parentheses_downloads() {
    let name = "資料/見積書 2026 (最終版)+v2.zip";
    let delivery = Delivery::new(name, random_bytes(3 * 1024 * 1024, 2));
    assert_exit(&delivery.receive(), 0, "verified");
    let saved = delivery.downloads().join("見積書 2026 (最終版)+v2.zip");
    assert!(read(&saved) == delivery.content);
}

#[test]
fn empty_file_downloads() {
    let delivery = Delivery::new("empty.txt", Vec::new());
    assert_exit(&delivery.receive(), 0, "verified");
    assert_eq!(read(&delivery.downloads().join("empty.txt")), b"");
}

#[test]
fn existing_files_are_kept_and_a_present_copy_is_recognised() {
    let delivery = Delivery::new("report.pdf", random_bytes(100_000, 3));
    std::fs::write(
        delivery.downloads().join("report.pdf"),
        b"the recipient's own",
    )
    .unwrap();
    assert_exit(&delivery.receive(), 0, "report (1).pdf");
    assert_eq!(
        read(&delivery.downloads().join("report.pdf")),
        b"the recipient's own"
    );
    assert!(read(&delivery.downloads().join("report (1).pdf")) == delivery.content);

    // A second run finds the copy and writes nothing.
    assert_exit(&delivery.receive(), 0, "You already have this file");
    assert_eq!(delivery.files(), ["report (1).pdf", "report.pdf"]);
}

#[test]
fn revoked_transfer_exits_6_with_a_plain_message() {
    let delivery = Delivery::new("a.bin", random_bytes(1000, 4));
    delivery.stack.revoke(&delivery.transfer_id);
    assert_exit(
        &delivery.receive(),
        6,
        "The sender has cancelled this transfer",
    );
    assert!(
        delivery.files().is_empty(),
        "nothing is written: {:?}",
        delivery.files()
    );
}

#[test]
fn unknown_role_alias_exits_7() {
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["role_alias"] = "no-such-alias".into();
    });
    assert_exit(&delivery.receive(), 7, "no longer on the server");
}

#[test]
fn another_transfers_object_is_refused_with_exit_6() {
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["key"] = "transfers/someone-else/a.bin".into();
    });
    delivery
        .stack
        .put_object("transfers/someone-else/a.bin", &[1; 10])
        .unwrap();
    assert_exit(
        &delivery.receive(),
        6,
        "The sender has cancelled this transfer",
    );
}

#[test]
fn credentials_provider_hiccups_are_retried() {
    let delivery = Delivery::new("a.bin", random_bytes(2_000_000, 5));
    delivery.stack.fail_next_requests(2);
    assert_exit(&delivery.receive(), 0, "verified");
    assert!(delivery.stack.requests_served() >= 3);
}

#[test]
fn a_credentials_provider_that_keeps_failing_exits_8() {
    let delivery = Delivery::new("a.bin", vec![1; 10]);
    delivery.stack.fail_next_requests(1000);
    assert_exit(&delivery.receive(), 8, "The server kept failing");
    assert!(
        delivery.files().is_empty(),
        "nothing is written: {:?}",
        delivery.files()
    );
}

#[test]
fn unreachable_credentials_provider_exits_8() {
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["credentials_endpoint"] = "https://127.0.0.1:9".into();
    });
    assert_exit(&delivery.receive(), 8, "Could not reach the server");
}

#[test]
fn certificate_from_another_ca_fails_the_handshake_with_exit_8() {
    let stack = Stack::start(StackConfig::default()).unwrap();
    let stranger = TestCa::new("another CA")
        .unwrap()
        .issue_client("stranger")
        .unwrap();
    let id = stranger.certificate_id();
    let key = format!("transfers/{id}/a.bin");
    let manifest = manifest_for(&stack, &id, &key, "a.bin", &[1; 10]);
    let (dir, program) = pack_transfer(&manifest, stranger.cert_pem(), stranger.key_pem());
    let out = dir.path().join("downloads");
    let output = receive(
        &program,
        &["--out", out.to_str().unwrap(), "--no-pause"],
        PASSWORD,
    );
    assert_exit(&output, 8, "A secure connection could not be made");
}

/// Runs the delivery's program with its clock moved by `offset` (faketime's `-f` form:
/// `-20m`, `+9h`), verbose, and the password on standard input.
fn receive_with_clock(delivery: &Delivery, offset: &str) -> Output {
    let out = delivery.downloads();
    let mut command = std::process::Command::new("faketime");
    command.args(["-f", offset]).arg(&delivery.program);
    command.args([
        "--out",
        out.to_str().unwrap(),
        "--no-pause",
        "--password-stdin",
        "-v",
    ]);
    command
        .env("DONT_FAKE_MONOTONIC", "1")
        .env("LANG", "en_US.UTF-8");
    run_with_stdin(&mut command, &format!("{PASSWORD}\n"))
}

#[test]
fn a_clock_twenty_minutes_slow_is_corrected_from_the_servers_date() {
    let delivery = Delivery::new("a.bin", random_bytes(2_000_000, 6));
    let output = receive_with_clock(&delivery, "-20m");
    assert_exit(&output, 0, "verified");
    assert!(
        text(&output).contains("our clock is off"),
        "{}",
        text(&output)
    );
    assert!(read(&delivery.downloads().join("a.bin")) == delivery.content);
}

/// A clock nine hours fast (local time set right, zone wrong, say): the credentials look
/// expired by that clock the moment they arrive. Their expiry is judged by the provider's
/// clock (its `Date`), and S3's `Date` corrects the signing time.
#[test]
fn a_clock_nine_hours_fast_still_downloads() {
    let delivery = Delivery::new("a.bin", random_bytes(2_000_000, 8));
    let output = receive_with_clock(&delivery, "+9h");
    assert_exit(&output, 0, "verified");
    assert!(read(&delivery.downloads().join("a.bin")) == delivery.content);
}

#[test]
fn a_killed_download_resumes_without_fetching_finished_parts_again() {
    let delivery = Delivery::new("big.bin", random_bytes(96 * 1024 * 1024, 7));
    let out = delivery.downloads();
    let state = out.join("big.bin.certdrop-state");
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--no-pause",
        "--password-stdin",
    ];

    // Kill the receiver once some, but not all, parts are recorded.
    let mut child = std::process::Command::new(&delivery.program)
        .args(args)
        .args(["--connections", "2"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let done_at_kill = loop {
        let done = parts_done(&state);
        if done > 0 {
            child.kill().unwrap();
            child.wait().unwrap();
            break parts_done(&state);
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        out.join("big.bin.certdrop-part").exists(),
        "the partial file is kept"
    );
    assert!(
        !out.join("big.bin").exists(),
        "no file under the real name before verification"
    );

    // Run again: it resumes with at least the recorded parts and finishes verified.
    let output = receive(&delivery.program, &[&args[..3], &["-v"]].concat(), PASSWORD);
    assert_exit(&output, 0, "verified");
    let resumed = resumed_parts(&text(&output));
    assert!(
        resumed >= done_at_kill,
        "resumed with {resumed} parts, {done_at_kill} were done"
    );
    assert!(read(&out.join("big.bin")) == delivery.content);
    assert_eq!(delivery.files(), ["big.bin"]);
}

/// Finished parts recorded in a resume state file (0 while there is none).
fn parts_done(state: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(state) else {
        return 0;
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return 0;
    };
    json["done"].as_str().map_or(0, |d| d.matches('1').count())
}

/// The part count from the receiver's "resuming" debug line.
fn resumed_parts(log: &str) -> usize {
    let line = log
        .lines()
        .find(|l| l.contains("resuming"))
        .unwrap_or_else(|| panic!("{log}"));
    let after = line
        .split("parts_done=")
        .nth(1)
        .expect("the line names parts_done");
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn moto_policies_let_the_receiver_read_its_own_transfer_only() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bucket = "certdrop-moto";
    let MotoSetup {
        moto,
        admin: moto_admin,
        stack,
    } = runtime.block_on(moto_setup(bucket));
    let client = stack.issue_client("recipient").unwrap();
    let id = client.certificate_id();
    let content = random_bytes(3_000_000, 8);
    let own = format!("transfers/{id}/own.bin");
    let other = format!("transfers/{}/other.bin", "9".repeat(64));
    for key in [&own, &other] {
        runtime
            .block_on(moto_admin.put_object(bucket, key, &content))
            .unwrap();
    }
    runtime.block_on(moto_admin.enable_auth()).unwrap();

    for (key, name, code, message) in [
        (&own, "own.bin", 0, "verified"),
        (
            &other,
            "other.bin",
            6,
            "The sender has cancelled this transfer",
        ),
    ] {
        let mut manifest = manifest_for(&stack, &id, key, name, &content);
        manifest["s3_endpoint"] = moto.endpoint().into();
        let (dir, program) = pack_transfer(&manifest, client.cert_pem(), client.key_pem());
        let out = dir.path().join("downloads");
        let output = receive(
            &program,
            &["--out", out.to_str().unwrap(), "--no-pause"],
            PASSWORD,
        );
        assert_exit(&output, code, message);
        if code == 0 {
            assert!(read(&out.join(name)) == content);
        }
    }
}

#[test]
fn the_https_proxy_from_the_environment_carries_the_credentials_request() {
    let delivery = Delivery::new("a.bin", random_bytes(500_000, 9));
    let proxy = ConnectProxy::start();
    let out = delivery.downloads();
    let mut command = std::process::Command::new(&delivery.program);
    command.args([
        "--out",
        out.to_str().unwrap(),
        "--no-pause",
        "--password-stdin",
    ]);
    command
        .env("HTTPS_PROXY", &proxy.url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    command.env("LANG", "en_US.UTF-8");
    let output = run_with_stdin(&mut command, &format!("{PASSWORD}\n"));
    assert_exit(&output, 0, "verified");
    let endpoint = delivery.stack.credentials_endpoint();
    let authority = endpoint.trim_start_matches("https://").to_owned();
    assert!(
        proxy.tunnels.lock().unwrap().contains(&authority),
        "the credentials request did not go through the proxy: {:?}",
        proxy.tunnels.lock().unwrap()
    );
}

#[test]
fn credentials_that_expire_during_the_download_are_renewed() {
    let config = StackConfig {
        credential_lifetime: std::time::Duration::from_secs(1),
        ..StackConfig::default()
    };
    let content = random_bytes(128 * 1024 * 1024, 10);
    let delivery = Delivery::with(config, "long.bin", content, |_| {});
    let out = delivery.downloads();
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--no-pause",
        "--connections",
        "1",
    ];
    let started = std::time::Instant::now();
    let output = receive(&delivery.program, &args, PASSWORD);
    assert_exit(&output, 0, "verified");
    let seconds = started.elapsed().as_secs_f64();
    let served = delivery.stack.requests_served();
    // Every fetch after the first is a renewal: credentials living one second cannot carry a
    // download that takes longer.
    eprintln!("credentials fetched {served} time(s) in {seconds:.1} s");
    assert!(
        seconds < 1.0 || served >= 2,
        "fetched {served} time(s) in {seconds:.1} s"
    );
    assert!(
        served as f64 >= seconds.floor(),
        "fetched {served} time(s) in {seconds:.1} s"
    );
    assert!(read(&out.join("long.bin")) == delivery.content);
}

#[test]
fn a_disk_too_small_is_reported_before_downloading_and_a_bigger_one_works() {
    let delivery = Delivery::new("big.bin", random_bytes(12 * 1024 * 1024, 11));
    let disk = SmallDisk::mount(8).unwrap();
    let small = disk.path().to_str().unwrap().to_owned();
    let output = receive(
        &delivery.program,
        &["--out", &small, "--no-pause"],
        PASSWORD,
    );
    assert_exit(&output, 9, "Not enough free space");
    assert!(
        std::fs::read_dir(&small).unwrap().next().is_none(),
        "nothing written"
    );

    let output = delivery.receive();
    assert_exit(&output, 0, "verified");
}
