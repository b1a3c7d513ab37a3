//! Where the envelope travels inside a program (docs/FORMAT.md, section 4): in a trailer after
//! an ELF or unsigned PE file, or as a carrier certificate inside a PE's Authenticode signature.
//!
//! Reading is bounded: the receiver reads its own headers, then at most the envelope's
//! trailer or the certificate table, never the whole (large) program.

pub mod authenticode;
pub mod pe;
pub mod trailer;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::der::DerError;
use authenticode::SignedDataParts;
use pe::{PeHeaders, PeKind};

/// The largest Authenticode certificate table a reader loads.
pub const MAX_CERT_TABLE_LEN: u64 = 8 * 1024 * 1024;

/// Why a program's envelope could not be found or placed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    #[error("could not read the program: {0}")]
    Io(#[from] std::io::Error),
    #[error("the program is damaged: {0}")]
    Malformed(&'static str),
    #[error("the program's Authenticode signature cannot carry an envelope: {0}")]
    BadSignature(&'static str),
    #[error("the program's Authenticode signature is not DER: {0}")]
    Der(#[from] DerError),
    #[error("this is neither an ELF nor a PE executable")]
    NotExecutable,
}

/// Random access to a program's bytes, so that the same parser serves a file on disk (read in
/// bounded pieces) and bytes in memory.
pub trait Source {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Exactly `len` bytes at `offset`, or an error.
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, ContainerError>;
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, ContainerError> {
        usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or(ContainerError::Malformed("the file ends early"))
    }
}

/// A file read in bounded pieces.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self, ContainerError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, ContainerError> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(ContainerError::Malformed("the file ends early"));
        }
        let mut buffer = vec![0u8; len];
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(&mut buffer)?;
        Ok(buffer)
    }
}

/// The kind of executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutableFormat {
    Elf,
    Pe(PeKind),
}

impl std::fmt::Display for ExecutableFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExecutableFormat::Elf => "ELF",
            ExecutableFormat::Pe(PeKind::Pe32) => "PE32 (Windows, 32-bit)",
            ExecutableFormat::Pe(PeKind::Pe32Plus) => "PE32+ (Windows, 64-bit)",
        })
    }
}

/// How the envelope travels in this program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Trailer,
    SignedCarrier,
}

/// What a program is and holds, found without the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    pub format: ExecutableFormat,
    /// For PE files: whether they carry an Authenticode signature, and whether the optional
    /// header's checksum matches the file.
    pub authenticode: Option<SignatureLayout>,
    pub envelope: Option<(Placement, Vec<u8>)>,
}

/// The structure of a PE's signature: what can be checked without cryptography.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureLayout {
    pub signed: bool,
    pub checksum_ok: bool,
}

/// Finds what a program is and its envelope, reading only headers and the envelope's region.
pub fn inspect(source: &mut dyn Source) -> Result<Inspection, ContainerError> {
    if let Some(headers) = PeHeaders::parse(source)? {
        return inspect_pe(source, &headers);
    }
    if source.len() >= 4 && source.read_at(0, 4)? == b"\x7fELF" {
        let envelope = trailer::read(source)?.map(|e| (Placement::Trailer, e));
        return Ok(Inspection {
            format: ExecutableFormat::Elf,
            authenticode: None,
            envelope,
        });
    }
    Err(ContainerError::NotExecutable)
}

