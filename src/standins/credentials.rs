//! An emulator of the AWS IoT credentials provider: over mutual TLS it answers
//! `GET /role-aliases/<alias>/credentials` with temporary credentials for the certificate
//! that authenticated, in AWS's JSON shape and with AWS's error codes.
//!
//! It keeps what AWS IoT would: which certificates are ACTIVE or INACTIVE (by certificate id,
//! the hex SHA-256 of the DER), which role aliases exist and how long credentials live. It
//! counts requests and can be told to misbehave for the next few requests, for fault tests.
//! Every set of credentials it issues goes into a [`CredentialStore`], where the S3 stand-in
//! finds it.

mod api;
mod server;
mod store;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing::{debug, warn};

pub use api::{ErrorType, ERROR_TYPE_HEADER, REQUEST_ID_HEADER, THING_NAME_HEADER};
pub use server::EmulatorError;
pub use store::{CredentialStore, TemporaryCredentials};

use super::moto::{MotoIssuer, MotoRegistry, Refusal};
use api::ApiError;

/// The role alias the stand-ins create unless told otherwise.
pub const DEFAULT_ROLE_ALIAS: &str = "certdrop-receiver";
/// AWS's default credential lifetime for a role alias.
pub const DEFAULT_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(3600);

/// Whether AWS IoT would let a certificate authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateStatus {
    Active,
    Inactive,
}

/// Where the emulator gets the credentials it hands out.
#[derive(Debug, Default)]
pub enum Issuing {
    /// Random credentials made here, known only to the [`CredentialStore`] (and so to the
    /// S3 stand-in).
    #[default]
    Local,
    /// Credentials assumed in a moto server, for a role scoped to the certificate.
    Moto(Box<MotoIssuer>),
    /// As `Moto`, and the certificates themselves (which one, ACTIVE or not, its policies,
    /// the role alias) come from moto's IoT registry, as AWS's come from AWS IoT: any client
    /// certificate passes the TLS handshake and the registry decides.
    MotoRegistry(Box<MotoIssuer>, Box<MotoRegistry>),
}

/// How the emulator starts.
#[derive(Debug)]
pub struct EmulatorConfig {
    pub role_aliases: Vec<String>,
    /// How long issued credentials live (AWS: the role alias's credential duration).
    pub credential_lifetime: Duration,
    pub issuing: Issuing,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            role_aliases: vec![DEFAULT_ROLE_ALIAS.to_owned()],
            credential_lifetime: DEFAULT_CREDENTIAL_LIFETIME,
            issuing: Issuing::Local,
        }
    }
}

/// The emulator's state. Clones share it, so a test can revoke a certificate or switch a
/// fault on while the server runs.
#[derive(Clone, Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    registry: Mutex<Registry>,
    faults: Faults,
    requests: AtomicU64,
    store: CredentialStore,
    issuing: Issuing,
}

#[derive(Debug)]
struct Registry {
    certificates: HashMap<String, CertificateStatus>,
    role_aliases: HashSet<String>,
    credential_lifetime: Duration,
}

/// Misbehaviour switches: each counts down the requests it still affects.
#[derive(Debug, Default)]
struct Faults {
    close: AtomicU32,
    fail: AtomicU32,
}

impl Emulator {
    pub fn new(config: EmulatorConfig, store: CredentialStore) -> Self {
        let registry = Registry {
            certificates: HashMap::new(),
            role_aliases: config.role_aliases.into_iter().collect(),
            credential_lifetime: config.credential_lifetime,
        };
        let shared = Shared {
            registry: Mutex::new(registry),
            faults: Faults::default(),
            requests: AtomicU64::new(0),
            store,
            issuing: config.issuing,
        };
        Emulator {
            shared: Arc::new(shared),
        }
    }

    /// Registers a certificate (or changes its status), as `iot:RegisterCertificate` and
    /// `iot:UpdateCertificate` would.
    pub fn set_status(&self, certificate_id: &str, status: CertificateStatus) {
        let mut registry = self.registry();
        registry
            .certificates
            .insert(certificate_id.to_owned(), status);
    }

    pub fn activate(&self, certificate_id: &str) {
        self.set_status(certificate_id, CertificateStatus::Active);
    }

    /// Sets the certificate INACTIVE: it gets no new credentials; those already issued live
    /// until they expire, as on AWS.
    pub fn revoke(&self, certificate_id: &str) {
        self.set_status(certificate_id, CertificateStatus::Inactive);
    }

    /// The certificate's status, `None` when it was never registered.
    pub fn status(&self, certificate_id: &str) -> Option<CertificateStatus> {
        self.registry().certificates.get(certificate_id).copied()
    }

    pub fn add_role_alias(&self, alias: &str) {
        self.registry().role_aliases.insert(alias.to_owned());
    }

    pub fn remove_role_alias(&self, alias: &str) {
        self.registry().role_aliases.remove(alias);
    }

    /// Changes how long credentials issued from now on live.
    pub fn set_credential_lifetime(&self, lifetime: Duration) {
        self.registry().credential_lifetime = lifetime;
    }

    pub fn credential_lifetime(&self) -> Duration {
        self.registry().credential_lifetime
    }

