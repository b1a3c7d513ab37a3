//! The Windows receiver: cross-built for x86_64-pc-windows-gnu, signed with a test
//! code-signing certificate, packed, and checked with osslsigncode.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use certdrop::container::authenticode::SignedDataParts;
use certdrop::container::pe::PeHeaders;
use certdrop::container::{self, Placement};

use crate::support::*;

const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// The release Windows receiver, built once per test run (cargo makes this quick when it is
/// up to date). Needs the Windows target and mingw-w64, which `.ci/run` installs.
pub fn windows_stub() -> &'static Path {
    static STUB: OnceLock<PathBuf> = OnceLock::new();
    STUB.get_or_init(|| {
        let target_dir = target_dir();
        let output = Command::new(env!("CARGO"))
            .args([
                "build",
                "--locked",
                "--release",
                "--no-default-features",
                "--bin",
                "certdrop-receiver",
            ])
            .args(["--target", WINDOWS_TARGET, "--target-dir"])
            .arg(&target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cross-building the Windows receiver failed (.ci/run installs the target and \
             mingw-w64):\n{}",
            text(&output)
        );
        target_dir
            .join(WINDOWS_TARGET)
            .join("release")
            .join("certdrop-receiver.exe")
    })
}

/// A self-signed code-signing certificate, as a company's IT would use (but made up).
pub fn code_signing_identity(dir: &Path) {
    tool(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "sign-key.pem",
            "-out",
            "sign-cert.pem",
            "-subj",
            "/CN=certdrop test code signing",
            "-days",
            "2",
            "-addext",
            "extendedKeyUsage=codeSigning",
            "-addext",
            "keyUsage=digitalSignature",
        ],
        dir,
    );
}

pub fn sign(dir: &Path, input: &Path, output: &Path) {
    let (input, output) = (input.to_str().unwrap(), output.to_str().unwrap());
    let args = [
        "sign",
        "-certs",
        "sign-cert.pem",
        "-key",
        "sign-key.pem",
        "-h",
        "sha256",
        "-in",
        input,
        "-out",
        output,
    ];
    tool("osslsigncode", &args, dir);
}

pub fn verify(dir: &Path, program: &Path) -> std::process::Output {
    Command::new("osslsigncode")
        .args(["verify", "-CAfile", "sign-cert.pem", "-in"])
        .arg(program)
        .current_dir(dir)
        .output()
        .expect("osslsigncode is installed by .ci/run")
}

/// `osslsigncode verify` passes on `program`, against the test certificate in `dir`.
pub fn assert_verifies(dir: &Path, program: &Path) {
    let output = verify(dir, program);
    assert!(
        output.status.success(),
        "{} no longer verifies:\n{}",
        program.display(),
        text(&output)
    );
}

/// The WIN_CERTIFICATE must hold one DER SignedData and at most 7 zero bytes after it.
fn assert_padding_rule(program: &Path) {
    let bytes = std::fs::read(program).unwrap();
    let headers = PeHeaders::parse(&mut &bytes[..])
        .unwrap()
        .expect("a PE file");
    let (offset, size) = headers.cert_table.expect("signed");
    let table = &bytes[offset as usize..];
    assert_eq!(
        table.len() as u64,
        size,
        "the certificate table ends the file"
    );
    let declared = u32::from_le_bytes(table[..4].try_into().unwrap()) as usize;
    assert_eq!(declared, table.len(), "dwLength covers the whole table");
    let (content_info, padding) = certdrop::der::Tlv::read(&table[8..]).unwrap();
    assert_eq!(content_info.tag, 0x30);
    assert!(
        padding.len() <= 7 && padding.iter().all(|b| *b == 0),
        "padding: {padding:?}"
    );
    SignedDataParts::parse(table).expect("parses as one PKCS#7 SignedData");
}

#[test]
fn signed_windows_stub_stays_valid_after_packing_and_repacking() {
    let transfer = Transfer::new();
    let dir = transfer.dir.path();
    code_signing_identity(dir);
    let signed = transfer.path("signed-stub.exe");
    sign(dir, windows_stub(), &signed);
    let before = verify(dir, &signed);
    assert!(
        before.status.success(),
        "the freshly signed stub verifies:\n{}",
        text(&before)
    );

    let packed = transfer.path("receive-drawings.exe");
    transfer.pack_ok(&signed, &packed);
    let repacked = transfer.path("receive-again.exe");
    transfer.pack_ok(&packed, &repacked);

    for program in [&packed, &repacked] {
        assert_verifies(dir, program);
        assert_padding_rule(program);
        let mut source = container::FileSource::open(program).unwrap();
        let found = container::inspect(&mut source).unwrap();
        assert_eq!(
            found.envelope.map(|(placement, _)| placement),
            Some(Placement::SignedCarrier)
        );
        let layout = found.authenticode.unwrap();
        assert!(layout.signed && layout.checksum_ok, "{layout:?}");
    }

    // Repacking replaced the carrier: one ordinary certificate and one carrier remain.
    let bytes = std::fs::read(&repacked).unwrap();
    let headers = PeHeaders::parse(&mut &bytes[..]).unwrap().unwrap();
    let table = &bytes[headers.cert_table.unwrap().0 as usize..];
    assert_eq!(SignedDataParts::parse(table).unwrap().certificates.len(), 2);

    let report = certdrop().arg("inspect").arg(&repacked).output().unwrap();
    let report = text(&report);
    assert!(report.contains("PE32+ (Windows, 64-bit)"), "{report}");
    assert!(
        report.contains("Authenticode, structurally valid"),
        "{report}"
    );
    assert!(
        report.contains("inside the Authenticode signature"),
        "{report}"
    );
}

#[test]
fn unsigned_windows_stub_carries_a_trailer() {
    let transfer = Transfer::new();
    let packed = transfer.path("receive.exe");
    transfer.pack_ok(windows_stub(), &packed);
    let mut source = container::FileSource::open(&packed).unwrap();
    let found = container::inspect(&mut source).unwrap();
    assert_eq!(
        found.envelope.map(|(placement, _)| placement),
        Some(Placement::Trailer)
    );
    assert_eq!(found.authenticode.map(|a| a.signed), Some(false));
}
