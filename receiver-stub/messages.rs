//! Everything the recipient reads, in Japanese and English. The language follows the system
//! locale unless `--lang` says otherwise.

use chrono::{DateTime, Local, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// Japanese when the system locale is Japanese, English otherwise.
    pub fn from_system() -> Lang {
        match sys_locale::get_locale() {
            Some(locale) if locale.to_ascii_lowercase().starts_with("ja") => Lang::Ja,
            _ => Lang::En,
        }
    }
}

/// One sentence (or a few) for the recipient.
pub enum Msg<'a> {
    Title,
    UnpackedStub,
    PasswordPrompt,
    WrongPassword { attempts_left: u32 },
    TooManyAttempts,
    WrongPasswordOnce,
    NoTerminal,
    Damaged { detail: &'a str },
    NewerVersion,
    Expired { at: DateTime<Utc> },
    Unlocking,
    Details { file: &'a str, size: u64, from: &'a str, note: Option<&'a str>, until: DateTime<Utc> },
    DownloadUnavailable,
}

impl Msg<'_> {
    pub fn text(&self, lang: Lang) -> String {
        use Lang::{En, Ja};
        match (self, lang) {
            (Msg::Title, Ja) => "certdrop ファイルの受け取り".into(),
            (Msg::Title, En) => "certdrop file receiver".into(),
            (Msg::UnpackedStub, Ja) => "これは中身の入っていない certdrop 受信プログラムです。\
                送信者が作成した受信プログラムを送ってもらってください。"
                .into(),
            (Msg::UnpackedStub, En) => "This is the certdrop receiver without a transfer inside. \
                Ask the sender for the program they made for you."
                .into(),
            (Msg::PasswordPrompt, Ja) => "パスワード".into(),
            (Msg::PasswordPrompt, En) => "Password".into(),
            (Msg::WrongPassword { attempts_left }, Ja) => {
                format!("パスワードが違います。もう一度入力してください（あと {attempts_left} 回）。")
            }
            (Msg::WrongPassword { attempts_left }, En) => {
                format!("The password is wrong. Please try again ({attempts_left} attempts left).")
            }
            (Msg::TooManyAttempts, Ja) => "パスワードが 5 回続けて違いました。\
                送信者にパスワードを確認してから、もう一度このプログラムを実行してください。"
                .into(),
            (Msg::TooManyAttempts, En) => "The password was wrong five times. Check the password \
                with the sender, then run this program again."
                .into(),
            (Msg::WrongPasswordOnce, Ja) => "パスワードが違います。".into(),
            (Msg::WrongPasswordOnce, En) => "The password is wrong.".into(),
            (Msg::NoTerminal, Ja) => "パスワードを尋ねる画面がありません。\
                自動実行では --password-stdin を使ってください。"
                .into(),
            (Msg::NoTerminal, En) => "There is no terminal to ask for the password. \
                For automation, use --password-stdin."
                .into(),
            (Msg::Damaged { detail }, Ja) => format!(
                "このプログラムは壊れています（{detail}）。送信者にもう一度送ってもらってください。"
            ),
            (Msg::Damaged { detail }, En) => format!(
                "This program is damaged ({detail}). Ask the sender to send it again."
            ),
            (Msg::NewerVersion, Ja) => "このプログラムは新しい形式で作られています。\
                送信者に最新の certdrop で作り直してもらってください。"
                .into(),
            (Msg::NewerVersion, En) => "This program was made in a newer format. Ask the sender \
                to make it again with the current certdrop."
                .into(),
            (Msg::Expired { at }, Ja) => format!(
                "この転送は {} に有効期限が切れました。送信者にもう一度送ってもらってください。",
                local_time(*at)
            ),
            (Msg::Expired { at }, En) => format!(
                "This transfer expired on {}. Ask the sender to send the file again.",
                local_time(*at)
            ),
            (Msg::Unlocking, Ja) => "確認しています…".into(),
            (Msg::Unlocking, En) => "Checking the password…".into(),
            (Msg::Details { file, size, from, note, until }, lang) => {
                details(lang, file, *size, from, *note, *until)
            }
            (Msg::DownloadUnavailable, Ja) => "この版の受信プログラムはまだダウンロードできません。\
                --show で内容を確認できます。"
                .into(),
            (Msg::DownloadUnavailable, En) => "This receiver build cannot download yet; \
                --show displays the transfer."
                .into(),
        }
    }
}

fn details(
    lang: Lang,
    file: &str,
    size: u64,
    from: &str,
    note: Option<&str>,
    until: DateTime<Utc>,
) -> String {
    let labels = match lang {
        Lang::Ja => ["ファイル", "サイズ", "送信者", "メモ", "有効期限"],
        Lang::En => ["File", "Size", "From", "Note", "Available until"],
    };
    let width = labels.iter().map(|l| display_width(l)).max().unwrap_or(0);
    let line = |label: &str, value: &str| {
        let pad = " ".repeat(width - display_width(label));
        format!("  {label}{pad}  {value}\n")
    };
    let mut out = line(labels[0], file);
    out += &line(labels[1], &human_size(size));
    out += &line(labels[2], from);
    if let Some(note) = note {
        out += &line(labels[3], note);
    }
    out += &line(labels[4], &local_time(until));
    out
}

/// Columns a label takes in a terminal: CJK characters take two.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 }).sum()
}

/// `2.79 GiB (3,000,000,000 bytes)`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match unit {
        0 => format!("{grouped} bytes"),
        _ => format!("{value:.2} {} ({grouped} bytes)", UNITS[unit]),
    }
}

/// The time in the recipient's own time zone, with its offset so that it is never ambiguous.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%Y-%m-%d %H:%M (UTC%:z)").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1,023 bytes");
        assert_eq!(human_size(3_000_000_000), "2.79 GiB (3,000,000,000 bytes)");
    }

    #[test]
    fn every_message_exists_in_both_languages() {
        let at = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let messages = [
            Msg::Title,
            Msg::UnpackedStub,
            Msg::WrongPassword { attempts_left: 2 },
            Msg::TooManyAttempts,
            Msg::Damaged { detail: "x" },
            Msg::NewerVersion,
            Msg::Expired { at },
        ];
        for msg in messages {
            let (ja, en) = (msg.text(Lang::Ja), msg.text(Lang::En));
            assert!(ja.chars().any(|c| c as u32 > 0x3000), "not Japanese: {ja}");
            assert!(en.is_ascii(), "not plain English: {en}");
        }
    }
}
