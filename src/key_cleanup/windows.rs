//! The Windows side: finding the key containers that native-tls's PKCS#12 import created,
//! and deleting them.
//!
//! `PFXImportCertStore` (which native-tls calls without `PKCS12_NO_PERSIST_KEY`) persists an
//! RSA key in a CryptoAPI container of the RSA providers, and other keys, or keys whose
//! PKCS#12 names a key storage provider, in the Microsoft Software Key Storage Provider. Both
//! stores are listed before and after the import; of the new entries, those holding the public
//! key of a certificate in the PKCS#12 are this run's (a container another program creates at
//! the same moment is left alone, unless its key cannot be read).

use std::ffi::c_void;
use std::path::PathBuf;
use std::ptr;
use std::sync::{Mutex, Once, PoisonError};

use windows_sys::core::{BOOL, HRESULT, PCWSTR, PWSTR};
use windows_sys::Win32::Foundation::{GetLastError, NTE_BAD_KEYSET, WIN32_ERROR};
use windows_sys::Win32::Security::Cryptography::{
    CertCloseStore, CertComparePublicKeyInfo, CertEnumCertificatesInStore,
    CertFreeCertificateContext, CryptAcquireContextW, CryptExportPublicKeyInfo, CryptGetProvParam,
    CryptReleaseContext, NCryptDeleteKey, NCryptEnumKeys, NCryptFreeBuffer, NCryptFreeObject,
    NCryptKeyName, NCryptOpenKey, NCryptOpenStorageProvider, PFXImportCertStore, AT_KEYEXCHANGE,
    AT_SIGNATURE, CERT_PUBLIC_KEY_INFO, CRYPT_DELETEKEYSET, CRYPT_FIRST, CRYPT_INTEGER_BLOB,
    CRYPT_SILENT, CRYPT_VERIFYCONTEXT, HCERTSTORE, MS_ENHANCED_PROV_W, MS_KEY_STORAGE_PROVIDER,
    NCRYPT_SILENT_FLAG, PKCS12_NO_PERSIST_KEY, PP_ENUMCONTAINERS, PROV_RSA_FULL, X509_ASN_ENCODING,
};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use zeroize::Zeroizing;

use super::record::{self, Record};
use super::Container;
use crate::envelope::Payload;

/// The containers of every live [`Guard`], for the console control handler.
static LIVE: Mutex<Vec<Container>> = Mutex::new(Vec::new());

/// Deletes its containers when dropped, then removes their record.
#[derive(Debug)]
pub struct Guard {
    containers: Vec<Container>,
    record: Option<Record>,
}

impl Guard {
    /// Records `containers` on disk and among the live ones, before the key is used.
    fn new(containers: Vec<Container>) -> Guard {
        let record = if containers.is_empty() {
            None
        } else {
            create_record(&containers)
        };
        live().extend(containers.iter().cloned());
        Guard { containers, record }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut live = live();
        for container in &self.containers {
            if let Some(at) = live.iter().position(|c| c == container) {
                live.swap_remove(at);
            }
        }
        drop(live);
        let failures = self
            .containers
            .iter()
            .filter(|c| delete(c).is_err())
            .count();
        // A record whose containers could not all be deleted stays for the next run.
        if failures == 0 {
            if let Some(record) = self.record.take() {
                let _ = record.remove();
            }
        }
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<Container>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

// Limitation: the record is written after the import, because only then are the names known,
// so a process killed in the few milliseconds between the two leaves a container that no later
// run knows about.
fn create_record(containers: &[Container]) -> Option<Record> {
    let dir = record_dir()?;
    match Record::create(&dir, containers) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(%error, dir = %dir.display(), "could not record the key containers");
            None
        }
    }
}

/// `%LOCALAPPDATA%\certdrop`.
fn record_dir() -> Option<PathBuf> {
    dirs::data_local_dir().map(|dir| dir.join("certdrop"))
}

/// native-tls's import, and a guard for the containers it created (also when it failed).
// Limitation: only new containers are found, so a key imported into a container that existed
// before is not deleted. Windows gives every imported key a container of its own; Wine puts
// every key into the user's default container, so under Wine a default container left from
// before the run keeps the transfer's key afterwards.
pub fn import(payload: &Payload) -> Result<(native_tls::Identity, Guard), String> {
    install_console_handler();
    let before = inventory();
    let imported = native_tls::Identity::from_pkcs12(
        payload.pkcs12.expose(),
        payload.pkcs12_password.expose(),
    )
    .map_err(|e| e.to_string());
    let created: Vec<Container> = inventory()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    let guard = Guard::new(holding_the_key(created, payload));
    tracing::debug!(containers = ?guard.containers, "imported the transfer's key");
    Ok((imported?, guard))
}

