//! The carrier certificate that holds the envelope inside an Authenticode signature
//! (docs/FORMAT.md, section 4.2): self-signed, expired since 2000, with the envelope in one
//! non-critical extension.

use anyhow::{Context, Result};
use certdrop::container::authenticode::{carrier_extension_value, carrier_oid};
use certdrop::der::{self, tag};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

/// 1.2.840.10045.4.3.2
const ECDSA_WITH_SHA256: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: [u8; 7] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// 1.2.840.10045.3.1.7
const PRIME256V1: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// 2.5.4.3
const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
const UTC_TIME: u8 = 0x17;
const UTF8_STRING: u8 = 0x0C;
const BIT_STRING: u8 = 0x03;

/// A DER certificate carrying `envelope`, signed by a throwaway key.
pub fn carrier_certificate(envelope: &[u8]) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .ok()
        .context("generating the carrier certificate's key")?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .ok()
        .context("loading the carrier certificate's key")?;

    let tbs = tbs_certificate(key.public_key().as_ref(), envelope)?;
    let signature = key
        .sign(&rng, &tbs)
        .ok()
        .context("signing the carrier certificate")?;

    let mut certificate = tbs;
    certificate.extend(signature_algorithm());
    certificate.extend(bit_string(signature.as_ref()));
    Ok(der::tlv(tag::SEQUENCE, &certificate))
}

/// TBSCertificate (RFC 5280, section 4.1).
fn tbs_certificate(public_key: &[u8], envelope: &[u8]) -> Result<Vec<u8>> {
    let mut serial = [0u8; 16];
    getrandom::getrandom(&mut serial).expect("the operating system provides random numbers");
    serial[0] &= 0x7F; // a positive INTEGER
    serial[0] |= 0x40; // with no leading zero byte to strip

    let name = name("certdrop envelope carrier");
    let mut validity = der::tlv(UTC_TIME, b"000101000000Z");
    validity.extend(der::tlv(UTC_TIME, b"000102000000Z"));

    let mut spki_algorithm = der::tlv(tag::OID, &EC_PUBLIC_KEY);
    spki_algorithm.extend(der::tlv(tag::OID, &PRIME256V1));
    let mut spki = der::tlv(tag::SEQUENCE, &spki_algorithm);
    spki.extend(bit_string(public_key));

    let mut extension = der::tlv(tag::OID, carrier_oid());
    extension.extend(der::tlv(
        tag::OCTET_STRING,
        &carrier_extension_value(envelope),
    ));
    let extensions = der::tlv(tag::SEQUENCE, &der::tlv(tag::SEQUENCE, &extension));

    let mut tbs = der::tlv(tag::CONTEXT_0, &der::tlv(tag::INTEGER, &[2])); // v3
    tbs.extend(der::tlv(tag::INTEGER, &serial));
    tbs.extend(signature_algorithm());
    tbs.extend_from_slice(&name);
    tbs.extend(der::tlv(tag::SEQUENCE, &validity));
    tbs.extend_from_slice(&name);
    tbs.extend(der::tlv(tag::SEQUENCE, &spki));
    tbs.extend(der::tlv(tag::CONTEXT_3, &extensions));
    Ok(der::tlv(tag::SEQUENCE, &tbs))
}

fn signature_algorithm() -> Vec<u8> {
    der::tlv(tag::SEQUENCE, &der::tlv(tag::OID, &ECDSA_WITH_SHA256))
}

/// Name ::= SEQUENCE OF SET OF { type, value }, with a single common name.
fn name(common_name: &str) -> Vec<u8> {
    let mut attribute = der::tlv(tag::OID, &COMMON_NAME);
    attribute.extend(der::tlv(UTF8_STRING, common_name.as_bytes()));
    let rdn = der::tlv(tag::SET, &der::tlv(tag::SEQUENCE, &attribute));
    der::tlv(tag::SEQUENCE, &rdn)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8]; // no unused bits
    content.extend_from_slice(bytes);
    der::tlv(BIT_STRING, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop::container::authenticode::carried_envelope;

    #[test]
    fn carrier_certificate_holds_the_envelope_and_parses_with_openssl() {
        let envelope = vec![0xA5u8; 5000];
        let cert = carrier_certificate(&envelope).unwrap();
        assert_eq!(carried_envelope(&cert).unwrap(), Some(&envelope[..]));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carrier.der");
        std::fs::write(&path, &cert).unwrap();
        let output = std::process::Command::new("openssl")
            .args([
                "x509", "-inform", "DER", "-noout", "-subject", "-enddate", "-in",
            ])
            .arg(&path)
            .output()
            .expect("openssl is installed");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains("certdrop envelope carrier"), "{text}");
        assert!(text.contains("Jan  2 00:00:00 2000 GMT"), "{text}");
    }
}
