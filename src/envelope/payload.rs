//! The envelope's plaintext (docs/FORMAT.md, section 3).

use std::fmt;

use zeroize::Zeroizing;

use super::EnvelopeError;
use crate::secret::{Password, SecretBytes};
use crate::transfer::TransferInfo;

/// Transfer metadata and the client identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    pub info: TransferInfo,
    /// The client certificate, its key and Amazon Root CA 1 as PKCS#12 (DER).
    pub pkcs12: SecretBytes,
    /// The PKCS#12's own password: ASCII, at most 255 bytes.
    pub pkcs12_password: Password,
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payload")
            .field("info", &self.info)
            .field("pkcs12", &self.pkcs12)
            .field("pkcs12_password", &self.pkcs12_password)
            .finish()
    }
}

impl Payload {
    /// Parses a plaintext payload; every accepted input has exactly one encoding.
    pub fn read(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut rest = bytes;
        let metadata = take_prefixed(&mut rest, 4)?;
        let pkcs12 = take_prefixed(&mut rest, 4)?;
        let password = take_prefixed(&mut rest, 1)?;
        if !rest.is_empty() {
            return Err(EnvelopeError::Damaged(
                "bytes follow the payload's last field",
            ));
        }

        // The metadata must be valid, and canonical, so that write(read(x)) == x.
        let text = std::str::from_utf8(metadata)
            .map_err(|_| EnvelopeError::Damaged("the metadata is not UTF-8"))?;
        let info: TransferInfo = serde_json::from_str(text)
            .map_err(|_| EnvelopeError::Damaged("the metadata is not a transfer description"))?;
        if info.to_canonical_json() != text {
            return Err(EnvelopeError::Damaged(
                "the metadata is not in canonical form",
            ));
        }
        info.validate()
            .map_err(|_| EnvelopeError::Damaged("the metadata has an invalid field"))?;

        if !password.is_ascii() {
            return Err(EnvelopeError::Damaged(
                "the identity's password is not ASCII",
            ));
        }
        let password = String::from_utf8(password.to_vec()).expect("ASCII is UTF-8");
        Ok(Payload {
            info,
            pkcs12: SecretBytes::new(pkcs12.to_vec()),
            pkcs12_password: Password::new(password),
        })
    }

    /// The bytes [`Payload::read`] accepts. The caller keeps the result secret.
    pub fn write(&self) -> Zeroizing<Vec<u8>> {
        let metadata = self.info.to_canonical_json();
        let pkcs12 = self.pkcs12.expose();
        let password = self.pkcs12_password.expose().as_bytes();
        assert!(
            password.len() <= 255,
            "the identity's password is at most 255 bytes"
        );
        let mut out = Zeroizing::new(Vec::with_capacity(9 + metadata.len() + pkcs12.len() + 255));
        out.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        out.extend_from_slice(metadata.as_bytes());
        out.extend_from_slice(&(pkcs12.len() as u32).to_le_bytes());
        out.extend_from_slice(pkcs12);
        out.push(password.len() as u8);
        out.extend_from_slice(password);
        out
    }
}

/// Takes a field prefixed by its length in `width` (1 or 4) little-endian bytes.
fn take_prefixed<'a>(rest: &mut &'a [u8], width: usize) -> Result<&'a [u8], EnvelopeError> {
    const SHORT: EnvelopeError = EnvelopeError::Damaged("the payload ends inside a field");
    let (len, after) = rest.split_at_checked(width).ok_or(SHORT)?;
    let mut le = [0u8; 4];
    le[..width].copy_from_slice(len);
    let (field, after) = after
        .split_at_checked(u32::from_le_bytes(le) as usize)
        .ok_or(SHORT)?;
    *rest = after;
    Ok(field)
}