/// Every container of the RSA providers and every key of the software key storage provider.
fn inventory() -> Vec<Container> {
    let legacy = legacy_containers().into_iter().map(Container::Legacy);
    let cng = cng_keys().into_iter().map(Container::Cng);
    legacy.chain(cng).collect()
}

/// The new containers that hold a key of the PKCS#12's certificates. When that cannot be
/// checked, every new container counts as this run's: the key must not stay behind.
fn holding_the_key(created: Vec<Container>, payload: &Payload) -> Vec<Container> {
    if created.is_empty() {
        return created;
    }
    let Some(certificates) = Certificates::import(payload) else {
        tracing::debug!("the certificates could not be read again; trusting the listing");
        return created;
    };
    created
        .into_iter()
        .filter(|c| public_key(c).is_none_or(|key| certificates.include(key.info())))
        .collect()
}

/// Deletes the containers of every live guard; the console handler's work.
pub fn delete_live_keys() {
    let live = live();
    for container in live.iter() {
        let _ = delete(container);
    }
}

/// Deletes what killed runs recorded; returns how many containers were still there.
pub fn remove_leftovers() -> usize {
    let Some(dir) = record_dir() else {
        return 0;
    };
    let mut deleted = 0;
    for leftover in record::leftovers(&dir) {
        let results: Vec<_> = leftover.containers.iter().map(delete).collect();
        deleted += results.iter().filter(|r| **r == Ok(Deleted::Now)).count();
        if results.iter().all(Result::is_ok) {
            let _ = leftover.record.remove();
        }
    }
    if deleted > 0 {
        tracing::debug!(deleted, "deleted key containers left by an earlier run");
    }
    deleted
}

fn install_console_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: the routine has the signature the call expects and lives as long as the
        // program; installing a handler has no other precondition.
        let installed = unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) };
        if installed == 0 {
            tracing::debug!("no console control handler: {}", last_error());
        }
    });
}

