//! The stand-ins for bench/run: the credentials provider emulator (which the receiver needs
//! whatever server holds the file) and s3s-fs (for the signed path), kept running until
//! standard input closes. Not a test: bench/bench.py drives it.
//!
//! cargo run --release --example bench_stack -- DIR [HOST...] [--object FILE]
//!
//! Writes into DIR: `client-cert.pem` and `client-key.pem` (the recipient's identity),
//! `server-cert.pem` and `server-key.pem` (a server certificate from the stand-ins' CA for
//! HOST..., for nginx), `ca.pem`, and `stack.json` (endpoints, bucket, the transfer id, the
//! key of FILE on s3s-fs, and the time `seal` takes with the lowest and the default KDF).
//! Then prints `ready` and waits.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use certdrop::envelope::{seal, KdfParams, Payload};
use certdrop::secret::{Password, SecretBytes};
use certdrop::standins::{Stack, StackConfig};
use certdrop::transfer::TransferInfo;

fn main() {
    let args = Args::parse();
    let stack = Stack::start(StackConfig::default()).expect("the stand-ins start");
    let client = stack
        .issue_client("bench recipient")
        .expect("a client certificate");
    let hosts: Vec<&str> = args.hosts.iter().map(String::as_str).collect();
    let server = stack
        .ca()
        .issue_server(&hosts, None)
        .expect("a server certificate");
    let id = client.certificate_id();
    let dir = &args.dir;
    write(dir, "client-cert.pem", client.cert_pem());
    write(dir, "client-key.pem", client.key_pem());
    write(dir, "server-cert.pem", server.cert_pem());
    write(dir, "server-key.pem", server.key_pem());
    write(dir, "ca.pem", stack.ca_pem());

    // The object for the signed run goes where the shared role lets this certificate read.
    let s3s_key = args.object.as_ref().map(|file| {
        let name = file.file_name().expect("a file name").to_string_lossy();
        let key = format!("transfers/{id}/{name}");
        let bytes = std::fs::read(file).expect("the object file is readable");
        stack
            .put_object(&key, &bytes)
            .expect("s3s-fs takes the object");
        key
    });

    let info = serde_json::json!({
        "transfer_id": id,
        "credentials_endpoint": stack.credentials_endpoint(),
        "role_alias": stack.role_alias(),
        "region": stack.region(),
        "bucket": stack.bucket(),
        "s3s_endpoint": stack.s3_endpoint(),
        "s3s_key": s3s_key,
        "seal_seconds_kdf_8mib": seal_seconds(&stack, &id, lowest_kdf()),
        "seal_seconds_kdf_default": seal_seconds(&stack, &id, KdfParams::DEFAULT),
    });
    write(dir, "stack.json", &info.to_string());
    println!("ready");
    std::io::stdout().flush().expect("stdout");

    // Serve until the driver closes our standard input.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}

struct Args {
    dir: PathBuf,
    hosts: Vec<String>,
    object: Option<PathBuf>,
}

impl Args {
    fn parse() -> Self {
        let mut args = std::env::args().skip(1);
        let dir = PathBuf::from(args.next().expect("usage: DIR [HOST...] [--object FILE]"));
        let (mut hosts, mut object) = (Vec::new(), None);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--object" => object = Some(PathBuf::from(args.next().expect("--object FILE"))),
                _ => hosts.push(arg),
            }
        }
        if hosts.is_empty() {
            hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        }
        Args { dir, hosts, object }
    }
}

/// Median wall time of sealing a payload of realistic size (the KDF is nearly all of it).
fn seal_seconds(stack: &Stack, id: &str, kdf: KdfParams) -> f64 {
    let info = TransferInfo {
        transfer_id: id.to_owned(),
        credentials_endpoint: stack.credentials_endpoint(),
        role_alias: stack.role_alias().to_owned(),
        region: stack.region().to_owned(),
        bucket: stack.bucket().to_owned(),
        key: format!("transfers/{id}/object.bin"),
        s3_endpoint: Some(stack.s3_endpoint()),
        size: 1 << 30,
        sha256: "0".repeat(64),
        file_name: "object.bin".to_owned(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(1),
        sender: "bench".to_owned(),
        note: None,
        receipt_prefix: format!("receipts/{id}/"),
        trust_anchor_pem: Some(stack.ca_pem().to_owned()),
    };
    // A PKCS#12 with an EC key, its certificate and Amazon Root CA 1 is about 3 KB.
    let payload = Payload {
        info,
        pkcs12: SecretBytes::new(vec![0x5a; 3000]),
        pkcs12_password: Password::new("bench-pkcs12-password".to_owned()),
    };
    let password = Password::new("bench-transfer-password".to_owned());
    let mut times: Vec<f64> = (0..3)
        .map(|_| {
            let started = Instant::now();
            seal(&payload, &password, kdf).expect("sealing works");
            started.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[1]
}

/// What bench.py packs its download runs with (`certdrop pack --kdf-memory-mib 8`).
fn lowest_kdf() -> KdfParams {
    KdfParams::with_memory_mib(KdfParams::MIN_MEMORY_MIB).expect("the minimum is valid")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
}
