//! The sealed envelope (docs/FORMAT.md, section 2): transfer metadata and client identity,
//! encrypted with a key derived from the transfer password.
//!
//! [`Envelope::read`] and [`Envelope::write`] handle the bytes without the password;
//! [`seal`] and [`Envelope::open`] do the cryptography.

mod payload;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadInput};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use payload::Payload;

use crate::secret::Password;

/// The format version this program reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// ASCII `CERTDROP`.
pub const MAGIC: [u8; 8] = *b"CERTDROP";
/// Size of [`EnvelopeHeader`] on the wire.
pub const HEADER_LEN: usize = 84;
/// Size of the SHA-256 digest that ends an envelope.
pub const DIGEST_LEN: usize = 32;
/// The largest sealed payload a reader accepts.
pub const MAX_SEALED_LEN: usize = 1024 * 1024;
/// The largest envelope a reader accepts.
pub const MAX_ENVELOPE_LEN: usize = HEADER_LEN + MAX_SEALED_LEN + DIGEST_LEN;

const TAG_LEN: usize = 16;
const KDF_ARGON2ID: u8 = 1;
const AEAD_XCHACHA20POLY1305: u8 = 1;

/// Why an envelope could not be read or opened (docs/FORMAT.md, section 5).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("the envelope is truncated: {0}")]
    Truncated(&'static str),
    #[error("{0} unexpected bytes follow the envelope")]
    TrailingBytes(usize),
    #[error("this is not a certdrop envelope")]
    NotAnEnvelope,
    #[error("the envelope uses format version {0}; this program reads version {FORMAT_VERSION}")]
    NewerVersion(u16),
    #[error("the envelope is damaged: {0}")]
    Damaged(&'static str),
    #[error("the envelope asks for key-derivation parameters outside the safe limits: {0}")]
    KdfRefused(String),
    #[error("the password is wrong")]
    WrongPassword,
    #[error("the envelope was altered: its contents fail authentication")]
    AuthenticationFailed,
}

/// Argon2id cost parameters (docs/FORMAT.md, section 2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl KdfParams {
    /// The writer's default: about a second on a current laptop, 256 MiB of memory.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 256 * 1024,
        passes: 3,
        lanes: 1,
    };
    /// The smallest memory cost `certdrop pack --kdf-memory-mib` accepts.
    pub const MIN_MEMORY_MIB: u32 = 8;
    /// The largest memory cost a reader accepts.
    pub const MAX_MEMORY_MIB: u32 = 1024;

    /// The default passes and lanes with a lower memory cost, for tests.
    pub fn with_memory_mib(mib: u32) -> Result<Self, EnvelopeError> {
        let params = KdfParams {
            memory_kib: mib.saturating_mul(1024),
            ..Self::DEFAULT
        };
        params.check()?;
        Ok(params)
    }

    /// Refuses parameters outside docs/FORMAT.md section 2.1 before any work is done.
    pub fn check(&self) -> Result<(), EnvelopeError> {
        let refuse = |what: String| Err(EnvelopeError::KdfRefused(what));
        let min_kib = Self::MIN_MEMORY_MIB * 1024;
        let max_kib = Self::MAX_MEMORY_MIB * 1024;
        if !(min_kib..=max_kib).contains(&self.memory_kib) {
            return refuse(format!(
                "memory {} KiB (allowed: 8 MiB to 1 GiB)",
                self.memory_kib
            ));
        }
        if !(1..=16).contains(&self.passes) {
            return refuse(format!("{} passes (allowed: 1 to 16)", self.passes));
        }
        if !(1..=16).contains(&self.lanes) || self.memory_kib < 8 * self.lanes {
            return refuse(format!("{} lanes (allowed: 1 to 16)", self.lanes));
        }
        Ok(())
    }
}

/// docs/FORMAT.md, section 2.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    pub version: u16,
    pub kdf: KdfParams,
    pub salt: [u8; 16],
    pub nonce: [u8; 24],
    pub key_check: [u8; 16],
    pub sealed_len: u32,
}

impl EnvelopeHeader {
    fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        out[10] = KDF_ARGON2ID;
        out[11] = AEAD_XCHACHA20POLY1305;
        out[12..16].copy_from_slice(&self.kdf.memory_kib.to_le_bytes());
        out[16..20].copy_from_slice(&self.kdf.passes.to_le_bytes());
        out[20..24].copy_from_slice(&self.kdf.lanes.to_le_bytes());
        out[24..40].copy_from_slice(&self.salt);
        out[40..64].copy_from_slice(&self.nonce);
        out[64..80].copy_from_slice(&self.key_check);
        out[80..84].copy_from_slice(&self.sealed_len.to_le_bytes());
        out
    }

    /// The header and its two algorithm bytes, which the caller checks.
    fn from_bytes(bytes: &[u8; HEADER_LEN]) -> (Self, [u8; 2]) {
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let header = EnvelopeHeader {
            version: u16::from_le_bytes([bytes[8], bytes[9]]),
            kdf: KdfParams {
                memory_kib: u32_at(12),
                passes: u32_at(16),
                lanes: u32_at(20),
            },
            salt: bytes[24..40].try_into().expect("16 bytes"),
            nonce: bytes[40..64].try_into().expect("24 bytes"),
            key_check: bytes[64..80].try_into().expect("16 bytes"),
            sealed_len: u32_at(80),
        };
        (header, [bytes[10], bytes[11]])
    }
}

