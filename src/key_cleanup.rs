//! Loading the enveloped identity into the operating system's TLS stack, and making sure the
//! transfer's private key does not outlive the program.
//!
//! On Linux, OpenSSL keeps the key in this process's memory only. On Windows, Schannel needs
//! the key in a key container (CryptoAPI or CNG), which persists in the user's profile unless
//! deleted. native-tls does not say which container its PKCS#12 import created, so the
//! Windows side lists the containers before and after the import and keeps the new ones that
//! hold the certificate's key. They are deleted:
//!
//! - when the [`KeyCleanup`] guard drops (success or error, including Ctrl+C, which the
//!   receiver turns into an orderly exit);
//! - from the console's control handler, when the window is closed, the user logs off or
//!   Windows shuts down (the process ends right after the handler returns, so nothing is
//!   dropped then); the handler is installed by the first import;
//! - at the next start, by [`remove_leftovers`], when the process was killed: the names are
//!   written to a record under `%LOCALAPPDATA%\certdrop\` before the key is used, and that
//!   record is removed once its containers are gone.

#[cfg(any(windows, test))]
mod record;
#[cfg(windows)]
#[allow(unsafe_code)]
mod windows;

use crate::envelope::Payload;

/// A key container (or CNG key) the import created, by its name.
#[cfg(any(windows, test))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Container {
    /// A CryptoAPI container of the RSA providers (`%APPDATA%\Microsoft\Crypto\RSA\<SID>`).
    Legacy(String),
    /// A key of the Microsoft Software Key Storage Provider (`...\Microsoft\Crypto\Keys`).
    Cng(String),
}

/// Deletes, when dropped, the key containers that importing the identity created.
#[derive(Debug, Default)]
pub struct KeyCleanup {
    #[cfg(windows)]
    _guard: Option<windows::Guard>,
}

/// The identity for native-tls, and the guard that removes its key from the system.
pub fn import_identity(payload: &Payload) -> Result<(native_tls::Identity, KeyCleanup), String> {
    #[cfg(windows)]
    {
        let (identity, guard) = windows::import(payload)?;
        let cleanup = KeyCleanup {
            _guard: Some(guard),
        };
        Ok((identity, cleanup))
    }
    #[cfg(not(windows))]
    {
        let identity = native_tls::Identity::from_pkcs12(
            payload.pkcs12.expose(),
            payload.pkcs12_password.expose(),
        )
        .map_err(|e| e.to_string())?;
        Ok((identity, KeyCleanup::default()))
    }
}

/// Deletes the key containers that an earlier run recorded and could not delete because it
/// was killed (Task Manager, a crash, power loss). Runs that are still alive keep theirs.
/// Call it once at the start of the program; it returns how many containers it deleted.
/// Does nothing outside Windows.
pub fn remove_leftovers() -> usize {
    #[cfg(windows)]
    return windows::remove_leftovers();
    #[cfg(not(windows))]
    0
}

/// Deletes, right now and from any thread, the key containers of every live [`KeyCleanup`].
/// The console control handler calls it; a program with a handler of its own may too. The
/// guards stay valid: dropping them later finds nothing left to delete.
pub fn delete_keys_now() {
    #[cfg(windows)]
    windows::delete_live_keys();
}
