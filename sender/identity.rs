//! The client identity sealed into the envelope: certificate and key from PEM files, turned
//! into the PKCS#12 that the receiver hands to the operating system's TLS stack
//! (docs/FORMAT.md, section 3).

use anyhow::{bail, Context, Result};
use certdrop::der::{self, tag, Tlv};
use certdrop::secret::{Password, SecretBytes};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Amazon Root CA 1, which issues the AWS IoT endpoints' certificates.
const AMAZON_ROOT_CA_1: &str = include_str!("amazon-root-ca-1.pem");

/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: [u8; 7] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];

/// The identity as the envelope carries it.
pub struct Pkcs12Identity {
    pub der: SecretBytes,
    pub password: Password,
}

/// Builds the PKCS#12 from a PEM certificate and a PEM private key (PKCS#8, PKCS#1 RSA or
/// SEC1 EC, unencrypted: what AWS IoT's CreateKeysAndCertificate returns).
pub fn pkcs12_from_pem(cert_pem: &str, key_pem: &str) -> Result<Pkcs12Identity> {
    let cert = single_pem(cert_pem, "CERTIFICATE").context("reading the certificate")?;
    let key = private_key_pkcs8(key_pem)?;
    let root = single_pem(AMAZON_ROOT_CA_1, "CERTIFICATE").expect("the bundled root CA is PEM");

    // Limitation: p12-keystore keeps its own copies of the key (PrivateKey, the encoded bags)
    // without zeroizing them, so they stay in freed memory until reused; ours are zeroized.
    let certificate = Certificate::from_der(&cert).context("the certificate is not X.509")?;
    let root = Certificate::from_der(&root).expect("the bundled root CA is X.509");
    let key = PrivateKey::from_der(key.expose()).context("the private key is not valid PKCS#8")?;
    let local_key_id = Sha256::digest(&cert)[..20].to_vec();
    let chain = PrivateKeyChain::new(local_key_id, key, vec![certificate, root]);
    let mut store = KeyStore::new();
    store.add_entry("certdrop", KeyStoreEntry::PrivateKeyChain(chain));

    // SHA1-3DES for both bags and an HMAC-SHA1 MAC: what every Windows 10 Schannel and
    // OpenSSL 3 import. The envelope, not this encryption, protects the key.
    let password = random_pkcs12_password();
    let der = store
        .writer(password.expose())
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(MacAlgorithm::HmacSha1)
        .write()
        .context("writing the PKCS#12 identity")?;
    Ok(Pkcs12Identity {
        der: SecretBytes::new(der),
        password,
    })
}

fn single_pem(text: &str, label: &str) -> Result<Vec<u8>> {
    let blocks = pem::parse_many(text).context("not PEM")?;
    let mut matching = blocks.into_iter().filter(|b| b.tag() == label);
    let Some(block) = matching.next() else {
        bail!("no `-----BEGIN {label}-----` block found");
    };
    Ok(block.into_contents())
}

/// The private key as unencrypted PKCS#8 DER.
fn private_key_pkcs8(key_pem: &str) -> Result<SecretBytes> {
    let blocks = pem::parse_many(key_pem).context("the private key file is not PEM")?;
    let Some(block) = blocks
        .into_iter()
        .find(|b| b.tag().ends_with("PRIVATE KEY"))
    else {
        bail!("the key file holds no `-----BEGIN ... PRIVATE KEY-----` block");
    };
    let label = block.tag().to_owned();
    let contents = Zeroizing::new(block.into_contents());
    let pkcs8 = match label.as_str() {
        "PRIVATE KEY" => contents.to_vec(),
        "RSA PRIVATE KEY" => wrap_pkcs8(&algorithm(&RSA_ENCRYPTION, None), &contents),
        "EC PRIVATE KEY" => {
            let curve = sec1_curve(&contents).context("reading the EC private key")?;
            wrap_pkcs8(&algorithm(&EC_PUBLIC_KEY, Some(&curve)), &contents)
        }
        "ENCRYPTED PRIVATE KEY" => {
            bail!("the private key is encrypted; decrypt it first (openssl pkcs8 -in KEY)")
        }
        other => bail!("unsupported private key type `{other}`"),
    };
    Ok(SecretBytes::new(pkcs8))
}