/// An envelope as bytes on the wire: header, sealed payload, digest (section 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: EnvelopeHeader,
    pub sealed: Vec<u8>,
}

impl Envelope {
    /// Parses and checks an envelope without the password (steps 1 to 8 of section 2.1).
    pub fn read(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        // Identify the format and its version before trusting any length.
        if bytes.len() < 10 {
            return Err(EnvelopeError::Truncated(
                "shorter than its magic and version",
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        match u16::from_le_bytes([bytes[8], bytes[9]]) {
            0 => return Err(EnvelopeError::Damaged("version 0 does not exist")),
            v if v > FORMAT_VERSION => return Err(EnvelopeError::NewerVersion(v)),
            _ => {}
        }
        let header_bytes: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(EnvelopeError::Truncated("shorter than its header"))?;
        let (header, algorithms) = EnvelopeHeader::from_bytes(header_bytes);

        // The declared length must be the actual length, to the byte.
        let expected = HEADER_LEN + header.sealed_len as usize + DIGEST_LEN;
        if bytes.len() < expected {
            return Err(EnvelopeError::Truncated("shorter than its declared length"));
        }
        if bytes.len() > expected {
            return Err(EnvelopeError::TrailingBytes(bytes.len() - expected));
        }

        // Accidental damage is caught here, before any expensive work.
        let (body, digest) = bytes.split_at(expected - DIGEST_LEN);
        if Sha256::digest(body).as_slice() != digest {
            return Err(EnvelopeError::Damaged("its checksum does not match"));
        }
        if algorithms != [KDF_ARGON2ID, AEAD_XCHACHA20POLY1305] {
            return Err(EnvelopeError::Damaged("it names an unknown algorithm"));
        }
        header.kdf.check()?;
        let sealed_len = header.sealed_len as usize;
        if !(TAG_LEN..=MAX_SEALED_LEN).contains(&sealed_len) {
            return Err(EnvelopeError::Damaged(
                "its sealed payload has an impossible size",
            ));
        }
        Ok(Envelope {
            sealed: body[HEADER_LEN..].to_vec(),
            header,
        })
    }

    /// The exact bytes [`Envelope::read`] accepts.
    pub fn write(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.sealed.len() + DIGEST_LEN);
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.sealed);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Derives the key from the password and decrypts the payload (sections 2.2 to 3).
    pub fn open(&self, password: &Password) -> Result<Payload, EnvelopeError> {
        let okm = derive(password, &self.header.salt, self.header.kdf)?;
        let key_ok: bool = okm[32..48].ct_eq(&self.header.key_check).into();
        if !key_ok {
            return Err(EnvelopeError::WrongPassword);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&okm[..32]).expect("the key is 32 bytes");
        let aad = self.header.to_bytes();
        let plaintext = cipher
            .decrypt(
                XNonce::from_slice(&self.header.nonce),
                AeadInput {
                    msg: &self.sealed,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| EnvelopeError::AuthenticationFailed)?;
        Payload::read(&plaintext)
    }
}

/// Encrypts a payload under a password (sections 2.2 to 2.4) with a fresh salt and nonce.
pub fn seal(
    payload: &Payload,
    password: &Password,
    kdf: KdfParams,
) -> Result<Envelope, EnvelopeError> {
    kdf.check()?;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::getrandom(&mut salt).expect("the operating system provides random numbers");
    getrandom::getrandom(&mut nonce).expect("the operating system provides random numbers");

    let okm = derive(password, &salt, kdf)?;
    let plaintext = payload.write();
    let sealed_len = plaintext.len() + TAG_LEN;
    if sealed_len > MAX_SEALED_LEN {
        return Err(EnvelopeError::Damaged("the payload is larger than 1 MiB"));
    }
    let header = EnvelopeHeader {
        version: FORMAT_VERSION,
        kdf,
        salt,
        nonce,
        key_check: okm[32..48].try_into().expect("16 bytes"),
        sealed_len: sealed_len as u32,
    };
    let cipher = XChaCha20Poly1305::new_from_slice(&okm[..32]).expect("the key is 32 bytes");
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            AeadInput {
                msg: &plaintext,
                aad: &header.to_bytes(),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any payload under 256 GiB");
    Ok(Envelope { header, sealed })
}

/// Argon2id with the envelope's parameters: 48 bytes of key material (section 2.2).
fn derive(
    password: &Password,
    salt: &[u8; 16],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 48]>, EnvelopeError> {
    // Check again here so that no caller can reach the KDF with unchecked parameters.
    kdf.check()?;
    let params = Params::new(kdf.memory_kib, kdf.passes, kdf.lanes, Some(48))
        .map_err(|e| EnvelopeError::KdfRefused(e.to_string()))?;
    let mut okm = Zeroizing::new([0u8; 48]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.expose().as_bytes(), salt, okm.as_mut())
        .map_err(|e| EnvelopeError::KdfRefused(e.to_string()))?;
    Ok(okm)
}

#[cfg(test)]
mod tests;
