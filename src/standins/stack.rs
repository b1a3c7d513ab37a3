//! Both stand-ins behind one synchronous handle: a CA, the credentials emulator and the S3
//! stand-in, served by a tokio runtime on a thread of their own until the handle is dropped.

use std::env;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::sync::oneshot;

use super::credentials::{
    CredentialStore, Emulator, EmulatorConfig, EmulatorError, Issuing, DEFAULT_CREDENTIAL_LIFETIME,
    DEFAULT_ROLE_ALIAS,
};
use super::moto::{MotoError, MotoIssuer, MotoIssuerConfig, MotoRegistry};
use super::pki::{Crl, IssuedCert, PkiError, TestCa};
use super::random;
use super::s3::{self, AdminKey, DiskBucket, S3StandinConfig, S3StandinError};
use crate::sigv4;

/// Worker threads of the stand-ins' runtime: enough for parallel ranged GETs on 2 cores.
const WORKER_THREADS: usize = 2;
/// How long dropping the stack waits for file reads still running on blocking threads.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the stack could not start or reach an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    #[error("test CA: {0}")]
    Pki(#[from] PkiError),
    #[error("credentials emulator: {0}")]
    Emulator(#[from] EmulatorError),
    #[error("S3 stand-in: {0}")]
    S3(#[from] S3StandinError),
    #[error("{0}")]
    Moto(#[from] MotoError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not start the stand-ins' runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("the stand-ins' thread ended before it reported its servers")]
    ThreadEnded,
}

/// What the stack serves.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub region: String,
    pub bucket: String,
    pub role_alias: String,
    pub credential_lifetime: Duration,
    /// Names and addresses the emulator's server certificate is valid for.
    pub server_hosts: Vec<String>,
    /// The server certificate's CRL distribution point, such as the `file://` URL where a
    /// Wine test writes [`Stack::crl`].
    pub crl_url: Option<String>,
    /// The server's key (PKCS#8 PEM); a fresh EC P-256 key when `None`.
    pub server_key_pem: Option<String>,
    /// Where s3s-fs keeps the buckets; a temporary folder, removed on drop, when `None`.
    pub data_dir: Option<PathBuf>,
    /// Issue credentials through moto instead of locally.
    pub moto: Option<MotoIssuerConfig>,
    /// With `moto`: take the certificates, their status and policies and the role alias from
    /// moto's IoT registry (what `certdrop send` creates there) instead of this stack's CA.
    pub moto_registry: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            region: "us-east-1".to_owned(),
            bucket: "certdrop-test".to_owned(),
            role_alias: DEFAULT_ROLE_ALIAS.to_owned(),
            credential_lifetime: DEFAULT_CREDENTIAL_LIFETIME,
            server_hosts: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            crl_url: None,
            server_key_pem: None,
            data_dir: None,
            moto: None,
            moto_registry: false,
        }
    }
}

/// The running stand-ins. Dropping it stops both servers and removes its temporary folder.
#[derive(Debug)]
pub struct Stack {
    ca: TestCa,
    crl: Crl,
    emulator: Emulator,
    admin: AdminKey,
    disk: DiskBucket,
    data_dir: PathBuf,
    region: String,
    bucket: String,
    role_alias: String,
    credentials_addr: SocketAddr,
    s3_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Declared last: removed after the servers have stopped.
    _scratch: Option<ScratchDir>,
}

/// What the servers' thread needs and reports.
struct Servers {
    emulator: Emulator,
    server_cert: IssuedCert,
    client_ca_der: Vec<u8>,
    s3: S3StandinConfig,
}

type Started = Result<(SocketAddr, SocketAddr), StackError>;

impl Stack {
    /// Makes the CA and the server certificate, then starts both servers.
    pub fn start(config: StackConfig) -> Result<Stack, StackError> {
        // The PKI, on this thread: issuing never waits on the network.
        let ca = TestCa::new("certdrop stand-in CA")?;
        let server_cert = server_certificate(&ca, &config)?;
        let crl = ca.empty_crl()?;

        // The bucket folder and the shared state.
        let (data_dir, scratch) = data_folder(config.data_dir)?;
        let disk = DiskBucket::new(&data_dir, &config.bucket);
        disk.create()?;
        let store = CredentialStore::new();
        let admin = AdminKey::generate();
        let emulator_config = EmulatorConfig {
            role_aliases: vec![config.role_alias.clone()],
            credential_lifetime: config.credential_lifetime,
            issuing: issuing(config.moto, config.moto_registry)?,
        };
        let emulator = Emulator::new(emulator_config, store.clone());

        // The servers, on their own runtime and thread.
        let servers = Servers {
            emulator: emulator.clone(),
            server_cert,
            client_ca_der: ca.cert_der().to_vec(),
            s3: S3StandinConfig {
                root: data_dir.clone(),
                bucket: config.bucket.clone(),
                admin: admin.clone(),
                store,
            },
        };
        let running = spawn_servers(servers)?;

        Ok(Stack {
            ca,
            crl,
            emulator,
            admin,
            disk,
            data_dir,
            region: config.region,
            bucket: config.bucket,
            role_alias: config.role_alias,
            credentials_addr: running.credentials_addr,
            s3_addr: running.s3_addr,
            shutdown: Some(running.shutdown),
            thread: Some(running.thread),
            _scratch: scratch,
        })
    }

