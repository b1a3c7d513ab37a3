//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the fuzz targets' own
//! checks (certdrop::fuzzing), so that every `cargo test` re-runs what fuzzing found, and
//! builds the hand-made seeds of that corpus (the files named `seed-*`).
//!
//! To write the seeds again after a format change:
//! `CERTDROP_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_corpus`.

use std::collections::BTreeSet;
use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use certdrop::container::authenticode::CARRIER_OID_ARCS;
use certdrop::container::trailer;
use certdrop::der::{self, tag};
use certdrop::envelope::{seal, KdfParams, Payload};
use certdrop::fuzzing::{self, fake_carrier, Reached};
use certdrop::secret::{Password, SecretBytes};
use certdrop::transfer::TransferInfo;

type Check = fn(&[u8]) -> Option<Reached>;

/// Each fuzz target and its check.
const TARGETS: [(&str, Check); 4] = [
    ("envelope", fuzzing::envelope),
    ("locate_pe", fuzzing::locate_pe),
    ("locate_trailer", fuzzing::locate_trailer),
    ("der", fuzzing::der),
];

/// The largest corpus file kept in the repository.
const MAX_CORPUS_FILE: usize = 64 * 1024;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn check_of(target: &str) -> Check {
    let found = TARGETS.iter().find(|(name, _)| *name == target);
    found.expect("seeds name existing targets").1
}

/// Runs every file of a target's corpus through its check and returns what they reached.
/// A missing or empty corpus fails: it would make this replay pass without checking anything.
fn replay(target: &str) -> BTreeSet<Reached> {
    let dir = corpus_dir(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the {target} corpus {} is missing: {e}", dir.display()));
    let check = check_of(target);
    let mut files = 0;
    let mut reached = BTreeSet::new();
    for entry in entries {
        let path = entry.expect("the corpus folder lists").path();
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            data.len() <= MAX_CORPUS_FILE,
            "{} is too large to keep",
            path.display()
        );
        let outcome = panic::catch_unwind(|| check(&data));
        let outcome =
            outcome.unwrap_or_else(|_| panic!("{target}: {} fails its check", path.display()));
        reached.extend(outcome);
        files += 1;
    }
    assert!(files > 0, "the {target} corpus {} is empty", dir.display());
    reached
}

fn assert_corpus_reaches(target: &str, wanted: &[Reached]) {
    let reached = replay(target);
    for want in wanted {
        assert!(
            reached.contains(want),
            "no {target} corpus file reaches {want:?}"
        );
    }
}

#[test]
fn envelope_corpus_round_trips_envelopes_and_payloads() {
    let wanted = [Reached::EnvelopeRoundTrip, Reached::PayloadRoundTrip];
    assert_corpus_reaches("envelope", &wanted);
}

#[test]
fn locate_pe_corpus_packs_signed_programs_without_panicking() {
    assert_corpus_reaches("locate_pe", &[Reached::CarrierPacked]);
}

#[test]
fn locate_trailer_corpus_packs_trailers_without_stacking_them() {
    assert_corpus_reaches("locate_trailer", &[Reached::TrailerPacked]);
}

#[test]
fn der_corpus_re_encodes_every_accepted_element() {
    assert_corpus_reaches("der", &[Reached::DerRoundTrip]);
}

#[test]
fn hand_made_seeds_reach_the_checks_they_were_made_for() {
    let write = std::env::var_os("CERTDROP_WRITE_FUZZ_SEEDS").is_some();
    for seed in seeds() {
        let (target, name) = (seed.target, seed.name);
        let reached = check_of(target)(&seed.bytes);
        assert_eq!(
            reached, seed.reaches,
            "seed {target}/{name} reaches the wrong check"
        );
        assert!(
            seed.bytes.len() <= MAX_CORPUS_FILE,
            "seed {target}/{name} is too large"
        );

        let path = corpus_dir(target).join(format!("seed-{name}"));
        if write {
            fs::create_dir_all(corpus_dir(target)).expect("the corpus folder can be made");
            fs::write(&path, &seed.bytes).expect("the seed can be written");
        }
        assert!(
            path.is_file(),
            "seed {target}/{name} is not in the committed corpus"
        );
    }
}

