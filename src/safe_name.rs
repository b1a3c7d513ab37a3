//! Turning a file name that came from the envelope (and so from a sender, or an attacker who
//! made a program look like one) into a name that is safe in the recipient's chosen folder on
//! Windows, macOS and Linux: one path component, no device name, nothing that hides the
//! extension.

/// Longest name in UTF-8 bytes, leaving room for ` (99)` and `.certdrop-part`.
const MAX_NAME_BYTES: usize = 200;

/// The name used when nothing usable is left.
pub const FALLBACK_NAME: &str = "download";

/// A safe file name for `name`; never empty, never a path, never a reserved device name.
pub fn safe_file_name(name: &str) -> String {
    // Only the last path component, whichever separator the sender's system used.
    let last = name
        .rsplit(['/', '\\'])
        .find(|part| !part.trim().is_empty())
        .unwrap_or("");

    // Characters Windows refuses or that disguise a name become `_`; direction overrides
    // (which can make `exe.pdf` display as `fdp.exe`) and other invisible controls vanish.
    let clean: String = last
        .chars()
        .filter(|c| !is_invisible_control(*c))
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect();

    // Windows drops trailing dots and spaces, so `a.exe.` would run as `a.exe`.
    let clean = clean.trim_start().trim_end_matches(['.', ' ']).to_owned();
    if clean.chars().all(|c| c == '.') {
        return FALLBACK_NAME.to_owned();
    }
    shorten(&avoid_device_name(clean))
}

fn is_forbidden(c: char) -> bool {
    matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') || c.is_control()
}

/// Bidirectional overrides and isolates, marks, zero-width characters.
fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{061C}' | '\u{FEFF}'
    )
}

/// `CON`, `NUL.txt`, `com1.tar.gz` and the like name devices on Windows: add `_` to the stem.
fn avoid_device_name(name: String) -> String {
    let stem_len = name.find('.').unwrap_or(name.len());
    let stem = name[..stem_len].trim_end().to_ascii_uppercase();
    let reserved = matches!(
        stem.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || is_numbered_port(&stem);
    if !reserved {
        return name;
    }
    format!("{}_{}", &name[..stem_len], &name[stem_len..])
}

fn is_numbered_port(stem: &str) -> bool {
    let digits = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '¹', '²', '³'];
    let mut chars = stem.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    (prefix == "COM" || prefix == "LPT") && rest.len() == 1 && digits.contains(&rest[0])
}

/// At most [`MAX_NAME_BYTES`], keeping the extension (up to 16 bytes of it).
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let mut stem_end = MAX_NAME_BYTES - extension.len();
    while !name.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{extension}", &name[..stem_end])
}

/// `name (n).ext` for the n-th alternative to a taken name.
pub fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe_names() {
        let cases = [
            ("report.zip", "report.zip"),
            ("../../x", "x"),
            ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
            ("/etc/passwd", "passwd"),
            ("C:\\Users\\a\\b.txt", "b.txt"),
            ("C:b.txt", "C_b.txt"),
            ("CON", "CON_"),
            ("NUL.txt", "NUL_.txt"),
            ("com1.tar.gz", "com1_.tar.gz"),
            ("LPT¹", "LPT¹_"),
            ("COM10.txt", "COM10.txt"),
            ("a<b>|c?.txt", "a_b__c_.txt"),
            ("invoice.exe. . .", "invoice.exe"),
            ("  spaced name.txt  ", "spaced name.txt"),
            ("annual\u{202E}fdp.exe", "annualfdp.exe"),
            ("tab\tand\nnewline", "tab_and_newline"),
            ("..", FALLBACK_NAME),
            ("", FALLBACK_NAME),
            ("///", FALLBACK_NAME),
            (
                "資料/見積書 2026 (最終版)+v2.zip",
                "見積書 2026 (最終版)+v2.zip",
            ),
        ];
        for (hostile, safe) in cases {
            assert_eq!(safe_file_name(hostile), safe, "for {hostile:?}");
        }
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension_and_utf8() {
        let long = format!("{}.zip", "資".repeat(200));
        let safe = safe_file_name(&long);
        assert!(safe.len() <= MAX_NAME_BYTES, "{} bytes", safe.len());
        assert!(safe.ends_with("資.zip"), "{safe}");
    }

    #[test]
    fn numbered_alternatives_keep_the_extension() {
        assert_eq!(numbered("report.zip", 1), "report (1).zip");
        assert_eq!(numbered("README", 2), "README (2)");
        assert_eq!(numbered(".profile", 3), ".profile (3)");
    }
}
