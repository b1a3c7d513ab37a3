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
    Welcome,
    UnpackedStub,
    PasswordPrompt,
    WrongPassword {
        attempts_left: u32,
    },
    TooManyAttempts,
    WrongPasswordOnce,
    NoTerminal,
    Damaged {
        detail: &'a str,
    },
    NewerVersion,
    Expired {
        at: DateTime<Utc>,
    },
    Unlocking,
    Details {
        file: &'a str,
        size: u64,
        from: &'a str,
        note: Option<&'a str>,
        until: DateTime<Utc>,
    },
    Downloading {
        dir: &'a str,
    },
    Saved {
        path: &'a str,
    },
    AlreadyThere {
        path: &'a str,
    },
    Revoked,
    TransferGone,
    RoleProblem,
    NoNetwork,
    TlsRefused,
    ServerFailing,
    Integrity,
    DiskFull {
        needed: u64,
        available: u64,
        dir: &'a str,
    },
    FileTooLarge {
        dir: &'a str,
    },
    CannotWrite {
        path: &'a str,
    },
    Busy,
    Interrupted,
    Unexpected,
    PressEnter,
}

impl Msg<'_> {
    pub fn text(&self, lang: Lang) -> String {
        use Lang::{En, Ja};
        match (self, lang) {
            (Msg::Title, Ja) => "certdrop ファイルの受け取り".into(),
            (Msg::Title, En) => "certdrop file receiver".into(),
            (Msg::Welcome, Ja) => "送信者から別の方法（電話やチャットなど）で届いた\
                パスワードを入力してください。"
                .into(),
            (Msg::Welcome, En) => "Type the password the sender gave you separately (by phone, \
                chat or another message)."
                .into(),
            (Msg::UnpackedStub, Ja) => "これは中身の入っていない certdrop 受信プログラムです。\
                送信者が作成した受信プログラムを送ってもらってください。"
                .into(),
            (Msg::UnpackedStub, En) => "This is the certdrop receiver without a transfer inside. \
                Ask the sender for the program they made for you."
                .into(),
            (Msg::PasswordPrompt, Ja) => "パスワード".into(),
            (Msg::PasswordPrompt, En) => "Password".into(),
            (Msg::WrongPassword { attempts_left }, Ja) => {
                format!(
                    "パスワードが違います。もう一度入力してください（あと {attempts_left} 回）。"
                )
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
            (Msg::Damaged { detail }, En) => {
                format!("This program is damaged ({detail}). Ask the sender to send it again.")
            }
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
            (
                Msg::Details {
                    file,
                    size,
                    from,
                    note,
                    until,
                },
                lang,
            ) => details(lang, file, *size, from, *note, *until),
            (Msg::Downloading { dir }, Ja) => format!("{dir} に保存します。"),
            (Msg::Downloading { dir }, En) => format!("Saving to {dir}"),
            (Msg::Saved { path }, Ja) => {
                format!("完了しました。ファイルは確認済みで、ここに保存されています:\n  {path}")
            }
            (Msg::Saved { path }, En) => {
                format!("Done. The file is verified and saved here:\n  {path}")
            }
            (Msg::AlreadyThere { path }, Ja) => {
                format!("このファイルは受け取り済みです（内容も確認済み）:\n  {path}")
            }
            (Msg::AlreadyThere { path }, En) => {
                format!("You already have this file (its content is verified):\n  {path}")
            }
            (Msg::Revoked, Ja) => {
                "この転送は送信者によって取り消されたか、利用が許可されていません。\
                送信者に確認してください。"
                    .into()
            }
            (Msg::Revoked, En) => "The sender has cancelled this transfer, or it is not allowed. \
                Please check with the sender."
                .into(),
            (Msg::TransferGone, Ja) => "この転送はもうサーバーにありません。\
                送信者にもう一度送ってもらってください。"
                .into(),
            (Msg::TransferGone, En) => "This transfer is no longer on the server. \
                Ask the sender to send the file again."
                .into(),
            (Msg::RoleProblem, Ja) => {
                "サーバー側の設定に問題があり、ファイルにアクセスできません。\
                送信者（または送信者の IT 担当）に連絡してください。"
                    .into()
            }
            (Msg::RoleProblem, En) => "The server is not set up to give access to this file. \
                Please tell the sender (or their IT department)."
                .into(),
            (Msg::NoNetwork, Ja) => {
                "サーバーに接続できません。インターネット接続（プロキシの設定）を\
                確認してから、もう一度このプログラムを実行してください。途中から再開します。"
                    .into()
            }
            (Msg::NoNetwork, En) => "Could not reach the server. Check the internet connection \
                (and any proxy), then run this program again: the download will resume."
                .into(),
            (Msg::TlsRefused, Ja) => "安全な接続が確立できませんでした。転送が取り消されたか、\
                ネットワークが通信を妨げています。送信者に確認してください。"
                .into(),
            (Msg::TlsRefused, En) => "A secure connection could not be made. The transfer may \
                have been cancelled, or the network is blocking it. Please check with the sender."
                .into(),
            (Msg::ServerFailing, Ja) => "サーバーが応答しなくなりました。しばらくしてから\
                もう一度実行してください。途中から再開します。"
                .into(),
            (Msg::ServerFailing, En) => "The server kept failing. Try again later: the \
                download will resume where it stopped."
                .into(),
            (Msg::Integrity, Ja) => "受け取ったファイルが送信者のものと一致しませんでした。\
                送信者にもう一度送ってもらってください。"
                .into(),
            (Msg::Integrity, En) => "The received file does not match the sender's file. \
                Ask the sender to send it again."
                .into(),
            (
                Msg::DiskFull {
                    needed,
                    available,
                    dir,
                },
                Ja,
            ) => format!(
                "{dir} の空き容量が足りません（必要 {}、空き {}）。空きを作ってから\
                もう一度実行すると、途中から再開します。",
                short_size(*needed, Ja),
                short_size(*available, Ja)
            ),
            (
                Msg::DiskFull {
                    needed,
                    available,
                    dir,
                },
                En,
            ) => format!(
                "Not enough free space in {dir} ({} needed, {} free). Free some space and run \
                this program again: the download will resume.",
                short_size(*needed, En),
                short_size(*available, En)
            ),
            (Msg::FileTooLarge { dir }, Ja) => format!(
                "{dir} のドライブ（FAT32 など）はこの大きさのファイルを保存できません。\
                --out で別の保存先（NTFS のドライブなど）を指定してください。"
            ),
            (Msg::FileTooLarge { dir }, En) => format!(
                "The drive of {dir} (FAT32, for example) cannot hold a file this large. \
                Choose another folder with --out (an NTFS drive, for example)."
            ),
            (Msg::CannotWrite { path }, Ja) => format!(
                "{path} に書き込めません。保存先を --out で変えるか、権限を確認してください。"
            ),
            (Msg::CannotWrite { path }, En) => format!(
                "Cannot write {path}. Choose another folder with --out, or check its permissions."
            ),
            (Msg::Busy, Ja) => "このファイルは別のウィンドウで受け取り中です。".into(),
            (Msg::Busy, En) => "This file is already being received in another window.".into(),
            (Msg::Interrupted, Ja) => "中断しました。もう一度実行すると途中から再開します。".into(),
            (Msg::Interrupted, En) => {
                "Stopped. Run this program again to resume the download.".into()
            }
            (Msg::Unexpected, Ja) => "予期しないエラーが発生しました。".into(),
            (Msg::Unexpected, En) => "Something unexpected went wrong.".into(),
            (Msg::PressEnter, Ja) => "Enter キーを押すと閉じます。".into(),
            (Msg::PressEnter, En) => "Press Enter to close this window.".into(),
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
    out += &line(labels[1], &human_size(size, lang));
    out += &line(labels[2], from);
    if let Some(note) = note {
        out += &line(labels[3], note);
    }
    out += &line(labels[4], &local_time(until));
    out
}

/// Columns a label takes in a terminal: CJK characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

/// `2.79 GiB (3,000,000,000 bytes)`; in Japanese `2.79 GiB (3,000,000,000 バイト)`.
pub fn human_size(bytes: u64, lang: Lang) -> String {
    let exact = exact_size(bytes, lang);
    match scaled_size(bytes) {
        Some(scaled) => format!("{scaled} ({exact})"),
        None => exact,
    }
}

/// `1.25 GiB`, or the exact count below 1 KiB.
pub fn short_size(bytes: u64, lang: Lang) -> String {
    scaled_size(bytes).unwrap_or_else(|| exact_size(bytes, lang))
}

fn scaled_size(bytes: u64) -> Option<String> {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64 / 1024.0;
    if value < 1.0 {
        return None;
    }
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    Some(format!("{value:.2} {}", UNITS[unit]))
}

/// `3,000,000,000 bytes`.
fn exact_size(bytes: u64, lang: Lang) -> String {
    let digits = bytes.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match lang {
        Lang::Ja => format!("{grouped} バイト"),
        Lang::En => format!("{grouped} bytes"),
    }
}

/// The time in the recipient's own time zone, with its offset so that it is never ambiguous.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M (UTC%:z)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0, Lang::En), "0 bytes");
        assert_eq!(human_size(1023, Lang::En), "1,023 bytes");
        assert_eq!(human_size(1024, Lang::En), "1.00 KiB (1,024 bytes)");
        assert_eq!(
            human_size(3_000_000_000, Lang::En),
            "2.79 GiB (3,000,000,000 bytes)"
        );
        assert_eq!(
            human_size(3_000_000_000, Lang::Ja),
            "2.79 GiB (3,000,000,000 バイト)"
        );
        assert_eq!(short_size(5 << 20, Lang::Ja), "5.00 MiB");
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
            Msg::Revoked,
            Msg::TransferGone,
            Msg::NoNetwork,
            Msg::Integrity,
            Msg::DiskFull {
                needed: 1,
                available: 0,
                dir: "D",
            },
            Msg::Saved { path: "P" },
        ];
        for msg in messages {
            let (ja, en) = (msg.text(Lang::Ja), msg.text(Lang::En));
            assert!(ja.chars().any(|c| c as u32 > 0x3000), "not Japanese: {ja}");
            assert!(en.is_ascii(), "not plain English: {en}");
        }
    }
}