/// AlgorithmIdentifier { algorithm, parameters }: NULL for RSA, the curve for EC.
fn algorithm(oid: &[u8], curve: Option<&[u8]>) -> Vec<u8> {
    let mut content = der::tlv(tag::OID, oid);
    content.extend(match curve {
        Some(curve) => der::tlv(tag::OID, curve),
        None => vec![0x05, 0x00],
    });
    der::tlv(tag::SEQUENCE, &content)
}

/// PrivateKeyInfo { version 0, algorithm, privateKey OCTET STRING } (RFC 5208).
fn wrap_pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut content = der::tlv(tag::INTEGER, &[0]);
    content.extend_from_slice(algorithm);
    content.extend(der::tlv(tag::OCTET_STRING, key));
    der::tlv(tag::SEQUENCE, &content)
}

/// The named curve in an ECPrivateKey's `[0] parameters` (RFC 5915).
fn sec1_curve(sec1: &[u8]) -> Result<Vec<u8>> {
    let (key, _) = Tlv::expect(sec1, tag::SEQUENCE)?;
    for field in key.children() {
        let field = field?;
        if field.tag == tag::CONTEXT_0 {
            let (curve, _) = Tlv::expect(field.content, tag::OID)?;
            return Ok(curve.content.to_vec());
        }
    }
    bail!("the EC private key does not name its curve")
}

/// 32 random letters and digits: about 190 bits.
fn random_pkcs12_password() -> Password {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(bytes.as_mut()).expect("the operating system provides random numbers");
    // 256 is a multiple of 62 plus 8: the bias is negligible next to 190 bits.
    let text: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % 62] as char)
        .collect();
    Password::new(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh RSA identity from the OpenSSL command line, as PKCS#1 (`-traditional`).
    fn openssl_identity(dir: &std::path::Path) -> (String, String) {
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
            ])
            .args([
                "-out",
                "cert.pem",
                "-subj",
                "/CN=identity test",
                "-days",
                "2",
            ])
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(status.status.success());
        let traditional = std::process::Command::new("openssl")
            .args(["rsa", "-in", "key.pem", "-traditional", "-out", "key1.pem"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(traditional.status.success());
        let read = |name| std::fs::read_to_string(dir.join(name)).unwrap();
        (read("cert.pem"), read("key1.pem"))
    }

    #[test]
    fn pkcs12_uses_sha1_3des_and_opens_in_openssl_3_without_legacy() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = openssl_identity(dir.path());
        assert!(key.contains("BEGIN RSA PRIVATE KEY"), "PKCS#1 input");
        let identity = pkcs12_from_pem(&cert, &key).unwrap();
        let path = dir.path().join("identity.p12");
        std::fs::write(&path, identity.der.expose()).unwrap();

        let output = std::process::Command::new("openssl")
            .args(["pkcs12", "-info", "-noout", "-in"])
            .arg(&path)
            .arg("-passin")
            .arg(format!("pass:{}", identity.password.expose()))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{report}");
        let shrouded = "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC";
        let certificates = "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC";
        assert!(report.contains(shrouded), "{report}");
        assert!(report.contains(certificates), "{report}");
        assert!(report.contains("MAC: sha1"), "{report}");
    }

    #[test]
    fn encrypted_and_missing_keys_are_refused_with_the_reason() {
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----";
        let err = private_key_pkcs8(encrypted).unwrap_err().to_string();
        assert!(err.contains("decrypt it first"), "{err}");
        let err = private_key_pkcs8("no key here").unwrap_err().to_string();
        assert!(err.contains("PRIVATE KEY"), "{err}");
    }
}