/// Ctrl+C, Ctrl+Break, the window closed, logoff, shutdown: Windows calls the handlers on a
/// thread of its own, newest first, and for the last three ends the process soon after they
/// return. While the receiver listens for Ctrl+C, tokio's handler (installed later) takes that
/// event and the receiver ends in order, dropping the guard; every other event reaches this
/// handler, which deletes the keys and returns FALSE so that the default handler ends the
/// process as before.
unsafe extern "system" fn on_console_event(_event: u32) -> BOOL {
    delete_live_keys();
    0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deleted {
    Now,
    AlreadyGone,
}

/// Deletes one container; one that no longer exists counts as deleted.
fn delete(container: &Container) -> Result<Deleted, HRESULT> {
    let result = match container {
        Container::Legacy(name) => delete_legacy(name),
        Container::Cng(name) => delete_cng(name),
    };
    match result {
        Ok(deleted) => tracing::debug!(?container, ?deleted, "deleted the key container"),
        Err(code) => tracing::warn!(?container, code, "could not delete the key container"),
    }
    result
}

fn delete_legacy(name: &str) -> Result<Deleted, HRESULT> {
    let name = wide(name);
    let mut provider = 0;
    let flags = CRYPT_DELETEKEYSET | CRYPT_SILENT;
    // SAFETY: both strings are NUL-terminated UTF-16 that outlive the call; with
    // CRYPT_DELETEKEYSET no handle is returned, so there is nothing to release.
    let done = unsafe {
        CryptAcquireContextW(
            &mut provider,
            name.as_ptr(),
            MS_ENHANCED_PROV_W,
            PROV_RSA_FULL,
            flags,
        )
    };
    match last_error_unless(done) {
        Ok(()) => Ok(Deleted::Now),
        Err(NTE_BAD_KEYSET) => Ok(Deleted::AlreadyGone),
        Err(code) => Err(code),
    }
}

fn delete_cng(name: &str) -> Result<Deleted, HRESULT> {
    let storage = KeyStorage::open()?;
    let key = match storage.open_key(name) {
        Ok(key) => key,
        Err(NTE_BAD_KEYSET) => return Ok(Deleted::AlreadyGone),
        Err(code) => return Err(code),
    };
    // SAFETY: `key` is an open key handle; NCryptDeleteKey frees it when it succeeds.
    let status = unsafe { NCryptDeleteKey(key, NCRYPT_SILENT_FLAG) };
    if status != 0 {
        // SAFETY: the handle is still open when the deletion failed, and not used again.
        unsafe { NCryptFreeObject(key) };
        return Err(status);
    }
    Ok(Deleted::Now)
}

/// The names of the containers of the RSA providers (they share one store per user).
fn legacy_containers() -> Vec<String> {
    let Some(provider) = LegacyProvider::verify_context() else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut buffer = vec![0u8; provider.longest_container_name()];
    let mut flags = CRYPT_FIRST;
    loop {
        let mut len = buffer.len() as u32;
        // SAFETY: `buffer` holds `len` writable bytes, as the call is told.
        let found = unsafe {
            CryptGetProvParam(
                provider.0,
                PP_ENUMCONTAINERS,
                buffer.as_mut_ptr(),
                &mut len,
                flags,
            )
        };
        if found == 0 {
            break;
        }
        flags = 0;
        let name = buffer[..len as usize]
            .split(|b| *b == 0)
            .next()
            .unwrap_or(&[]);
        // The names come in the ANSI code page, which the receiver's manifest makes UTF-8.
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    names
}

/// A handle to the Enhanced RSA provider, released on drop.
struct LegacyProvider(usize);

impl LegacyProvider {
    fn verify_context() -> Option<Self> {
        Self::acquire(ptr::null(), CRYPT_VERIFYCONTEXT | CRYPT_SILENT)
    }

    fn open(name: &str) -> Option<Self> {
        Self::acquire(wide(name).as_ptr(), CRYPT_SILENT)
    }

    fn acquire(container: PCWSTR, flags: u32) -> Option<Self> {
        let mut handle = 0;
        // SAFETY: `container` is null or a NUL-terminated UTF-16 string that the caller keeps
        // alive during the call; the handle written is owned by the returned value.
        let done = unsafe {
            CryptAcquireContextW(
                &mut handle,
                container,
                MS_ENHANCED_PROV_W,
                PROV_RSA_FULL,
                flags,
            )
        };
        (done != 0).then_some(LegacyProvider(handle))
    }

    /// The buffer size PP_ENUMCONTAINERS needs (the call reports it for a null buffer).
    fn longest_container_name(&self) -> usize {
        let mut len = 0u32;
        // SAFETY: a null buffer asks only for the size, written to `len`.
        let done = unsafe {
            CryptGetProvParam(
                self.0,
                PP_ENUMCONTAINERS,
                ptr::null_mut(),
                &mut len,
                CRYPT_FIRST,
            )
        };
        if done == 0 || len == 0 {
            return 1024;
        }
        len as usize
    }
}

impl Drop for LegacyProvider {
    fn drop(&mut self) {
        // SAFETY: the handle came from CryptAcquireContextW and is released once.
        unsafe { CryptReleaseContext(self.0, 0) };
    }
}

/// The names of the keys of the Microsoft Software Key Storage Provider. Empty when the
/// provider cannot list them (Wine's does not).
fn cng_keys() -> Vec<String> {
    let Ok(storage) = KeyStorage::open() else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut state: *mut c_void = ptr::null_mut();
    loop {
        let mut item: *mut NCryptKeyName = ptr::null_mut();
        // SAFETY: `item` and `state` are out-pointers the provider fills; `state` carries the
        // enumeration from one call to the next, as documented.
        let status = unsafe {
            NCryptEnumKeys(
                storage.0,
                ptr::null(),
                &mut item,
                &mut state,
                NCRYPT_SILENT_FLAG,
            )
        };
        if status != 0 || item.is_null() {
            break;
        }
        // SAFETY: on success `item` points to a key name the provider allocated, read here and
        // then freed once.
        unsafe {
            names.push(from_wide((*item).pszName));
            NCryptFreeBuffer(item.cast());
        }
    }
    if !state.is_null() {
        // SAFETY: the enumeration state was allocated by the provider and is freed once.
        unsafe { NCryptFreeBuffer(state) };
    }
    names
}

/// The Microsoft Software Key Storage Provider, freed on drop.
struct KeyStorage(usize);

impl KeyStorage {
    fn open() -> Result<Self, HRESULT> {
        let mut handle = 0;
        // SAFETY: the provider name is a static NUL-terminated string; the handle written is
        // owned by the returned value.
        let status = unsafe { NCryptOpenStorageProvider(&mut handle, MS_KEY_STORAGE_PROVIDER, 0) };
        if status != 0 {
            return Err(status);
        }
        Ok(KeyStorage(handle))
    }

    /// An open key handle; the caller frees it (or deletes the key).
    fn open_key(&self, name: &str) -> Result<usize, HRESULT> {
        let name = wide(name);
        let mut key = 0;
        // SAFETY: `name` is NUL-terminated UTF-16 that outlives the call; the handle written
        // is handed to the caller.
        let status =
            unsafe { NCryptOpenKey(self.0, &mut key, name.as_ptr(), 0, NCRYPT_SILENT_FLAG) };
        if status != 0 {
            return Err(status);
        }
        Ok(key)
    }
}

impl Drop for KeyStorage {
    fn drop(&mut self) {
        // SAFETY: the handle came from NCryptOpenStorageProvider and is freed once.
        unsafe { NCryptFreeObject(self.0) };
    }
}

/// A container's public key as a `CERT_PUBLIC_KEY_INFO`; `None` when it cannot be read.
fn public_key(container: &Container) -> Option<PublicKey> {
    match container {
        Container::Legacy(name) => {
            let provider = LegacyProvider::open(name)?;
            let specs = [AT_KEYEXCHANGE, AT_SIGNATURE];
            specs
                .iter()
                .find_map(|spec| PublicKey::export(provider.0, *spec))
        }
        Container::Cng(name) => {
            let storage = KeyStorage::open().ok()?;
            let key = storage.open_key(name).ok()?;
            // The key spec is ignored for a CNG key handle.
            let exported = PublicKey::export(key, 0);
            // SAFETY: `key` is an open key handle that is not used again.
            unsafe { NCryptFreeObject(key) };
            exported
        }
    }
}

/// A `CERT_PUBLIC_KEY_INFO` and the bytes it points into, in one 8-byte-aligned buffer.
struct PublicKey(Vec<u64>);

impl PublicKey {
    fn export(handle: usize, spec: u32) -> Option<Self> {
        let mut len = 0u32;
        // SAFETY: a null buffer asks only for the size, written to `len`.
        let sized = unsafe {
            CryptExportPublicKeyInfo(handle, spec, X509_ASN_ENCODING, ptr::null_mut(), &mut len)
        };
        if sized == 0 || (len as usize) < size_of::<CERT_PUBLIC_KEY_INFO>() {
            return None;
        }
        let mut buffer = vec![0u64; (len as usize).div_ceil(8)];
        let info = buffer.as_mut_ptr().cast::<CERT_PUBLIC_KEY_INFO>();
        // SAFETY: `buffer` is aligned for the structure and holds at least `len` bytes.
        let done =
            unsafe { CryptExportPublicKeyInfo(handle, spec, X509_ASN_ENCODING, info, &mut len) };
        (done != 0).then_some(PublicKey(buffer))
    }

    fn info(&self) -> &CERT_PUBLIC_KEY_INFO {
        // SAFETY: `export` filled the buffer's start with a CERT_PUBLIC_KEY_INFO whose
        // pointers refer to the rest of the same buffer, which lives as long as `self`.
        unsafe { &*self.0.as_ptr().cast::<CERT_PUBLIC_KEY_INFO>() }
    }
}

/// The PKCS#12's certificates, imported again without persisting the key, for their public
/// keys.
struct Certificates(HCERTSTORE);

impl Certificates {
    fn import(payload: &Payload) -> Option<Self> {
        let pkcs12 = payload.pkcs12.expose();
        let password = Zeroizing::new(wide(payload.pkcs12_password.expose()));
        let blob = CRYPT_INTEGER_BLOB {
            cbData: u32::try_from(pkcs12.len()).ok()?,
            pbData: pkcs12.as_ptr().cast_mut(),
        };
        // SAFETY: the blob describes the PKCS#12 bytes and the password is NUL-terminated
        // UTF-16; the call only reads both, and both outlive it.
        let store = unsafe { PFXImportCertStore(&blob, password.as_ptr(), PKCS12_NO_PERSIST_KEY) };
        (!store.is_null()).then_some(Certificates(store))
    }

    /// Whether a certificate of the store has this public key.
    fn include(&self, key: &CERT_PUBLIC_KEY_INFO) -> bool {
        let mut cert = ptr::null();
        loop {
            // SAFETY: the store is open; passing the previous context frees it, as documented.
            cert = unsafe { CertEnumCertificatesInStore(self.0, cert) };
            if cert.is_null() {
                return false;
            }
            // SAFETY: an enumerated context is valid until passed back or freed; its
            // certificate information outlives this comparison.
            let same = unsafe {
                let info = &(*(*cert).pCertInfo).SubjectPublicKeyInfo;
                CertComparePublicKeyInfo(X509_ASN_ENCODING, info, key) != 0
            };
            if same {
                // SAFETY: the enumeration stops here, so the context is freed by hand.
                unsafe { CertFreeCertificateContext(cert) };
                return true;
            }
        }
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        // SAFETY: the store came from PFXImportCertStore and is closed once.
        unsafe { CertCloseStore(self.0, 0) };
    }
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(Some(0)).collect()
}

/// A NUL-terminated UTF-16 string as text.
///
/// # Safety
/// `text` must be null or point to a NUL-terminated UTF-16 string.
unsafe fn from_wide(text: PWSTR) -> String {
    if text.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL, so every unit read up to it exists.
    unsafe {
        while *text.add(len) != 0 {
            len += 1;
        }
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    }
}

/// `Ok` when the call succeeded, else the thread's last error as an HRESULT-like code.
fn last_error_unless(done: BOOL) -> Result<(), HRESULT> {
    if done != 0 {
        return Ok(());
    }
    Err(last_error() as HRESULT)
}

fn last_error() -> WIN32_ERROR {
    // SAFETY: reads the calling thread's last error; no precondition.
    unsafe { GetLastError() }
}
