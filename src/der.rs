//! The little of ASN.1 DER that certdrop needs: reading a TLV, writing a header, and encoding
//! an object identifier. Only low tag numbers and definite lengths; anything else is refused,
//! never guessed at.

/// Universal and context tags used by certdrop.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0]` constructed (EXPLICIT, or IMPLICIT of a constructed type).
    pub const CONTEXT_0: u8 = 0xA0;
    pub const CONTEXT_1: u8 = 0xA1;
    pub const CONTEXT_3: u8 = 0xA3;
}

/// Why DER could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    #[error("the data ends inside an ASN.1 element")]
    Truncated,
    #[error("an ASN.1 element uses an indefinite length (BER, not DER)")]
    IndefiniteLength,
    #[error("an ASN.1 element has a non-minimal or oversized length")]
    BadLength,
    #[error("an ASN.1 element has a multi-byte tag")]
    HighTag,
    #[error("expected ASN.1 tag {expected:#04x}, found {found:#04x}")]
    UnexpectedTag { expected: u8, found: u8 },
}

/// One element: its tag, its content and all of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// Tag, length and content.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads the first element of `input` and returns it with what follows it.
    pub fn read(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
        let (&tag, after_tag) = input.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1F == 0x1F {
            return Err(DerError::HighTag);
        }
        let (&first, mut rest) = after_tag.split_first().ok_or(DerError::Truncated)?;
        let len = match first {
            0x80 => return Err(DerError::IndefiniteLength),
            n if n < 0x80 => n as usize,
            n => {
                let count = (n & 0x7F) as usize;
                if count > 4 {
                    return Err(DerError::BadLength);
                }
                let (bytes, after) = rest.split_at_checked(count).ok_or(DerError::Truncated)?;
                rest = after;
                let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
                if bytes[0] == 0 || len < 0x80 {
                    return Err(DerError::BadLength);
                }
                len
            }
        };
        let (content, after) = rest.split_at_checked(len).ok_or(DerError::Truncated)?;
        let raw = &input[..input.len() - after.len()];
        Ok((Tlv { tag, content, raw }, after))
    }

    /// Reads the first element and requires its tag.
    pub fn expect(input: &'a [u8], tag: u8) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
        let (tlv, rest) = Tlv::read(input)?;
        if tlv.tag != tag {
            return Err(DerError::UnexpectedTag {
                expected: tag,
                found: tlv.tag,
            });
        }
        Ok((tlv, rest))
    }

    /// The elements inside a constructed element, in order.
    pub fn children(&self) -> Children<'a> {
        Children { rest: self.content }
    }
}

/// Iterator over the elements of a constructed element's content.
pub struct Children<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Tlv::read(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Appends a tag and a minimal DER length.
pub fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// A whole element from a tag and content.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    write_header(&mut out, tag, content.len());
    out.extend_from_slice(content);
    out
}

/// The content octets of an object identifier given its arcs (at least two).
pub fn oid_content(arcs: &[u128]) -> Vec<u8> {
    assert!(
        arcs.len() >= 2 && arcs[0] <= 2,
        "an OID has at least two arcs and starts 0, 1 or 2"
    );
    let mut out = Vec::new();
    let first = arcs[0] * 40 + arcs[1];
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7F) as u8);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_minimal_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24] {
            let content = vec![7u8; len];
            let bytes = tlv(tag::OCTET_STRING, &content);
            let (read, rest) = Tlv::read(&bytes).unwrap();
            assert_eq!(
                (read.tag, read.content.len(), rest.len()),
                (tag::OCTET_STRING, len, 0)
            );
            assert_eq!(read.raw, &bytes[..]);
        }
    }

    #[test]
    fn non_der_lengths_are_refused() {
        assert_eq!(
            Tlv::read(&[0x30, 0x80, 0, 0]),
            Err(DerError::IndefiniteLength)
        );
        assert_eq!(
            Tlv::read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]),
            Err(DerError::BadLength)
        );
        assert_eq!(
            Tlv::read(&[0x04, 0x82, 0x00, 0x90]),
            Err(DerError::BadLength)
        );
        assert_eq!(
            Tlv::read(&[0x04, 0x85, 1, 1, 1, 1, 1]),
            Err(DerError::BadLength)
        );
        assert_eq!(Tlv::read(&[0x04, 0x03, 1]), Err(DerError::Truncated));
        assert_eq!(Tlv::read(&[0x1F, 0x01, 0x00]), Err(DerError::HighTag));
        assert_eq!(Tlv::read(&[]), Err(DerError::Truncated));
    }

    #[test]
    fn oid_encoding_matches_known_values() {
        // 1.2.840.113549.1.7.2 (PKCS#7 signedData) and 2.25.1
        let signed_data = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
        assert_eq!(oid_content(&[1, 2, 840, 113549, 1, 7, 2]), signed_data);
        assert_eq!(oid_content(&[2, 25, 1]), [0x69, 0x01]);
        assert_eq!(oid_content(&[2, 25, 128]), [0x69, 0x81, 0x00]);
    }
}
