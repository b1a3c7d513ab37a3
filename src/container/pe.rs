//! The few fields of a PE file (Microsoft PE/COFF specification) that packing touches: the
//! optional header's `CheckSum` and the security data directory (entry 4), which points at the
//! attribute certificate table.

use super::{ContainerError, Source};

/// PE32 (32-bit) or PE32+ (64-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeKind {
    Pe32,
    Pe32Plus,
}

/// Where the fields packing needs are, and the certificate table they describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeHeaders {
    pub kind: PeKind,
    /// File offset of the optional header's 4-byte `CheckSum`.
    pub checksum_offset: u64,
    /// File offset of the security data directory entry (offset and size, 4 bytes each).
    pub security_entry_offset: u64,
    /// The attribute certificate table (file offset and size), when the file is signed.
    pub cert_table: Option<(u64, u64)>,
}

const SECURITY_DIRECTORY: u64 = 4;

impl PeHeaders {
    /// Reads the headers; `Ok(None)` when the file is not a PE at all.
    pub fn parse(source: &mut dyn Source) -> Result<Option<Self>, ContainerError> {
        const MALFORMED: ContainerError = ContainerError::Malformed("a PE header is cut short");
        if source.len() < 64 || source.read_at(0, 2)? != b"MZ" {
            return Ok(None);
        }
        let pe_offset = u64::from(read_u32(source, 0x3C)?);
        if pe_offset
            .checked_add(24)
            .is_none_or(|end| end > source.len())
            || source.read_at(pe_offset, 4)? != b"PE\0\0"
        {
            return Ok(None);
        }
        let optional_size = u64::from(read_u16(source, pe_offset + 20)?);
        let optional = pe_offset + 24;
        let kind = match read_u16(source, optional).map_err(|_| MALFORMED)? {
            0x10B => PeKind::Pe32,
            0x20B => PeKind::Pe32Plus,
            _ => {
                return Err(ContainerError::Malformed(
                    "unknown PE optional header magic",
                ))
            }
        };
        let (count_at, directories) = match kind {
            PeKind::Pe32 => (92, 96),
            PeKind::Pe32Plus => (108, 112),
        };
        let entry = directories + 8 * SECURITY_DIRECTORY;
        let directory_count = u64::from(read_u32(source, optional + count_at)?);
        if directory_count <= SECURITY_DIRECTORY || optional_size < entry + 8 {
            return Err(ContainerError::Malformed(
                "the PE has no security directory entry",
            ));
        }
        let security_entry_offset = optional + entry;
        let table_offset = u64::from(read_u32(source, security_entry_offset)?);
        let table_size = u64::from(read_u32(source, security_entry_offset + 4)?);
        let cert_table = match (table_offset, table_size) {
            (_, 0) => None,
            // Packing rewrites the table and then the header fields: they must not overlap.
            (offset, _) if offset < security_entry_offset + 8 => {
                return Err(ContainerError::Malformed(
                    "the Authenticode certificate table overlaps the PE headers",
                ))
            }
            (offset, size) if offset + size == source.len() => Some((offset, size)),
            _ => {
                return Err(ContainerError::Malformed(
                    "the Authenticode certificate table is not at the end of the file",
                ))
            }
        };
        Ok(Some(PeHeaders {
            kind,
            checksum_offset: optional + 64,
            security_entry_offset,
            cert_table,
        }))
    }
}

fn read_u16(source: &mut dyn Source, at: u64) -> Result<u16, ContainerError> {
    let bytes = source.read_at(at, 2)?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn read_u32(source: &mut dyn Source, at: u64) -> Result<u32, ContainerError> {
    let bytes = source.read_at(at, 4)?;
    Ok(u32::from_le_bytes(
        bytes[..4]
            .try_into()
            .expect("read_at returns what was asked"),
    ))
}

/// The PE image checksum: a 16-bit one's-complement style sum of the file, with the checksum
/// field itself counted as zero, plus the file's length.
pub fn checksum(file: &[u8], checksum_offset: usize) -> u32 {
    let mut sum: u64 = 0;
    for (index, pair) in file.chunks(2).enumerate() {
        let at = index * 2;
        if at == checksum_offset || at == checksum_offset + 2 {
            continue;
        }
        let word = u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u64::from(word);
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    (sum as u32).wrapping_add(file.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_skips_its_own_field_and_adds_the_length() {
        let mut file = vec![0u8; 16];
        file[0] = 1;
        file[8..12].copy_from_slice(&[0xFF; 4]); // the checksum field: ignored
        assert_eq!(checksum(&file, 8), 1 + 16);
        file[15] = 0x80; // the word 0x8000 at offset 14
        assert_eq!(checksum(&file, 8), 1 + 0x8000 + 16);
        // Carries fold back into the low 16 bits.
        file[12..14].copy_from_slice(&[0x00, 0x80]);
        assert_eq!(checksum(&file, 8), 2 + 16);
    }
}