/// One hand-made corpus file and the deepest check it is meant to reach.
struct Seed {
    target: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    reaches: Option<Reached>,
}

fn seed(
    target: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    reaches: Option<Reached>,
) -> Seed {
    Seed {
        target,
        name,
        bytes,
        reaches,
    }
}

fn seeds() -> Vec<Seed> {
    let mut seeds = envelope_seeds();
    seeds.extend(locate_pe_seeds());
    seeds.extend(locate_trailer_seeds());
    seeds.extend(der_seeds());
    seeds
}

// Envelopes and payloads (docs/FORMAT.md, sections 2 and 3).

fn envelope_seeds() -> Vec<Seed> {
    let t = "envelope";
    let valid = sealed(&payload(false));
    let flip = |at: usize| {
        let mut bytes = valid.clone();
        bytes[at] ^= 0x01;
        bytes
    };
    let with_header = |at: usize, field: &[u8]| {
        let mut bytes = valid.clone();
        bytes[at..at + field.len()].copy_from_slice(field);
        redigest(&mut bytes);
        bytes
    };
    let metadata = TransferInfo::from_manifest(&manifest(false))
        .expect("the sample manifest is valid")
        .to_canonical_json();
    let spaced = metadata.replacen(',', ", ", 1);
    let trailing = [payload(false).write().to_vec(), vec![0]].concat();

    let envelope = Some(Reached::EnvelopeRoundTrip);
    let payload_ok = Some(Reached::PayloadRoundTrip);
    vec![
        seed(t, "envelope", valid.clone(), envelope),
        seed(t, "envelope-all-fields", sealed(&payload(true)), envelope),
        seed(
            t,
            "envelope-truncated",
            valid[..valid.len() - 1].to_vec(),
            None,
        ),
        seed(
            t,
            "envelope-trailing-byte",
            [&valid[..], &[0]].concat(),
            None,
        ),
        seed(t, "envelope-header-only", valid[..84].to_vec(), None),
        seed(t, "envelope-flipped-sealed-bit", flip(100), None),
        seed(
            t,
            "envelope-newer-version",
            with_header(8, &2u16.to_le_bytes()),
            None,
        ),
        seed(t, "envelope-unknown-aead", with_header(11, &[2]), None),
        seed(
            t,
            "envelope-kdf-too-costly",
            with_header(12, &(4u32 << 20).to_le_bytes()),
            None,
        ),
        seed(t, "payload", payload(false).write().to_vec(), payload_ok),
        seed(
            t,
            "payload-all-fields",
            payload(true).write().to_vec(),
            payload_ok,
        ),
        seed(
            t,
            "payload-not-canonical",
            raw_payload(&spaced, b"p12", b"pw"),
            None,
        ),
        seed(
            t,
            "payload-password-not-ascii",
            raw_payload(&metadata, b"p12", "pé".as_bytes()),
            None,
        ),
        seed(t, "payload-trailing-byte", trailing, None),
    ]
}

