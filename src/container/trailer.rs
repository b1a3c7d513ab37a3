//! The envelope after the end of an ELF or unsigned PE file (docs/FORMAT.md, section 4.1).

use super::{ContainerError, Source};
use crate::envelope::{self, MAX_ENVELOPE_LEN};

/// ASCII `CDTRAILR`: the last 8 bytes of a packed program.
pub const MAGIC: [u8; 8] = *b"CDTRAILR";
/// The length (4 bytes) and the magic.
pub const FOOTER_LEN: usize = 12;

/// The envelope in the trailer, if the file ends with one.
pub fn read(source: &mut dyn Source) -> Result<Option<Vec<u8>>, ContainerError> {
    let Some(len) = envelope_len(source)? else {
        return match holds_cut_envelope(source)? {
            true => Err(ContainerError::Malformed(
                "the program is cut short inside its envelope",
            )),
            false => Ok(None),
        };
    };
    let start = source.len() - (FOOTER_LEN + len) as u64;
    source.read_at(start, len).map(Some)
}

fn envelope_len(source: &mut dyn Source) -> Result<Option<usize>, ContainerError> {
    if source.len() < FOOTER_LEN as u64 {
        return Ok(None);
    }
    let footer = source.read_at(source.len() - FOOTER_LEN as u64, FOOTER_LEN)?;
    if footer[4..] != MAGIC {
        return Ok(None);
    }
    let len = u32::from_le_bytes(footer[..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_ENVELOPE_LEN || (FOOTER_LEN + len) as u64 > source.len() {
        return Err(ContainerError::Malformed(
            "the envelope trailer has an impossible length",
        ));
    }
    Ok(Some(len))
}

/// Whether the tail of a file without a footer holds the start of an envelope: a packed
/// program that lost its end (an interrupted download), rather than an unpacked stub.
fn holds_cut_envelope(source: &mut dyn Source) -> Result<bool, ContainerError> {
    // Magic, version 1, Argon2id, XChaCha20-Poly1305: assembled at run time, so that the
    // program's own constants never look like an envelope.
    let mut start = envelope::MAGIC.to_vec();
    start.extend_from_slice(&envelope::FORMAT_VERSION.to_le_bytes());
    start.extend_from_slice(&[1, 1]);
    let tail_len = source.len().min((MAX_ENVELOPE_LEN + FOOTER_LEN) as u64);
    let tail = source.read_at(source.len() - tail_len, tail_len as usize)?;
    Ok(tail.windows(start.len()).any(|window| window == start))
}

/// The program without its trailer (the program itself if it has none, or a broken one).
pub fn strip(program: &[u8]) -> &[u8] {
    let mut source = program;
    match envelope_len(&mut source) {
        Ok(Some(len)) => &program[..program.len() - FOOTER_LEN - len],
        _ => program,
    }
}

/// The program followed by the envelope and its footer.
pub fn append(program: &[u8], envelope: &[u8]) -> Vec<u8> {
    let len = u32::try_from(envelope.len()).expect("an envelope is at most about 1 MiB");
    let mut out = Vec::with_capacity(program.len() + envelope.len() + FOOTER_LEN);
    out.extend_from_slice(program);
    out.extend_from_slice(envelope);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&MAGIC);
    out
}
