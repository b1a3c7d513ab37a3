//! The S3 stand-in: s3s-fs (objects as files under a folder) served over plain HTTP on
//! 127.0.0.1, path-style (`http://127.0.0.1:PORT/<bucket>/<key>`).
//!
//! s3s checks every SigV4 signature against the secret [`auth`] gives for the access key:
//! one admin key with full access (the sender's side and test setup), and every temporary
//! key in the [`CredentialStore`] until it expires. [`access`] then allows temporary keys
//! exactly what the shared receiver role allows: reading `transfers/<certificate id>/` and
//! writing `receipts/<certificate id>/` in the one bucket.

mod access;
mod auth;
mod disk;

use std::fmt;
use std::io;
use std::path::PathBuf;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpStream;
use tracing::debug;
use zeroize::Zeroizing;

pub use access::receiver_may;
pub use disk::DiskBucket;

use super::credentials::CredentialStore;
use super::random::{self, BASE64, UPPER_ALNUM};
use super::server::{self, ServerHandle};
use crate::secret::REDACTED;
use crate::sigv4;

/// Why the S3 stand-in could not start or reach an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3StandinError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("s3s-fs cannot serve {path}: {message}")]
    FileSystem { path: PathBuf, message: String },
    #[error(
        "object key {0:?} cannot be stored as a file: use `/`-separated names without \
         empty, `.` or `..` parts"
    )]
    InvalidKey(String),
    #[error("could not listen on 127.0.0.1: {0}")]
    Listen(#[source] io::Error),
}

/// The long-term key of the stand-in's administrator. `Debug` hides the secret.
#[derive(Clone)]
pub struct AdminKey {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
}

impl AdminKey {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        AdminKey {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
        }
    }

    /// A random key shaped like an IAM user's (`AKIA...`).
    pub fn generate() -> Self {
        let id = format!("AKIA{}", random::text(UPPER_ALNUM, 16));
        AdminKey::new(id, random::text(BASE64, 40))
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn to_signing_credentials(&self) -> sigv4::Credentials {
        let secret = self.secret_access_key.as_str();
        sigv4::Credentials::new(self.access_key_id.clone(), secret)
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &format_args!("{REDACTED}"))
            .finish()
    }
}

/// What the S3 stand-in serves and whom it trusts.
#[derive(Clone, Debug)]
pub struct S3StandinConfig {
    /// The folder s3s-fs keeps buckets in (one sub-folder per bucket). It must exist.
    pub root: PathBuf,
    /// The one bucket temporary credentials may reach.
    pub bucket: String,
    pub admin: AdminKey,
    pub store: CredentialStore,
}

/// The s3s service with the stand-in's authentication and access rules.
pub fn service(config: &S3StandinConfig) -> Result<S3Service, S3StandinError> {
    let root = &config.root;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| S3StandinError::FileSystem {
        path: root.clone(),
        message: format!("{e:?}"),
    })?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(auth::StandinAuth::new(&config.admin, &config.store));
    builder.set_access(access::ReceiverPolicy::new(config));
    Ok(builder.build())
}

/// Serves [`service`] over HTTP/1.1 on 127.0.0.1, on a port the system chooses.
pub async fn serve(config: &S3StandinConfig) -> Result<ServerHandle, S3StandinError> {
    let service = service(config)?;
    let listener = server::bind_loopback()
        .await
        .map_err(S3StandinError::Listen)?;
    let serve = move |tcp| serve_connection(service.clone(), tcp);
    server::spawn_accept_loop(listener, serve).map_err(S3StandinError::Listen)
}

async fn serve_connection(service: S3Service, tcp: TcpStream) {
    let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
    if let Err(error) = connection.await {
        debug!(%error, "S3 connection ended");
    }
}
