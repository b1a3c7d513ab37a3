//! Measures the receiver's download throughput against the stand-ins (the credentials
//! emulator and s3s-fs, which checks every signature), with several connection counts.
//!
//! cargo build --release && cargo run --release --example throughput -- 1024 1 8
//! (object size in MiB, then connection counts). Uses target/release/certdrop{,-receiver}.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use certdrop::standins::{Stack, StackConfig};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "throughput-test";

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let (size_mib, connections) = args.split_first().expect("usage: SIZE_MIB CONNECTIONS...");
    let bin = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let work = tempfile::tempdir().unwrap();

    // The transfer: a random object on the S3 stand-in and a packed receiver for it.
    let stack = Stack::start(StackConfig::default()).expect("the stand-ins start");
    let client = stack.issue_client("recipient").unwrap();
    let id = client.certificate_id();
    let key = format!("transfers/{id}/object.bin");
    let content = random(*size_mib as usize * 1024 * 1024);
    stack.put_object(&key, &content).unwrap();
    let manifest = serde_json::json!({
        "transfer_id": id, "credentials_endpoint": stack.credentials_endpoint(),
        "role_alias": stack.role_alias(), "region": stack.region(), "bucket": stack.bucket(),
        "key": key, "s3_endpoint": stack.s3_endpoint(), "size": content.len(),
        "sha256": hex::encode(Sha256::digest(&content)), "file_name": "object.bin",
        "expires_at": "2099-01-01T00:00:00Z", "sender": "bench",
        "trust_anchor_pem": stack.ca_pem(),
    });
    drop(content);
    let program = pack(
        &bin,
        work.path(),
        &manifest,
        client.cert_pem(),
        client.key_pem(),
    );

    println!("object: {size_mib} MiB, s3s-fs on loopback (plain HTTP), release receiver");
    for &count in connections {
        let out = work.path().join(format!("out-{count}"));
        std::fs::create_dir(&out).unwrap();
        let started = Instant::now();
        receive(&program, &out, count);
        let seconds = started.elapsed().as_secs_f64();
        let mb = (*size_mib * 1024 * 1024) as f64 / 1e6;
        println!(
            "{count:>2} connection(s): {seconds:6.2} s, {:7.1} MB/s",
            mb / seconds
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

fn pack(bin: &Path, dir: &Path, manifest: &serde_json::Value, cert: &str, key: &str) -> PathBuf {
    std::fs::write(dir.join("m.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("c.pem"), cert).unwrap();
    std::fs::write(dir.join("k.pem"), key).unwrap();
    let program = dir.join("receive");
    let mut child = Command::new(bin.join("certdrop"))
        .args([
            "pack",
            "--password-stdin",
            "--kdf-memory-mib",
            "8",
            "--stub",
        ])
        .arg(bin.join("certdrop-receiver"))
        .args([
            "--manifest",
            "m.json",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--out",
        ])
        .arg(&program)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("target/release/certdrop exists (cargo build --release)");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "pack failed");
    program
}

fn receive(program: &Path, out: &Path, connections: u64) {
    let mut child = Command::new(program)
        .args([
            "--password-stdin",
            "--no-pause",
            "--connections",
            &connections.to_string(),
        ])
        .arg("--out")
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "the receiver failed");
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    for chunk in bytes.chunks_mut(1 << 20) {
        getrandom::getrandom(chunk).unwrap();
    }
    bytes
}