/// A manifest with only the required fields, or with every optional one too.
fn manifest(all_fields: bool) -> String {
    let mut manifest = serde_json::json!({
        "transfer_id": "seed-0001",
        "credentials_endpoint": "https://c1.credentials.iot.ap-northeast-1.amazonaws.com",
        "role_alias": "certdrop-receiver",
        "region": "ap-northeast-1",
        "bucket": "acme-transfers",
        "key": "transfers/seed-0001/見積書 2026 (最終版)+v2.zip",
        "size": 3_000_000_000u64,
        "sha256": "ab".repeat(32),
        "file_name": "見積書 2026 (最終版)+v2.zip",
        "expires_at": "2026-12-10T09:00:00+09:00",
        "sender": "Sato, Example Corp",
    });
    if all_fields {
        let optional = serde_json::json!({
            "s3_endpoint": "https://s3.example.test:8443",
            "note": "Here are the drawings.\nCall me if anything is missing.",
            "receipt_prefix": "receipts/custom/",
            "trust_anchor_pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        });
        let map = manifest.as_object_mut().expect("the manifest is an object");
        map.extend(optional.as_object().expect("an object").clone());
    }
    manifest.to_string()
}

fn payload(all_fields: bool) -> Payload {
    Payload {
        info: TransferInfo::from_manifest(&manifest(all_fields)).expect("the manifest is valid"),
        pkcs12: SecretBytes::new((0..=255u8).take(200).collect()),
        pkcs12_password: Password::new("Q7".repeat(16)),
    }
}

fn sealed(payload: &Payload) -> Vec<u8> {
    let kdf = KdfParams::with_memory_mib(8).expect("8 MiB is the smallest allowed cost");
    let password = Password::new("tiger-maple-7-rocket".to_owned());
    seal(payload, &password, kdf)
        .expect("the payload seals")
        .write()
}

/// Replaces an envelope's digest, so that only the deeper checks can refuse a change.
fn redigest(bytes: &mut [u8]) {
    use sha2::{Digest, Sha256};
    let end = bytes.len() - 32;
    let digest = Sha256::digest(&bytes[..end]);
    bytes[end..].copy_from_slice(&digest);
}

/// A payload assembled field by field (section 3), to make ones the writer never would.
fn raw_payload(metadata: &str, pkcs12: &[u8], password: &[u8]) -> Vec<u8> {
    let mut out = (metadata.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(&(pkcs12.len() as u32).to_le_bytes());
    out.extend_from_slice(pkcs12);
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    out
}

// Signed and unsigned PE files (section 4.2).

#[derive(Clone, Copy)]
enum PeKind {
    Pe32,
    Pe32Plus,
}

fn locate_pe_seeds() -> Vec<Seed> {
    let t = "locate_pe";
    let ordinary = ordinary_cert();
    let carrier = fake_carrier(b"an older envelope").expect("infallible");
    let signed = |kind, table: Vec<u8>| pe(kind, &[0x90; 40], Some(&table));
    let table = win_certificate(&content_info(&[&ordinary], false));
    let mut bad_padding = table.clone();
    *bad_padding.last_mut().expect("the table is padded") = 1;
    let mut appended = signed(PeKind::Pe32Plus, table.clone());
    appended.extend_from_slice(b"appended");
    let ber = ber_signature_table(&table);

    let packed = Some(Reached::CarrierPacked);
    vec![
        seed(
            t,
            "pe32plus-unsigned",
            pe(PeKind::Pe32Plus, &[0x90; 40], None),
            None,
        ),
        seed(
            t,
            "pe32plus-signed",
            signed(PeKind::Pe32Plus, table.clone()),
            packed,
        ),
        seed(
            t,
            "pe32-signed",
            signed(PeKind::Pe32, table.clone()),
            packed,
        ),
        seed(
            t,
            "pe32plus-signed-carrying-an-envelope",
            signed(
                PeKind::Pe32Plus,
                win_certificate(&content_info(&[&ordinary, &carrier], false)),
            ),
            packed,
        ),
        seed(
            t,
            "pe32plus-signed-without-certificates",
            signed(PeKind::Pe32Plus, win_certificate(&content_info(&[], false))),
            packed,
        ),
        seed(
            t,
            "pe32plus-signed-with-crls",
            signed(
                PeKind::Pe32Plus,
                win_certificate(&content_info(&[&ordinary], true)),
            ),
            packed,
        ),
        seed(
            t,
            "pe-signed-nonzero-padding",
            signed(PeKind::Pe32Plus, bad_padding),
            None,
        ),
        seed(t, "pe-signed-then-appended", appended, None),
        seed(
            t,
            "pe-signed-ber-indefinite-length",
            signed(PeKind::Pe32Plus, ber),
            None,
        ),
        seed(
            t,
            "pe-headers-cut-short",
            signed(PeKind::Pe32Plus, table)[..200].to_vec(),
            None,
        ),
    ]
}

/// A minimal PE image: DOS header, PE signature, COFF header, optional header with 16 data
/// directories, `body`, then the certificate table if given (8-byte aligned, ending the file).
fn pe(kind: PeKind, body: &[u8], table: Option<&[u8]>) -> Vec<u8> {
    let (machine, magic, optional_size, directories): (u16, u16, u16, usize) = match kind {
        PeKind::Pe32 => (0x14C, 0x10B, 224, 96),
        PeKind::Pe32Plus => (0x8664, 0x20B, 240, 112),
    };
    let optional = 0x40 + 24;
    let mut file = vec![0u8; optional + optional_size as usize];
    let mut put = |at: usize, bytes: &[u8]| file[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, b"MZ");
    put(0x3C, &0x40u32.to_le_bytes());
    put(0x40, b"PE\0\0");
    put(0x44, &machine.to_le_bytes());
    put(0x54, &optional_size.to_le_bytes());
    put(optional, &magic.to_le_bytes());
    put(optional + directories - 4, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    file.extend_from_slice(body);

    if let Some(table) = table {
        file.resize(file.len().next_multiple_of(8), 0);
        let security = optional + directories + 8 * 4;
        let offset = file.len() as u32;
        file[security..security + 4].copy_from_slice(&offset.to_le_bytes());
        file[security + 4..security + 8].copy_from_slice(&(table.len() as u32).to_le_bytes());
        file.extend_from_slice(table);
    }
    file
}

/// A certificate that carries no envelope: only the structure the carrier search walks.
fn ordinary_cert() -> Vec<u8> {
    let mut extension = der::tlv(tag::OID, &[0x55, 0x1D, 0x0F]); // keyUsage
    extension.extend(der::tlv(tag::OCTET_STRING, &[3, 2, 5, 0]));
    let extensions = der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &extension));
    let mut tbs = der::tlv(tag::INTEGER, &[2]);
    tbs.extend(der::tlv(tag::CONTEXT_3, &extensions));
    der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &tbs))
}

