//! `UriEncode()` and the canonical URI and query string (IAM User Guide, "Create a canonical
//! request"; S3 API Reference, "Signature Calculations for the Authorization Header").

use std::fmt::Write;

use super::UriRules;

/// The path of an S3 object in a request URL: `/` then the key with every byte except
/// `A-Z a-z 0-9 - _ . ~` and `/` percent-encoded. S3 signs this same text.
pub fn s3_key_path(key: &str) -> String {
    format!("/{}", encode(key.as_bytes(), Slash::Keep))
}

/// AWS's `UriEncode()` for one query key or value: every byte except `A-Z a-z 0-9 - _ . ~` is
/// written as `%XX` with uppercase hex, `/` included.
pub fn uri_encode(text: &str) -> String {
    encode(text.as_bytes(), Slash::Encode)
}

/// The canonical URI of a request whose path is `path`, exactly as sent on the wire.
///
/// S3 decodes the path and encodes it once: a key sent as `/a%20b` is signed as `/a%20b`.
/// The generic rules encode the sent path once more (`/a%20b` is signed as `/a%2520b`), after
/// removing `.`, `..` and empty segments when asked to normalize.
pub(super) fn canonical_uri(path: &str, rules: UriRules) -> String {
    let bytes = match rules {
        UriRules::S3 => percent_decode(path),
        UriRules::Generic { normalize: true } => normalize(path).into_bytes(),
        UriRules::Generic { normalize: false } => path.as_bytes().to_vec(),
    };
    let encoded = encode(&bytes, Slash::Keep);
    if encoded.is_empty() {
        return "/".to_owned();
    }
    encoded
}

/// The canonical query string: each parameter's key and value decoded then encoded once, a
/// key without `=` given an empty value, and the pairs sorted by key then value.
///
/// Limitation: `+` is taken as a literal plus, never as a space, so a query written with
/// form encoding (`a+b` for `a b`) must be percent-encoded (`a%20b`) before it is signed.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(key, value)| (reencode(key), reencode(value)))
        .collect();
    pairs.sort();

    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

/// Whether `/` is kept as is (paths) or encoded (query keys and values).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slash {
    Keep,
    Encode,
}

fn encode(bytes: &[u8], slash: Slash) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        if is_unreserved(byte) || (byte == b'/' && slash == Slash::Keep) {
            out.push(char::from(byte));
        } else {
            write!(out, "%{byte:02X}").expect("writing to a String never fails");
        }
    }
    out
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

fn reencode(text: &str) -> String {
    encode(&percent_decode(text), Slash::Encode)
}

/// Decodes every `%XX`; a `%` not followed by two hex digits stays a literal `%`.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_pair(bytes.get(i + 1..i + 3))) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = std::str::from_utf8(pair?).ok()?;
    if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(pair, 16).ok()
}

/// Removes empty, `.` and `..` segments (RFC 3986, section 5.2.4, plus collapsed slashes).
/// The result ends with `/` when the path named a directory: it ended with `/`, `.` or `..`.
fn normalize(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            name => kept.push(name),
        }
    }

    let last = path.rsplit('/').next().unwrap_or_default();
    let names_directory = matches!(last, "" | "." | "..");
    let mut out = format!("/{}", kept.join("/"));
    if names_directory && !kept.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_removes_dot_segments_and_empty_segments() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/a/b/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/b/.", "/a/b/"),
            ("/a/b/c/..", "/a/b/"),
            ("/../a", "/a"),
        ];
        for (path, want) in cases {
            assert_eq!(normalize(path), want, "path {path:?}");
        }
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes_literal() {
        assert_eq!(percent_decode("%41%2f%zz%4"), b"A/%zz%4");
        assert_eq!(percent_decode("%e1%88%b4"), "ሴ".as_bytes());
    }

    #[test]
    fn query_keys_without_equals_get_empty_values_and_pairs_sort() {
        let query = "b=2&a&b=1&c=x%2fy&&d=a+b&e=%7e";
        assert_eq!(canonical_query(query), "a=&b=1&b=2&c=x%2Fy&d=a%2Bb&e=~");
    }

    #[test]
    fn query_is_sorted_by_encoded_key_not_by_raw_key() {
        // Raw `ሴ` sorts after `P`, but its encoding `%E1...` sorts before it.
        assert_eq!(canonical_query("Param=1&ሴ=2"), "%E1%88%B4=2&Param=1");
    }

    #[test]
    fn uri_encode_encodes_everything_but_unreserved_bytes() {
        assert_eq!(
            uri_encode("a-_.~Z9 /+=&%é"),
            "a-_.~Z9%20%2F%2B%3D%26%25%C3%A9"
        );
    }
}