    /// `https://127.0.0.1:PORT`, the emulator's base URL.
    pub fn credentials_endpoint(&self) -> String {
        format!("https://{}", self.credentials_addr)
    }

    /// The full URL of this stack's role alias: `.../role-aliases/<alias>/credentials`.
    pub fn credentials_url(&self) -> String {
        let base = self.credentials_endpoint();
        format!("{base}/role-aliases/{}/credentials", self.role_alias)
    }

    /// `http://127.0.0.1:PORT`, the S3 stand-in (path-style).
    pub fn s3_endpoint(&self) -> String {
        format!("http://{}", self.s3_addr)
    }

    pub fn credentials_port(&self) -> u16 {
        self.credentials_addr.port()
    }

    pub fn s3_port(&self) -> u16 {
        self.s3_addr.port()
    }

    /// The CA that issued the server certificate and issues client certificates.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// An empty CRL signed by the CA, to write where [`StackConfig::crl_url`] points.
    pub fn crl(&self) -> &Crl {
        &self.crl
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn role_alias(&self) -> &str {
        &self.role_alias
    }

    /// The folder where s3s-fs keeps the buckets.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Keys with full access to the S3 stand-in (the sender's side).
    pub fn admin_credentials(&self) -> sigv4::Credentials {
        self.admin.to_signing_credentials()
    }

    /// The administrator's key, for an S3 client of another kind (the AWS SDK's).
    pub fn admin_key(&self) -> &AdminKey {
        &self.admin
    }

    /// A client certificate with a fresh EC key, registered ACTIVE.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert, StackError> {
        let issued = self.ca.issue_client(common_name)?;
        self.emulator.activate(&issued.certificate_id());
        Ok(issued)
    }

    /// A client certificate for the caller's PKCS#8 PEM key (RSA for Wine), registered
    /// ACTIVE.
    pub fn issue_client_for_key(
        &self,
        common_name: &str,
        key_pem: &str,
    ) -> Result<IssuedCert, StackError> {
        let issued = self.ca.issue_client_for_key(common_name, key_pem)?;
        self.emulator.activate(&issued.certificate_id());
        Ok(issued)
    }

    pub fn activate(&self, certificate_id: &str) {
        self.emulator.activate(certificate_id);
    }

    /// Sets the certificate INACTIVE: no new credentials for it.
    pub fn revoke(&self, certificate_id: &str) {
        self.emulator.revoke(certificate_id);
    }

    /// Puts an object into the bucket directly on disk, as the admin would.
    pub fn put_object(&self, key: &str, bytes: &[u8]) -> Result<(), StackError> {
        Ok(self.disk.put(key, bytes)?)
    }

    /// The object's bytes, `None` when there is none.
    pub fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>, StackError> {
        Ok(self.disk.get(key)?)
    }

