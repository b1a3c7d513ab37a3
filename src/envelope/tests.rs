use proptest::prelude::*;

use super::*;
use crate::secret::SecretBytes;
use crate::transfer::tests::sample_manifest;
use crate::transfer::TransferInfo;

fn test_kdf() -> KdfParams {
    KdfParams::with_memory_mib(8).unwrap()
}

fn sample_payload() -> Payload {
    Payload {
        info: TransferInfo::from_manifest(&sample_manifest()).unwrap(),
        pkcs12: SecretBytes::new((0..=255u8).cycle().take(3000).collect()),
        pkcs12_password: Password::new("Q".repeat(32)),
    }
}

fn password() -> Password {
    Password::new("tiger-maple-7-rocket".into())
}

fn sealed_bytes() -> Vec<u8> {
    seal(&sample_payload(), &password(), test_kdf())
        .unwrap()
        .write()
}

/// Replaces the digest so that only the deeper checks can catch a change.
fn redigest(bytes: &mut [u8]) {
    let end = bytes.len() - DIGEST_LEN;
    let digest = Sha256::digest(&bytes[..end]);
    bytes[end..].copy_from_slice(&digest);
}

#[test]
fn envelope_round_trips_through_bytes_and_password() {
    let bytes = sealed_bytes();
    let envelope = Envelope::read(&bytes).unwrap();
    assert_eq!(envelope.write(), bytes, "write(read(x)) == x");
    assert_eq!(envelope.open(&password()).unwrap(), sample_payload());
}

#[test]
fn each_seal_uses_a_fresh_salt_and_nonce() {
    let a = Envelope::read(&sealed_bytes()).unwrap();
    let b = Envelope::read(&sealed_bytes()).unwrap();
    assert_ne!(a.header.salt, b.header.salt);
    assert_ne!(a.header.nonce, b.header.nonce);
}

#[test]
fn wrong_password_is_reported_as_such() {
    let envelope = Envelope::read(&sealed_bytes()).unwrap();
    for wrong in ["tiger-maple-7-rocket ", "Tiger-maple-7-rocket", ""] {
        let err = envelope.open(&Password::new(wrong.into())).unwrap_err();
        assert_eq!(err, EnvelopeError::WrongPassword, "{wrong:?}");
    }
}

#[test]
fn truncation_anywhere_is_reported_as_truncated() {
    let bytes = sealed_bytes();
    for len in [0, 5, 9, 10, 40, HEADER_LEN - 1, HEADER_LEN, bytes.len() - 1] {
        let err = Envelope::read(&bytes[..len]).unwrap_err();
        assert!(matches!(err, EnvelopeError::Truncated(_)), "{len}: {err}");
    }
}

#[test]
fn trailing_bytes_are_reported() {
    let mut bytes = sealed_bytes();
    bytes.extend_from_slice(b"xyz");
    assert_eq!(Envelope::read(&bytes), Err(EnvelopeError::TrailingBytes(3)));
}

#[test]
fn newer_format_version_is_named() {
    let mut bytes = sealed_bytes();
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(Envelope::read(&bytes), Err(EnvelopeError::NewerVersion(2)));
    let message = EnvelopeError::NewerVersion(2).to_string();
    assert!(
        message.contains("version 2") && message.contains("reads version 1"),
        "{message}"
    );
}

#[test]
fn absurd_kdf_parameters_are_refused_before_deriving() {
    // 4 TiB of memory or a million passes would never finish; refusing them is the only way
    // these calls can return at all.
    let cases: [(usize, u32); 5] = [
        (12, u32::MAX),        // memory: 4 TiB
        (12, 1024 * 1024 + 1), // memory: just over 1 GiB
        (12, 1024),            // memory: 1 MiB, below the floor
        (16, 1_000_000),       // passes
        (20, 0),               // lanes
    ];
    for (offset, value) in cases {
        let mut bytes = sealed_bytes();
        bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        redigest(&mut bytes);
        match Envelope::read(&bytes) {
            Err(EnvelopeError::KdfRefused(_)) => {}
            other => panic!("offset {offset} = {value}: {other:?}"),
        }
    }
    assert!(matches!(
        KdfParams::with_memory_mib(2048),
        Err(EnvelopeError::KdfRefused(_))
    ));
}