/// A PKCS#7 `ContentInfo` holding `SignedData` with these certificates (the set left out
/// when there are none), and optionally a `crls` field.
fn content_info(certificates: &[&[u8]], crls: bool) -> Vec<u8> {
    let mut signed_data = der::tlv(tag::INTEGER, &[1]);
    signed_data.extend(der::tlv(
        tag::SET,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::OID, &[0x60])),
    ));
    signed_data.extend(der::tlv(
        tag::SEQUENCE,
        &der::tlv(tag::OID, &[0x2B, 6, 1, 4, 1]),
    ));
    if !certificates.is_empty() {
        signed_data.extend(der::tlv(tag::CONTEXT_0, &certificates.concat()));
    }
    if crls {
        signed_data.extend(der::tlv(tag::CONTEXT_1, &der::tlv(tag::SEQUENCE, &[])));
    }
    signed_data.extend(der::tlv(tag::SET, &der::tlv(tag::SEQUENCE, &[2, 1, 1])));
    let signed_data_oid = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 1, 7, 2];
    let mut content_info = der::tlv(tag::OID, &signed_data_oid);
    content_info.extend(der::tlv(
        tag::CONTEXT_0,
        &der::tlv(tag::SEQUENCE, &signed_data),
    ));
    der::tlv(tag::SEQUENCE, &content_info)
}

/// A `WIN_CERTIFICATE` (revision 2.0, PKCS_SIGNED_DATA) padded with zeros to 8 bytes.
fn win_certificate(pkcs7: &[u8]) -> Vec<u8> {
    let padded = (8 + pkcs7.len()).next_multiple_of(8);
    let mut table = (padded as u32).to_le_bytes().to_vec();
    table.extend_from_slice(&[0x00, 0x02, 0x02, 0x00]);
    table.extend_from_slice(pkcs7);
    table.resize(padded, 0);
    table
}