    /// The bucket's keys that start with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, StackError> {
        Ok(self.disk.list(prefix)?)
    }

    /// Closes the connection without an answer for the emulator's next `count` requests.
    pub fn close_next_requests(&self, count: u32) {
        self.emulator.close_next_requests(count);
    }

    /// Answers 500 InternalFailureException to the emulator's next `count` requests.
    pub fn fail_next_requests(&self, count: u32) {
        self.emulator.fail_next_requests(count);
    }

    /// Requests that reached the emulator so far.
    pub fn requests_served(&self) -> u64 {
        self.emulator.requests_served()
    }

    /// Changes how long credentials issued from now on live.
    pub fn set_credential_lifetime(&self, lifetime: Duration) {
        self.emulator.set_credential_lifetime(lifetime);
    }

    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Every credential the emulator issued.
    pub fn store(&self) -> &CredentialStore {
        self.emulator.store()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The emulator's TLS certificate, for the configured hosts, CRL point and key.
fn server_certificate(ca: &TestCa, config: &StackConfig) -> Result<IssuedCert, PkiError> {
    let hosts: Vec<&str> = config.server_hosts.iter().map(String::as_str).collect();
    let crl_url = config.crl_url.as_deref();
    match &config.server_key_pem {
        Some(key) => ca.issue_server_for_key(&hosts, crl_url, key),
        None => ca.issue_server(&hosts, crl_url),
    }
}

/// The folder given, created if need be, or a new scratch folder that goes away on drop.
fn data_folder(given: Option<PathBuf>) -> Result<(PathBuf, Option<ScratchDir>), StackError> {
    match given {
        Some(dir) => {
            fs::create_dir_all(&dir).map_err(|source| io_error(&dir, source))?;
            Ok((dir, None))
        }
        None => {
            let scratch = ScratchDir::create()?;
            Ok((scratch.0.clone(), Some(scratch)))
        }
    }
}

fn issuing(moto: Option<MotoIssuerConfig>, registry: bool) -> Result<Issuing, MotoError> {
    Ok(match moto {
        Some(moto) if registry => {
            let lookup = MotoRegistry::new(&moto.endpoint, moto.admin.clone())?;
            Issuing::MotoRegistry(Box::new(MotoIssuer::new(moto)?), Box::new(lookup))
        }
        Some(moto) => Issuing::Moto(Box::new(MotoIssuer::new(moto)?)),
        None => Issuing::Local,
    })
}

/// The servers' thread, once both servers listen.
struct Running {
    shutdown: oneshot::Sender<()>,
    thread: JoinHandle<()>,
    credentials_addr: SocketAddr,
    s3_addr: SocketAddr,
}

/// Starts the runtime thread and waits until both servers listen.
fn spawn_servers(servers: Servers) -> Result<Running, StackError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("certdrop-standins")
        .enable_all()
        .build()
        .map_err(StackError::Runtime)?;
    let (shutdown, shutdown_rx) = oneshot::channel();
    let (report, started) = mpsc::channel::<Started>();
    let thread = thread::Builder::new()
        .name("certdrop-standins".to_owned())
        .spawn(move || {
            runtime.block_on(run_servers(servers, report, shutdown_rx));
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
        .map_err(StackError::Runtime)?;
    match started.recv() {
        Ok(Ok((credentials_addr, s3_addr))) => Ok(Running {
            shutdown,
            thread,
            credentials_addr,
            s3_addr,
        }),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(mpsc::RecvError) => {
            let _ = thread.join();
            Err(StackError::ThreadEnded)
        }
    }
}

/// Runs both servers until `shutdown` fires (or its sender is dropped).
async fn run_servers(
    servers: Servers,
    report: mpsc::Sender<Started>,
    shutdown: oneshot::Receiver<()>,
) {
    let emulator = servers
        .emulator
        .serve(&servers.server_cert, &servers.client_ca_der)
        .await;
    let s3 = s3::serve(&servers.s3).await;
    let (emulator, s3) = match (emulator, s3) {
        (Ok(emulator), Ok(s3)) => (emulator, s3),
        (Err(error), _) => {
            let _ = report.send(Err(error.into()));
            return;
        }
        (_, Err(error)) => {
            let _ = report.send(Err(error.into()));
            return;
        }
    };
    if report.send(Ok((emulator.addr(), s3.addr()))).is_err() {
        return;
    }
    let _ = shutdown.await;
    drop((emulator, s3));
}

/// A folder under the system's temporary folder, removed with everything in it on drop.
#[derive(Debug)]
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<Self, StackError> {
        let path = env::temp_dir().join(format!("certdrop-standins-{}", random::hex_id()));
        fs::create_dir(&path).map_err(|source| io_error(&path, source))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn io_error(path: &Path, source: io::Error) -> StackError {
    StackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_running_stack_shows_no_secret() {
        let stack = Stack::start(StackConfig::default()).unwrap();
        let identity = stack.issue_client("recipient").unwrap();
        let shown = format!("{stack:?}");
        assert!(!shown.contains(stack.admin.secret_access_key()), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(!format!("{identity:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn given_data_folder_is_used_and_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("buckets");
        let config = StackConfig {
            data_dir: Some(dir.clone()),
            ..StackConfig::default()
        };
        let stack = Stack::start(config).unwrap();
        stack.put_object("transfers/x/a.bin", b"a").unwrap();
        drop(stack);
        assert!(dir.join("certdrop-test/transfers/x/a.bin").is_file());
    }
}