fn inspect_pe(source: &mut dyn Source, headers: &PeHeaders) -> Result<Inspection, ContainerError> {
    let format = ExecutableFormat::Pe(headers.kind);
    let stored = source.read_at(headers.checksum_offset, 4)?;
    let stored = u32::from_le_bytes(stored[..].try_into().expect("4 bytes"));
    let Some((offset, size)) = headers.cert_table else {
        let envelope = trailer::read(source)?.map(|e| (Placement::Trailer, e));
        // Checking an unsigned file's checksum would mean reading all of it; it matters only
        // for signed files, so it is reported as fine.
        let authenticode = Some(SignatureLayout {
            signed: false,
            checksum_ok: true,
        });
        return Ok(Inspection {
            format,
            authenticode,
            envelope,
        });
    };
    if size > MAX_CERT_TABLE_LEN {
        return Err(ContainerError::BadSignature(
            "the certificate table is larger than 8 MiB",
        ));
    }
    let table = source.read_at(offset, size as usize)?;
    let envelope = SignedDataParts::parse(&table)?
        .envelope()?
        .map(|e| (Placement::SignedCarrier, e.to_vec()));
    // The checksum covers the whole file: only computed when the whole file is at hand.
    let checksum_ok = whole_file_checksum(source, headers).is_none_or(|sum| sum == stored);
    let authenticode = Some(SignatureLayout {
        signed: true,
        checksum_ok,
    });
    Ok(Inspection {
        format,
        authenticode,
        envelope,
    })
}

fn whole_file_checksum(source: &mut dyn Source, headers: &PeHeaders) -> Option<u32> {
    // Limitation: reading a whole multi-megabyte stub is only worth it when inspecting, so a
    // file larger than 64 MiB is not checksummed and is reported as fine.
    if source.len() > 64 * 1024 * 1024 {
        return None;
    }
    let bytes = source.read_at(0, source.len() as usize).ok()?;
    Some(pe::checksum(&bytes, headers.checksum_offset as usize))
}

/// Reads the envelope a program carries, if any (the receiver calls this on itself).
pub fn read_envelope(path: &Path) -> Result<Option<Vec<u8>>, ContainerError> {
    let mut source = FileSource::open(path)?;
    let headers = PeHeaders::parse(&mut source)?;
    match headers.and_then(|h| h.cert_table) {
        Some((offset, size)) => {
            if size > MAX_CERT_TABLE_LEN {
                return Err(ContainerError::BadSignature(
                    "the certificate table is too large",
                ));
            }
            let table = source.read_at(offset, size as usize)?;
            Ok(SignedDataParts::parse(&table)?
                .envelope()?
                .map(<[u8]>::to_vec))
        }
        None => trailer::read(&mut source),
    }
}

/// Puts `envelope` into `program`, replacing any envelope it already holds. For a signed PE,
/// `make_carrier` turns the envelope into the DER carrier certificate (section 4.2).
pub fn pack<E>(
    program: &[u8],
    envelope: &[u8],
    make_carrier: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, PackError<E>> {
    let mut source: &[u8] = program;
    let headers = PeHeaders::parse(&mut source)?;
    let signed_table = headers.as_ref().and_then(|h| h.cert_table.map(|t| (h, t)));
    let Some((headers, (offset, _))) = signed_table else {
        // The headers that identify the program must survive removing an old trailer.
        let headers_end = match &headers {
            Some(headers) => headers.security_entry_offset as usize + 8,
            None if program.starts_with(b"\x7fELF") => 4,
            None => return Err(ContainerError::NotExecutable.into()),
        };
        let program = trailer::strip(program);
        if program.len() < headers_end {
            let overlap = "the envelope trailer overlaps the program's headers";
            return Err(ContainerError::Malformed(overlap).into());
        }
        return Ok(trailer::append(program, envelope));
    };

    // Signed PE: swap the carrier certificate and fix up the lengths and the checksum.
    let offset = offset as usize;
    let parts = SignedDataParts::parse(&program[offset..])?;
    let carrier = make_carrier(envelope).map_err(PackError::Carrier)?;
    let table = parts.rebuild(Some(&carrier))?;
    let mut out = Vec::with_capacity(offset + table.len());
    out.extend_from_slice(&program[..offset]);
    out.extend_from_slice(&table);
    let entry = headers.security_entry_offset as usize;
    let table_len = u32::try_from(table.len()).expect("rebuild keeps the table under 4 GiB");
    out[entry + 4..entry + 8].copy_from_slice(&table_len.to_le_bytes());
    let at = headers.checksum_offset as usize;
    let sum = pe::checksum(&out, at);
    out[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Why packing failed.
#[derive(Debug, thiserror::Error)]
pub enum PackError<E> {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("could not make the carrier certificate: {0}")]
    Carrier(E),
}

#[cfg(test)]
mod tests;
