//! `certdrop-receiver`: the program the recipient double-clicks. It finds the sealed envelope
//! inside its own file, asks for the password, and fetches the one file it was made for.

#![forbid(unsafe_code)]

mod messages;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use certdrop::container;
use certdrop::envelope::{Envelope, EnvelopeError, Payload};
use certdrop::secret::{read_password_line, Password};
use chrono::Utc;
use clap::Parser;
use messages::{Lang, Msg};

/// How many times the recipient may type the password before the program stops.
const PASSWORD_ATTEMPTS: u32 = 5;

#[derive(Parser)]
#[command(
    name = "certdrop-receiver",
    version,
    about = "Receives the one file this program was made for.",
    after_help = EXIT_CODES
)]
struct Args {
    /// Language of the messages (default: the system's).
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// Read the password from the first line of standard input (for automation).
    #[arg(long)]
    password_stdin: bool,
    /// Only unlock and show the transfer's details; do not download.
    #[arg(long)]
    show: bool,
    /// The folder to save the file in (default: your Downloads folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not wait for Enter before closing the window.
    #[arg(long)]
    no_pause: bool,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  done (or the file was already downloaded and verified)
  1  unexpected error
  2  wrong usage, or this is the receiver without a transfer inside
  3  wrong password
  4  this program is damaged
  5  the transfer has expired
  6  the transfer was revoked, or access is not allowed
  7  the transfer no longer exists
  8  network or TLS failure
  9  local file system problem (disk full, no permission, file too large)
 10  the file failed verification after retries";

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Exit {
    Unexpected = 1,
    Usage = 2,
    WrongPassword = 3,
    Damaged = 4,
    Expired = 5,
}

/// A failure: the sentence for the recipient and the exit code.
struct Failure {
    exit: Exit,
    message: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let lang = args.lang.unwrap_or_else(Lang::from_system);
    match run(&args, lang) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

fn run(args: &Args, lang: Lang) -> Result<(), Failure> {
    let fail = |exit, msg: Msg| Failure { exit, message: msg.text(lang) };

    // Find the envelope in this very program.
    let exe = std::env::current_exe()
        .map_err(|e| fail(Exit::Unexpected, Msg::Damaged { detail: &e.to_string() }))?;
    let bytes = match container::read_envelope(&exe) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(fail(Exit::Usage, Msg::UnpackedStub)),
        Err(e) => return Err(fail(Exit::Damaged, Msg::Damaged { detail: &e.to_string() })),
    };
    let envelope = Envelope::read(&bytes).map_err(|e| envelope_failure(&e, lang))?;

    // Unlock it, then check it is still valid.
    let payload = unlock(&envelope, args.password_stdin, lang)?;
    let info = &payload.info;
    println!("{}", Msg::Title.text(lang));
    print!(
        "{}",
        Msg::Details {
            file: &info.file_name,
            size: info.size,
            from: &info.sender,
            note: info.note.as_deref(),
            until: info.expires_at,
        }
        .text(lang)
    );
    if Utc::now() > info.expires_at {
        return Err(fail(Exit::Expired, Msg::Expired { at: info.expires_at }));
    }
    if args.show {
        return Ok(());
    }
    // Limitation: the download engine is not part of this build yet, so a packed receiver
    // can only show its transfer; it says so instead of pretending to download.
    Err(fail(Exit::Unexpected, Msg::DownloadUnavailable))
}

fn envelope_failure(error: &EnvelopeError, lang: Lang) -> Failure {
    match error {
        EnvelopeError::NewerVersion(_) => {
            Failure { exit: Exit::Damaged, message: Msg::NewerVersion.text(lang) }
        }
        EnvelopeError::WrongPassword => {
            Failure { exit: Exit::WrongPassword, message: Msg::WrongPasswordOnce.text(lang) }
        }
        other => Failure {
            exit: Exit::Damaged,
            message: Msg::Damaged { detail: &other.to_string() }.text(lang),
        },
    }
}

/// Opens the envelope: one attempt from standard input, or up to five at the terminal.
fn unlock(envelope: &Envelope, from_stdin: bool, lang: Lang) -> Result<Payload, Failure> {
    if from_stdin {
        let password = read_password_line(&mut std::io::stdin().lock())
            .map_err(|_| Failure { exit: Exit::Usage, message: Msg::NoTerminal.text(lang) })?;
        return envelope.open(&password).map_err(|e| envelope_failure(&e, lang));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure { exit: Exit::Usage, message: Msg::NoTerminal.text(lang) });
    }
    for attempt in 1..=PASSWORD_ATTEMPTS {
        let typed = dialoguer::Password::new()
            .with_prompt(Msg::PasswordPrompt.text(lang))
            .allow_empty_password(true)
            .interact()
            .map_err(|_| Failure { exit: Exit::Usage, message: Msg::NoTerminal.text(lang) })?;
        eprintln!("{}", Msg::Unlocking.text(lang));
        match envelope.open(&Password::new(typed)) {
            Err(EnvelopeError::WrongPassword) if attempt < PASSWORD_ATTEMPTS => {
                let attempts_left = PASSWORD_ATTEMPTS - attempt;
                eprintln!("{}", Msg::WrongPassword { attempts_left }.text(lang));
            }
            Err(EnvelopeError::WrongPassword) => {
                return Err(Failure {
                    exit: Exit::WrongPassword,
                    message: Msg::TooManyAttempts.text(lang),
                })
            }
            other => return other.map_err(|e| envelope_failure(&e, lang)),
        }
    }
    unreachable!("the last attempt returns inside the loop")
}