    /// Every HTTP request that reached the emulator, faulty answers included.
    pub fn requests_served(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Closes the connection without any answer for the next `count` requests.
    pub fn close_next_requests(&self, count: u32) {
        self.shared.faults.close.store(count, Ordering::SeqCst);
    }

    /// Answers `500 InternalFailureException` to the next `count` requests.
    pub fn fail_next_requests(&self, count: u32) {
        self.shared.faults.fail.store(count, Ordering::SeqCst);
    }

    pub fn store(&self) -> &CredentialStore {
        &self.shared.store
    }

    /// Counts one request and tells which fault, if any, it meets.
    fn begin_request(&self) -> Option<Fault> {
        self.shared.requests.fetch_add(1, Ordering::SeqCst);
        let faults = &self.shared.faults;
        if take_one(&faults.close) {
            Some(Fault::Close)
        } else if take_one(&faults.fail) {
            Some(Fault::Fail)
        } else {
            None
        }
    }

    /// Whether the TLS handshake accepts any client certificate (the registry decides).
    pub fn accepts_any_client_certificate(&self) -> bool {
        matches!(self.shared.issuing, Issuing::MotoRegistry(..))
    }

    /// What AWS does for one request: authorize the certificate, find the role alias,
    /// assume the role, and record the credentials.
    async fn credentials_for(
        &self,
        alias: &str,
        certificate_id: &str,
        certificate_der: &[u8],
    ) -> Result<TemporaryCredentials, ApiError> {
        let moto_failure = |error: &dyn std::fmt::Display| {
            warn!(%error, "moto refused to issue credentials");
            ApiError::new(ErrorType::InternalFailure, "Internal failure")
        };
        let credentials = match &self.shared.issuing {
            Issuing::Local => {
                let lifetime = self.authorize(alias, certificate_id)?;
                TemporaryCredentials::generate(certificate_id, lifetime)
            }
            Issuing::Moto(moto) => {
                let lifetime = self.authorize(alias, certificate_id)?;
                moto.issue(certificate_id, lifetime)
                    .await
                    .map_err(|e| moto_failure(&e))?
            }
            Issuing::MotoRegistry(moto, registry) => {
                let authorized = registry
                    .authorize(certificate_der, alias)
                    .await
                    .map_err(registry_refusal)?;
                let lifetime = authorized.lifetime.min(self.credential_lifetime());
                moto.issue(&authorized.certificate_id, lifetime)
                    .await
                    .map_err(|e| moto_failure(&e))?
            }
        };
        debug!(
            certificate_id,
            access_key_id = credentials.access_key_id(),
            "issued"
        );
        self.shared.store.insert(credentials.clone());
        Ok(credentials)
    }

    /// The certificate must be ACTIVE and the alias must exist; returns the lifetime.
    fn authorize(&self, alias: &str, certificate_id: &str) -> Result<Duration, ApiError> {
        let registry = self.registry();
        match registry.certificates.get(certificate_id) {
            Some(CertificateStatus::Active) => {}
            Some(CertificateStatus::Inactive) => {
                return Err(forbidden("Certificate is not active"));
            }
            None => return Err(forbidden("Access Denied")),
        }
        if !registry.role_aliases.contains(alias) {
            let message = format!("Role alias {alias} does not exist");
            return Err(ApiError::new(ErrorType::ResourceNotFound, message));
        }
        Ok(registry.credential_lifetime)
    }

    /// Every change is a single insert or store, so a poisoned lock is still consistent.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a misbehaviour switch does to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Close,
    Fail,
}

/// Decrements `counter` unless it is zero; tells whether it did.
fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// AWS's answers for what the registry refuses.
fn registry_refusal(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotRegistered | Refusal::NotAllowed => forbidden("Access Denied"),
        Refusal::Inactive => forbidden("Certificate is not active"),
        Refusal::NoRoleAlias(alias) => {
            let message = format!("Role alias {alias} does not exist");
            ApiError::new(ErrorType::ResourceNotFound, message)
        }
        other => {
            warn!(error = %other, "moto's registry could not be read");
            ApiError::new(ErrorType::InternalFailure, "Internal failure")
        }
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(ErrorType::Forbidden, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emulator() -> Emulator {
        Emulator::new(EmulatorConfig::default(), CredentialStore::new())
    }

    #[test]
    fn unregistered_and_inactive_certificates_are_forbidden() {
        let emulator = emulator();
        let denied = emulator
            .authorize(DEFAULT_ROLE_ALIAS, "unknown")
            .unwrap_err();
        assert_eq!(denied.kind, ErrorType::Forbidden);
        emulator.activate("c1");
        assert!(emulator.authorize(DEFAULT_ROLE_ALIAS, "c1").is_ok());
        emulator.revoke("c1");
        let denied = emulator.authorize(DEFAULT_ROLE_ALIAS, "c1").unwrap_err();
        assert_eq!(denied.kind, ErrorType::Forbidden);
        assert_eq!(emulator.status("c1"), Some(CertificateStatus::Inactive));
    }

    #[test]
    fn unknown_role_alias_is_not_found_for_an_active_certificate() {
        let emulator = emulator();
        emulator.activate("c1");
        let missing = emulator.authorize("other-alias", "c1").unwrap_err();
        assert_eq!(missing.kind, ErrorType::ResourceNotFound);
        emulator.add_role_alias("other-alias");
        assert!(emulator.authorize("other-alias", "c1").is_ok());
    }

    #[test]
    fn fault_switches_count_down_then_stop() {
        let emulator = emulator();
        emulator.close_next_requests(1);
        emulator.fail_next_requests(2);
        let seen: Vec<_> = (0..4).map(|_| emulator.begin_request()).collect();
        let expected = [
            Some(Fault::Close),
            Some(Fault::Fail),
            Some(Fault::Fail),
            None,
        ];
        assert_eq!(seen, expected);
        assert_eq!(emulator.requests_served(), 4);
    }

    #[test]
    fn lifetime_change_applies_to_later_credentials() {
        let emulator = emulator();
        emulator.activate("c1");
        emulator.set_credential_lifetime(Duration::from_secs(60));
        let lifetime = emulator.authorize(DEFAULT_ROLE_ALIAS, "c1").unwrap();
        assert_eq!(lifetime, Duration::from_secs(60));
    }
}