#[test]
fn kdf_memory_below_8_mib_is_refused_for_writing() {
    assert!(matches!(
        KdfParams::with_memory_mib(7),
        Err(EnvelopeError::KdfRefused(_))
    ));
    assert!(KdfParams::with_memory_mib(8).is_ok());
    assert!(KdfParams::DEFAULT.check().is_ok());
    const _: () = assert!(KdfParams::DEFAULT.memory_kib >= 64 * 1024);
    const _: () = assert!(KdfParams::DEFAULT.passes >= 3);
}

#[test]
fn altered_header_with_a_fixed_up_digest_fails_authentication() {
    let bytes = sealed_bytes();
    // The nonce is not an input of the key check: only the AEAD can notice it changed.
    let mut altered = bytes.clone();
    altered[50] ^= 1;
    redigest(&mut altered);
    let envelope = Envelope::read(&altered).unwrap();
    assert_eq!(
        envelope.open(&password()),
        Err(EnvelopeError::AuthenticationFailed)
    );
    // Likewise a flipped ciphertext byte.
    let mut altered = bytes;
    altered[HEADER_LEN + 7] ^= 0x80;
    redigest(&mut altered);
    let envelope = Envelope::read(&altered).unwrap();
    assert_eq!(
        envelope.open(&password()),
        Err(EnvelopeError::AuthenticationFailed)
    );
}

#[test]
fn payload_rejects_trailing_and_non_canonical_bytes() {
    let payload = sample_payload();
    let mut bytes = payload.write().to_vec();
    assert_eq!(Payload::read(&bytes).unwrap(), payload);
    bytes.push(0);
    assert!(matches!(
        Payload::read(&bytes),
        Err(EnvelopeError::Damaged(_))
    ));

    // The same metadata with a space added is not canonical.
    let json = payload.info.to_canonical_json().replacen(':', ": ", 1);
    let mut spaced = (json.len() as u32).to_le_bytes().to_vec();
    spaced.extend_from_slice(json.as_bytes());
    spaced.extend_from_slice(&payload.write()[4 + json.len() - 1..]);
    assert_eq!(
        Payload::read(&spaced),
        Err(EnvelopeError::Damaged(
            "the metadata is not in canonical form"
        ))
    );
}

#[test]
fn payload_debug_hides_the_identity() {
    let shown = format!("{:?}", sample_payload());
    assert!(
        shown.contains("acme-transfers"),
        "metadata is shown: {shown}"
    );
    assert!(
        !shown.contains("QQQQ"),
        "the PKCS#12 password leaked: {shown}"
    );
    assert!(
        shown.matches(crate::secret::REDACTED).count() == 2,
        "{shown}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any single flipped bit anywhere is caught, and caught by the right check.
    #[test]
    fn every_flipped_bit_is_detected(offset in 0usize..4000, bit in 0u8..8) {
        let bytes = sealed_bytes();
        let offset = offset % bytes.len();
        let mut damaged = bytes.clone();
        damaged[offset] ^= 1 << bit;
        let result = Envelope::read(&damaged).and_then(|e| e.open(&password()));
        let err = result.expect_err("a flipped bit must never open");
        match offset {
            0..=7 => prop_assert_eq!(err, EnvelopeError::NotAnEnvelope),
            8..=9 => prop_assert!(matches!(
                err,
                EnvelopeError::NewerVersion(_) | EnvelopeError::Damaged(_)
            )),
            80..=83 => prop_assert!(matches!(
                err,
                EnvelopeError::Truncated(_) | EnvelopeError::TrailingBytes(_)
            ), "{:?}", err),
            _ => prop_assert!(matches!(err, EnvelopeError::Damaged(_)), "{:?}", err),
        }
    }

    /// With the digest fixed up (a deliberate change), the KDF limits, the key check and the
    /// AEAD still refuse every altered byte of the header and the sealed payload.
    #[test]
    fn deliberate_changes_never_open(offset in 10usize..4000, value in 1u8..=255) {
        let bytes = sealed_bytes();
        let offset = 10 + offset % (bytes.len() - DIGEST_LEN - 10);
        prop_assume!(!(80..84).contains(&offset));
        let mut altered = bytes;
        altered[offset] ^= value;
        redigest(&mut altered);
        let result = Envelope::read(&altered).and_then(|e| e.open(&password()));
        prop_assert!(result.is_err(), "offset {} opened", offset);
    }
}