/// The same signature with its outer `ContentInfo` in BER's indefinite-length form.
fn ber_signature_table(table: &[u8]) -> Vec<u8> {
    let (content_info, _) = der::Tlv::read(&table[8..]).expect("the signature is DER");
    let ber = [&[tag::SEQUENCE, 0x80][..], content_info.content, &[0, 0]].concat();
    win_certificate(&ber)
}

// ELF and unsigned PE files with trailers (section 4.1).

fn locate_trailer_seeds() -> Vec<Seed> {
    let t = "locate_trailer";
    let elf = [&b"\x7fELF\x02\x01\x01"[..], &[0; 57]].concat();
    let with_trailer = trailer::append(&elf, b"an older envelope");
    let cut = [&elf[..], &sealed(&payload(false))[..120]].concat();
    let impossible = [&elf[..], &u32::MAX.to_le_bytes(), &trailer::MAGIC].concat();
    let covering_magic = [&b"\x7fELF"[..], &4u32.to_le_bytes(), &trailer::MAGIC].concat();
    let unsigned = pe(PeKind::Pe32Plus, &[0xCC; 24], None);

    let packed = Some(Reached::TrailerPacked);
    vec![
        seed(t, "elf", elf.clone(), packed),
        seed(t, "elf-magic-only", b"\x7fELF".to_vec(), packed),
        seed(t, "elf-with-trailer", with_trailer, packed),
        seed(t, "elf-cut-inside-its-envelope", cut, packed),
        seed(t, "elf-impossible-trailer-length", impossible, packed),
        seed(t, "elf-trailer-covering-its-magic", covering_magic, None),
        seed(
            t,
            "pe32-unsigned",
            pe(PeKind::Pe32, &[0xCC; 24], None),
            packed,
        ),
        seed(
            t,
            "pe32plus-unsigned-with-trailer",
            trailer::append(&unsigned, b"old"),
            packed,
        ),
        seed(
            t,
            "not-an-executable",
            b"#!/bin/sh\necho hello\n".to_vec(),
            None,
        ),
    ]
}

// DER (the subset of docs/FORMAT.md section 4.2's signature that certdrop reads).

fn der_seeds() -> Vec<Seed> {
    let t = "der";
    let carrier = fake_carrier(b"envelope").expect("infallible");
    let long_forms = [
        der::tlv(tag::OCTET_STRING, &[7; 200]),
        der::tlv(tag::OCTET_STRING, &[7; 300]),
    ];
    let oid = der::tlv(tag::OID, &der::oid_content(&CARRIER_OID_ARCS));
    let nested = der::tlv(
        tag::SET,
        &der::tlv(tag::SEQUENCE, &der::tlv(tag::CONTEXT_0, &oid)),
    );
    let bad_child = der::tlv(tag::SEQUENCE, &[tag::OCTET_STRING, 5, 1, 2]);
    let cut = content_info(&[&ordinary_cert()], false)[..40].to_vec();

    let ok = Some(Reached::DerRoundTrip);
    vec![
        seed(t, "carrier-certificate", carrier, ok),
        seed(
            t,
            "signed-data",
            content_info(&[&ordinary_cert()], true),
            ok,
        ),
        seed(t, "long-form-lengths", long_forms.concat(), ok),
        seed(t, "carrier-oid", oid, ok),
        seed(t, "nested-constructed", nested, ok),
        seed(t, "sequence-with-a-truncated-child", bad_child, ok),
        seed(t, "truncated", cut, None),
        seed(
            t,
            "indefinite-length",
            vec![tag::SEQUENCE, 0x80, tag::OCTET_STRING, 0, 0, 0],
            None,
        ),
        seed(
            t,
            "non-minimal-length",
            vec![tag::OCTET_STRING, 0x81, 5, 1, 2, 3, 4, 5],
            None,
        ),
        seed(t, "high-tag-number", vec![0x1F, 0x81, 0x00, 0x00], None),
    ]
}
