//! A throwaway certificate authority for the stand-ins: it issues the TLS server certificate
//! of the credentials emulator and the client certificates that stand in for those AWS IoT
//! issues. Everything comes out as PEM text, ready for OpenSSL, Schannel or rustls.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::random;
use crate::secret::REDACTED;

/// The organization named in every certificate the test CA makes.
const ORGANIZATION: &str = "certdrop stand-ins";
/// How long the CA itself is valid.
const CA_VALIDITY_DAYS: u64 = 3650;
/// How long issued certificates and the CRL are valid.
const LEAF_VALIDITY_DAYS: u64 = 365;

/// Why the test CA could not make a certificate or a CRL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("the private key is not a PKCS#8 PEM key that ring can read: {0}")]
    UnreadableKey(#[source] rcgen::Error),
    #[error("{0:?} is not a host name or IP address a certificate can name")]
    InvalidHost(String),
    #[error("rcgen could not make the {what}: {source}")]
    Generation {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
}

/// The id AWS IoT gives a certificate: the lowercase hex SHA-256 of its DER encoding.
pub fn certificate_id(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// A private key in PKCS#8 PEM. `Debug` never shows it; it is wiped from memory on drop.
#[derive(Clone)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    pub fn new(pem: String) -> Self {
        PrivateKeyPem(Zeroizing::new(pem))
    }

    /// The PEM text, for handing to a TLS library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A certificate the test CA issued, with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    cert_pem: String,
    cert_der: Vec<u8>,
    key: PrivateKeyPem,
}

impl IssuedCert {
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The private key's PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        self.key.expose()
    }

    pub fn key(&self) -> &PrivateKeyPem {
        &self.key
    }

    /// The certificate's id as AWS IoT computes it (see [`certificate_id`]).
    pub fn certificate_id(&self) -> String {
        certificate_id(&self.cert_der)
    }
}

/// Shows the certificate id, never the key.
impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("certificate_id", &self.certificate_id())
            .field("key", &self.key)
            .finish()
    }
}

/// A certificate revocation list, in both encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crl {
    pub der: Vec<u8>,
    pub pem: String,
}

/// A certificate authority made on the spot, with an EC P-256 key.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl TestCa {
    /// Makes a new CA whose subject is `common_name`.
    pub fn new(common_name: &str) -> Result<TestCa, PkiError> {
        let key = KeyPair::generate().map_err(generation("CA key"))?;
        let mut params = base_params(common_name, CA_VALIDITY_DAYS);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(generation("CA certificate"))?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A TLS server certificate for `hosts` (names or IP addresses) with a fresh EC key.
    /// `crl_url`, when given, becomes its CRL distribution point: Schannel checks
    /// revocation and, under Wine, accepts a CA-issued server certificate only when that
    /// point is a `file://` URL to a real CRL such as [`TestCa::empty_crl`].
    pub fn issue_server(
        &self,
        hosts: &[&str],
        crl_url: Option<&str>,
    ) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate().map_err(generation("server key"))?;
        self.issue_server_for(hosts, crl_url, key)
    }

    /// Like [`TestCa::issue_server`], for a key the caller made (PKCS#8 PEM, RSA or EC).
    pub fn issue_server_for_key(
        &self,
        hosts: &[&str],
        crl_url: Option<&str>,
        key_pem: &str,
    ) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(PkiError::UnreadableKey)?;
        self.issue_server_for(hosts, crl_url, key)
    }

    /// A TLS client certificate for `common_name` with a fresh EC P-256 key.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate().map_err(generation("client key"))?;
        self.issue_client_for(common_name, key)
    }

    /// A TLS client certificate for `common_name` and a key the caller made, in PKCS#8 PEM.
    /// Tests pass RSA keys made with `openssl genpkey`: Wine's Schannel takes no other kind.
    pub fn issue_client_for_key(
        &self,
        common_name: &str,
        key_pem: &str,
    ) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(PkiError::UnreadableKey)?;
        self.issue_client_for(common_name, key)
    }

    /// A CRL signed by this CA that revokes nothing.
    pub fn empty_crl(&self) -> Result<Crl, PkiError> {
        let ((y0, m0, d0), (y1, m1, d1)) = validity(LEAF_VALIDITY_DAYS);
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(y0, m0, d0),
            next_update: rcgen::date_time_ymd(y1, m1, d1),
            crl_number: serial_number(),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).map_err(generation("CRL"))?;
        let pem = crl.pem().map_err(generation("CRL's PEM"))?;
        Ok(Crl {
            der: crl.der().to_vec(),
            pem,
        })
    }

    fn issue_server_for(
        &self,
        hosts: &[&str],
        crl_url: Option<&str>,
        key: KeyPair,
    ) -> Result<IssuedCert, PkiError> {
        let first = hosts.first().copied().unwrap_or("localhost");
        let mut params = base_params(first, LEAF_VALIDITY_DAYS);
        params.subject_alt_names = subject_alt_names(hosts)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if let Some(url) = crl_url {
            let uris = vec![url.to_owned()];
            params.crl_distribution_points = vec![CrlDistributionPoint { uris }];
        }
        self.sign(&params, key, "server certificate")
    }

    fn issue_client_for(&self, common_name: &str, key: KeyPair) -> Result<IssuedCert, PkiError> {
        let mut params = base_params(common_name, LEAF_VALIDITY_DAYS);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(&params, key, "client certificate")
    }

    fn sign(
        &self,
        params: &CertificateParams,
        key: KeyPair,
        what: &'static str,
    ) -> Result<IssuedCert, PkiError> {
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(generation(what))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key: PrivateKeyPem::new(key.serialize_pem()),
        })
    }
}

