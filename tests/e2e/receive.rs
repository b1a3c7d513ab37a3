//! The Linux receiver end to end against the stand-ins: the credentials emulator over mutual
//! TLS and s3s-fs checking our signatures.

use std::path::{Path, PathBuf};
use std::process::Output;

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
        let dir = tempfile::tempdir().unwrap();
        let client = stack.issue_client("recipient").unwrap();
        let transfer_id = client.certificate_id();
        let key = format!("transfers/{transfer_id}/{file_name}");
        stack.put_object(&key, &content).unwrap();

        let mut manifest = json!({
            "transfer_id": transfer_id,
            "credentials_endpoint": stack.credentials_endpoint(),
            "role_alias": stack.role_alias(),
            "region": stack.region(),
            "bucket": stack.bucket(),
            "key": key,
            "s3_endpoint": stack.s3_endpoint(),
            "size": content.len(),
            "sha256": hex::encode(Sha256::digest(&content)),
            "file_name": file_name,
            "expires_at": "2099-01-01T00:00:00Z",
            "sender": "Sato, Example Corp",
            "trust_anchor_pem": stack.ca_pem(),
        });
        edit(&mut manifest);
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("transfer.json", &manifest.to_string());
        write("cert.pem", client.cert_pem());
        write("key.pem", client.key_pem());
        let transfer = Transfer { dir };
        let program = transfer.path("receive");
        transfer.pack_ok(&linux_stub(), &program);
        std::fs::create_dir(transfer.path("downloads")).unwrap();
        Delivery {
            stack,
            dir: transfer.dir,
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

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn assert_exit(output: &Output, code: i32, message: &str) {
    let shown = text(output);
    assert_eq!(output.status.code(), Some(code), "{shown}");
    assert!(shown.contains(message), "missing {message:?} in\n{shown}");
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
fn unreachable_credentials_provider_exits_8() {
    let delivery = Delivery::with(StackConfig::default(), "a.bin", vec![1; 10], |m| {
        m["credentials_endpoint"] = "https://127.0.0.1:9".into();
    });
    assert_exit(&delivery.receive(), 8, "Could not reach the server");
}
