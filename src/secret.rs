//! Secrets: values that must never reach a log line, a Debug dump or an error message, and
//! that are wiped from memory when dropped.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// What `Debug` prints in place of any secret.
pub const REDACTED: &str = "** redacted **";

/// The transfer password, exactly as the person typed it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    pub fn new(text: String) -> Self {
        Password(text)
    }

    /// Reads one line and removes only its line ending (`\n` or `\r\n`): leading and trailing
    /// spaces are part of the password. Used by every `--password-stdin`.
    pub fn from_line(line: String) -> Self {
        let mut line = Zeroizing::new(line);
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Password(std::mem::take(&mut *line))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Secret bytes: a private key, a PKCS#12 file, a derived key.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Reads a password line from standard input (see [`Password::from_line`]).
pub fn read_password_line(input: &mut impl std::io::BufRead) -> std::io::Result<Password> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line)?;
    Ok(Password::from_line(std::mem::take(&mut *line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let password = Password::new("correct horse".into());
        let bytes = SecretBytes::new(b"-----BEGIN PRIVATE KEY-----".to_vec());
        let shown = format!("{password:?} {bytes:?} {:#?}", (&password, &bytes));
        assert!(!shown.contains("horse"), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(shown.contains(REDACTED));
    }

    #[test]
    fn password_line_loses_only_its_line_ending() {
        let cases = [
            ("abc\n", "abc"),
            ("abc\r\n", "abc"),
            (" a b \n", " a b "),
            ("abc", "abc"),
            ("abc\r", "abc\r"),
            ("\n", ""),
        ];
        for (line, want) in cases {
            assert_eq!(
                Password::from_line(line.into()).expose(),
                want,
                "line {line:?}"
            );
        }
    }

    #[test]
    fn password_is_read_from_the_first_line_only() {
        let mut input = std::io::Cursor::new(b"first line\nsecond\n".to_vec());
        assert_eq!(
            read_password_line(&mut input).unwrap().expose(),
            "first line"
        );
    }
}