/// Shows the CA's certificate id, never its key.
impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("certificate_id", &certificate_id(&self.cert_der))
            .field("key", &format_args!("{REDACTED}"))
            .finish()
    }
}

/// What every certificate shares: subject, validity from yesterday, a random serial, and
/// the authority key identifier that Schannel uses to build the chain.
fn base_params(common_name: &str, days: u64) -> CertificateParams {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, ORGANIZATION);
    let ((y0, m0, d0), (y1, m1, d1)) = validity(days);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.not_before = rcgen::date_time_ymd(y0, m0, d0);
    params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    params.serial_number = Some(serial_number());
    params.use_authority_key_identifier_extension = true;
    params
}

fn subject_alt_names(hosts: &[&str]) -> Result<Vec<rcgen::SanType>, PkiError> {
    let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let parsed = CertificateParams::new(names);
    let host_list = hosts.join(", ");
    parsed
        .map(|p| p.subject_alt_names)
        .map_err(|_| PkiError::InvalidHost(host_list))
}

/// From yesterday (clocks differ a little) to `days` from today, each as (year, month, day)
/// for [`rcgen::date_time_ymd`], which makes midnight UTC of that day.
fn validity(days: u64) -> ((i32, u8, u8), (i32, u8, u8)) {
    let today = Utc::now().date_naive();
    (ymd(today - Days::new(1)), ymd(today + Days::new(days)))
}

fn ymd(date: NaiveDate) -> (i32, u8, u8) {
    let month = u8::try_from(date.month()).expect("a month is 1 to 12");
    let day = u8::try_from(date.day()).expect("a day is 1 to 31");
    (date.year(), month, day)
}

