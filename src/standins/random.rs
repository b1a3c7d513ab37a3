//! Random identifiers and stand-in secrets.

/// Upper-case letters and digits, the alphabet of AWS access key ids.
pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The base64 alphabet, in which AWS writes secret keys and session tokens.
pub(crate) const BASE64: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `N` bytes from the operating system's generator.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).expect("the operating system's random generator works");
    buf
}

/// `len` characters drawn from `alphabet`.
///
/// Limitation: each byte is reduced modulo the alphabet's size, so some characters are
/// slightly likelier than others; these are stand-in secrets for tests, never real ones.
pub(crate) fn text(alphabet: &[u8], len: usize) -> String {
    let mut raw = vec![0u8; len];
    getrandom::getrandom(&mut raw).expect("the operating system's random generator works");
    raw.iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// 16 random bytes in lowercase hex: a request id, a folder name.
pub(crate) fn hex_id() -> String {
    hex::encode(bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_uses_only_the_alphabet_and_the_length_asked() {
        let made = text(UPPER_ALNUM, 300);
        assert_eq!(made.len(), 300);
        assert!(made.bytes().all(|b| UPPER_ALNUM.contains(&b)), "{made}");
    }

    #[test]
    fn two_ids_differ() {
        assert_ne!(hex_id(), hex_id());
    }
}
