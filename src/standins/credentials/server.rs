//! The emulator's HTTPS side: rustls with a required client certificate, then HTTP/1.1.

use std::io;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::api::{self, ApiError, ErrorType, THING_NAME_HEADER};
use super::{Emulator, Fault};
use crate::standins::pki::{self, IssuedCert};
use crate::standins::server::{self, ServerHandle};

/// The path's fixed parts: `/role-aliases/<alias>/credentials`.
const PATH_PREFIX: &str = "/role-aliases/";
const PATH_SUFFIX: &str = "/credentials";

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    #[error("the server certificate or key is not valid PEM: {0}")]
    Pem(#[source] rustls::pki_types::pem::Error),
    #[error("the client CA certificate is not usable as a trust anchor: {0}")]
    ClientCa(#[source] rustls::Error),
    #[error("could not build the client certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("rustls refused the TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    #[error("could not listen on 127.0.0.1: {0}")]
    Listen(#[source] io::Error),
}

impl Emulator {
    /// Serves the emulator on 127.0.0.1 (port chosen by the system) with `server` as its
    /// TLS identity, requiring a client certificate issued by the CA `client_ca_der`.
    pub async fn serve(
        &self,
        server: &IssuedCert,
        client_ca_der: &[u8],
    ) -> Result<ServerHandle, EmulatorError> {
        let any_client = self.accepts_any_client_certificate();
        let acceptor = TlsAcceptor::from(tls_config(server, client_ca_der, any_client)?);
        let listener = server::bind_loopback()
            .await
            .map_err(EmulatorError::Listen)?;
        let emulator = self.clone();
        let serve = move |tcp| serve_connection(emulator.clone(), acceptor.clone(), tcp);
        server::spawn_accept_loop(listener, serve).map_err(EmulatorError::Listen)
    }
}

/// TLS 1.2 and 1.3 with ring's suites, so RSA and EC client keys both work (Wine's Schannel
/// speaks TLS 1.2 only), and a client certificate from `client_ca_der` required.
fn tls_config(
    server: &IssuedCert,
    client_ca_der: &[u8],
    any_client: bool,
) -> Result<Arc<ServerConfig>, EmulatorError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ClientCertVerifier> = match any_client {
        true => Arc::new(AnyClientCertificate(provider.clone())),
        false => client_verifier(&provider, client_ca_der)?,
    };
    let chain = vec![CertificateDer::from(server.cert_der().to_vec())];
    let key_pem = server.key_pem().as_bytes();
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(EmulatorError::Pem)?;
    let versions = [&rustls::version::TLS12, &rustls::version::TLS13];
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(EmulatorError::Tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(EmulatorError::Tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Requires a client certificate that chains to the CA `client_ca_der`.
fn client_verifier(
    provider: &Arc<CryptoProvider>,
    client_ca_der: &[u8],
) -> Result<Arc<dyn ClientCertVerifier>, EmulatorError> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from(client_ca_der.to_vec());
    roots.add(ca).map_err(EmulatorError::ClientCa)?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(EmulatorError::Verifier)
}

/// Requires a client certificate and proof of its key, whoever issued it: AWS IoT accepts
/// any certificate registered with it, whatever its issuer, and so does the emulator when
/// moto's registry decides which certificates exist.
#[derive(Debug)]
struct AnyClientCertificate(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCertificate {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection: the TLS handshake (which rustls fails without a valid client
/// certificate), then HTTP/1.1 requests answered for the certificate that authenticated.
async fn serve_connection(emulator: Emulator, acceptor: TlsAcceptor, tcp: TcpStream) {
    let tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(error) => {
            debug!(%error, "TLS handshake failed");
            return;
        }
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let Some(peer) = peer else {
        debug!("no client certificate after the handshake");
        return;
    };
    let certificate_id: Arc<str> = pki::certificate_id(peer).into();
    let certificate_der: Arc<[u8]> = peer.as_ref().into();
    let service = service_fn(move |request| {
        let client = (certificate_id.clone(), certificate_der.clone());
        answer(emulator.clone(), client, request)
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    if let Err(error) = connection.await {
        debug!(%error, "connection ended");
    }
}

/// Returned to hyper to make it drop the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection closed on purpose by a fault switch")]
struct ClosedOnPurpose;

async fn answer(
    emulator: Emulator,
    (certificate_id, certificate_der): (Arc<str>, Arc<[u8]>),
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ClosedOnPurpose> {
    match emulator.begin_request() {
        Some(Fault::Close) => return Err(ClosedOnPurpose),
        Some(Fault::Fail) => {
            let error = ApiError::new(ErrorType::InternalFailure, "Internal failure");
            return Ok(error.into_response());
        }
        None => {}
    }
    let alias = match role_alias(&request) {
        Ok(alias) => alias,
        Err(error) => return Ok(error.into_response()),
    };
    // Limitation: the thing name is logged but not checked against attached things (the
    // emulator keeps no things), so a request naming any thing is served.
    let thing = request.headers().get(THING_NAME_HEADER);
    debug!(alias, ?thing, %certificate_id, "credentials requested");
    let issued = emulator.credentials_for(alias, &certificate_id, &certificate_der);
    match issued.await {
        Ok(credentials) => Ok(api::credentials_response(&credentials)),
        Err(error) => Ok(error.into_response()),
    }
}

/// The role alias named by `GET /role-aliases/<alias>/credentials`.
fn role_alias<B>(request: &Request<B>) -> Result<&str, ApiError> {
    let path = request.uri().path();
    let alias = path
        .strip_prefix(PATH_PREFIX)
        .and_then(|rest| rest.strip_suffix(PATH_SUFFIX))
        .ok_or_else(|| ApiError::new(ErrorType::ResourceNotFound, "Not found"))?;
    if request.method() != Method::GET {
        let message = format!("Method {} is not allowed", request.method());
        return Err(ApiError::new(ErrorType::InvalidRequest, message));
    }
    if !api::is_valid_role_alias(alias) {
        let message = "Role alias must match [\\w=,@-]+ and be 1 to 128 characters long";
        return Err(ApiError::new(ErrorType::InvalidRequest, message));
    }
    Ok(alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request<()> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
    }

    #[test]
    fn role_alias_is_taken_from_awss_path() {
        let get = request(Method::GET, "/role-aliases/certdrop-receiver/credentials");
        assert_eq!(role_alias(&get), Ok("certdrop-receiver"));
    }

    #[test]
    fn other_paths_methods_and_aliases_are_refused_with_awss_types() {
        let kind = |r: Request<()>| role_alias(&r).unwrap_err().kind;
        let other_path = request(Method::GET, "/role-aliases/x");
        assert_eq!(kind(other_path), ErrorType::ResourceNotFound);
        let post = request(Method::POST, "/role-aliases/x/credentials");
        assert_eq!(kind(post), ErrorType::InvalidRequest);
        let bad_alias = request(Method::GET, "/role-aliases/a%2Fb/credentials");
        assert_eq!(kind(bad_alias), ErrorType::InvalidRequest);
    }
}