/// A positive 16-byte serial: unique enough that OpenSSL's certificate caches never confuse
/// two test certificates.
fn serial_number() -> SerialNumber {
    let mut bytes = random::bytes::<16>();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn generation(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |source| PkiError::Generation { what, source }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// Runs `openssl args` in `dir` and returns its standard output; fails the test if it fails.
    fn openssl(dir: &Path, args: &[&str]) -> String {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (.ci/run installs it)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "openssl {args:?} failed: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn issued_certificates_verify_against_the_ca_for_their_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA").unwrap();
        write(dir.path(), "ca.pem", ca.cert_pem());
        let server = ca.issue_server(&["127.0.0.1", "localhost"], None).unwrap();
        write(dir.path(), "server.pem", server.cert_pem());
        let client = ca.issue_client("recipient").unwrap();
        write(dir.path(), "client.pem", client.cert_pem());

        let verify = ["verify", "-CAfile", "ca.pem", "-purpose"];
        let server_ok = openssl(
            dir.path(),
            &[&verify[..], &["sslserver", "server.pem"]].concat(),
        );
        assert!(server_ok.contains("server.pem: OK"), "{server_ok}");
        let client_ok = openssl(
            dir.path(),
            &[&verify[..], &["sslclient", "client.pem"]].concat(),
        );
        assert!(client_ok.contains("client.pem: OK"), "{client_ok}");
        let ip_ok = openssl(
            dir.path(),
            &[
                "verify",
                "-CAfile",
                "ca.pem",
                "-verify_ip",
                "127.0.0.1",
                "server.pem",
            ],
        );
        assert!(ip_ok.contains("OK"), "{ip_ok}");
    }

    #[test]
    fn server_certificate_names_the_crl_and_the_crl_is_signed_by_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA").unwrap();
        let url = "file:///Z:/tmp/certdrop/test.crl";
        let server = ca.issue_server(&["127.0.0.1"], Some(url)).unwrap();
        write(dir.path(), "ca.pem", ca.cert_pem());
        write(dir.path(), "server.pem", server.cert_pem());
        let crl = ca.empty_crl().unwrap();
        write(dir.path(), "crl.pem", &crl.pem);
        std::fs::write(dir.path().join("crl.der"), &crl.der).unwrap();

        let text = openssl(
            dir.path(),
            &["x509", "-in", "server.pem", "-noout", "-text"],
        );
        assert!(text.contains(&format!("URI:{url}")), "{text}");
        let pem_check = [
            "crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout", "-text",
        ];
        let crl_text = openssl(dir.path(), &pem_check);
        assert!(crl_text.contains("No Revoked Certificates"), "{crl_text}");
        let der_check = [
            "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout",
        ];
        openssl(dir.path(), &der_check);
        let with_crl = [
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
        ];
        let checked = openssl(dir.path(), &[&with_crl[..], &["server.pem"]].concat());
        assert!(checked.contains("server.pem: OK"), "{checked}");
    }

    #[test]
    fn client_certificate_for_a_callers_rsa_key_carries_that_key() {
        let dir = tempfile::tempdir().unwrap();
        let genpkey = [
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ];
        let key = openssl(dir.path(), &genpkey);
        let ca = TestCa::new("test CA").unwrap();
        let issued = ca.issue_client_for_key("wine recipient", &key).unwrap();
        write(dir.path(), "key.pem", &key);
        write(dir.path(), "cert.pem", issued.cert_pem());

        let from_key = openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout"]);
        let from_cert = openssl(
            dir.path(),
            &["x509", "-in", "cert.pem", "-noout", "-pubkey"],
        );
        assert_eq!(from_key, from_cert);
        assert_eq!(issued.key_pem(), key);
    }

    #[test]
    fn certificate_id_is_the_sha256_of_the_der() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("test CA").unwrap();
        let issued = ca.issue_client("recipient").unwrap();
        write(dir.path(), "cert.pem", issued.cert_pem());
        let args = [
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ];
        let fingerprint = openssl(dir.path(), &args);
        let hex: String = fingerprint
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "");
        assert_eq!(issued.certificate_id(), hex.to_lowercase());
    }

    #[test]
    fn unreadable_key_is_refused_with_a_typed_error() {
        let ca = TestCa::new("test CA").unwrap();
        let refused = ca.issue_client_for_key("x", "-----BEGIN PRIVATE KEY-----\nAA==\n");
        assert!(
            matches!(refused, Err(PkiError::UnreadableKey(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn debug_never_shows_private_keys() {
        let ca = TestCa::new("test CA").unwrap();
        let issued = ca.issue_client("recipient").unwrap();
        let key_body = issued.key_pem().lines().nth(1).unwrap().to_owned();
        for shown in [
            format!("{issued:?}"),
            format!("{ca:?}"),
            format!("{:?}", issued.key()),
        ] {
            assert!(shown.contains(REDACTED), "{shown}");
            assert!(
                !shown.contains(&key_body) && !shown.contains("PRIVATE KEY"),
                "{shown}"
            );
        }
    }
}
