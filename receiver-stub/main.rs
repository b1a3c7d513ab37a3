//! `certdrop-receiver`: the program the recipient double-clicks. It finds the sealed envelope
//! inside its own file, asks for the password, and fetches the one file it was made for.

// Only the Windows console calls need `unsafe` (see console.rs).
#![deny(unsafe_code)]

mod console;
mod failure;
mod messages;
mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certdrop::container;
use certdrop::credentials::{CredentialsCache, CredentialsClient};
use certdrop::download::{self, Job, Placed};
use certdrop::envelope::{Envelope, EnvelopeError, Payload};
use certdrop::s3::S3Object;
use certdrop::secret::{read_password_line, Password};
use certdrop::transfer::Endpoint;
use chrono::Utc;
use clap::Parser;
use failure::{Exit, Failure};
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
    /// Parallel connections.
    #[arg(long, default_value_t = download::DEFAULT_CONNECTIONS as u16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    connections: u16,
    /// Log what the program does (-v) and every request (-vv) to standard error.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
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

fn main() -> ExitCode {
    // Windows: delete the transfer keys a killed earlier run could not (see key_cleanup).
    certdrop::key_cleanup::remove_leftovers();
    let args = Args::parse();
    let lang = args.lang.unwrap_or_else(Lang::from_system);
    console::set_title(&Msg::Title.text(lang));
    init_logging(args.verbose);
    let code = match run(&args, lang) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            if let Some(detail) = &failure.detail {
                eprintln!("({detail})");
            }
            ExitCode::from(failure.exit as u8)
        }
    };
    if !args.no_pause && console::owns_window() {
        console::wait_for_enter(&Msg::PressEnter.text(lang));
    }
    code
}

/// Logs go to standard error, only when asked for, and only certdrop's own: they never hold
/// a secret (every secret type prints as redacted).
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "certdrop=debug",
        _ => "certdrop=trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn run(args: &Args, lang: Lang) -> Result<(), Failure> {
    let fail = |exit, msg: Msg| Failure::new(exit, msg.text(lang));

    // Find the envelope in this very program.
    let exe = std::env::current_exe().map_err(|e| Failure::unexpected(lang, e.to_string()))?;
    let bytes = match container::read_envelope(&exe) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(fail(Exit::Usage, Msg::UnpackedStub)),
        Err(e) => return Err(Failure::damaged(lang, e.to_string())),
    };
    let envelope = Envelope::read(&bytes).map_err(|e| envelope_failure(&e, lang))?;

    // Greet, unlock, then check the transfer is still valid.
    println!("{}", Msg::Title.text(lang));
    if !args.password_stdin {
        println!("{}", Msg::Welcome.text(lang));
    }
    let payload = unlock(&envelope, args.password_stdin, lang)?;
    let info = &payload.info;
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
        return Err(fail(
            Exit::Expired,
            Msg::Expired {
                at: info.expires_at,
            },
        ));
    }
    if args.show {
        return Ok(());
    }
    let dir = args.out.clone().unwrap_or_else(default_folder);
    println!(
        "{}",
        Msg::Downloading {
            dir: &dir.display().to_string()
        }
        .text(lang)
    );
    receive(payload, dir, usize::from(args.connections), lang)
}

/// The recipient's Downloads folder; a program opened from a mail or a zip runs from a
/// temporary folder, so its own folder is a poor default.
fn default_folder() -> PathBuf {
    dirs::download_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Credentials, download, verification, receipt.
fn receive(payload: Payload, dir: PathBuf, connections: usize, lang: Lang) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unexpected(lang, e.to_string()))?;
    runtime.block_on(async {
        let info = payload.info.clone();
        let endpoint = Endpoint::parse(&info.credentials_endpoint)
            .map_err(|e| Failure::damaged(lang, e.to_string()))?;
        let client = CredentialsClient::new(&endpoint, &info.role_alias, &payload)
            .map_err(|e| failure::from_credentials(lang, &e))?;
        drop(payload);
        let credentials = Arc::new(CredentialsCache::new(client));
        let http = certdrop::net::client(None, info.s3_trust_anchor(), connections)
            .map_err(|e| Failure::unexpected(lang, e.to_string()))?;
        let object = Arc::new(
            S3Object::new(http, &info, &info.key)
                .map_err(|e| Failure::damaged(lang, e.to_string()))?,
        );
        let display = Arc::new(progress::Display::new(lang));
        let job = Job {
            info: info.clone(),
            dir,
            connections,
        };

        let fetch = download::download(&job, credentials.clone(), object.clone(), display.clone());
        let placed = tokio::select! {
            placed = fetch => placed.map_err(|e| failure::from_download(lang, &e))?,
            _ = tokio::signal::ctrl_c() => {
                display.finish();
                return Err(Failure::new(Exit::Unexpected, Msg::Interrupted.text(lang)));
            }
        };
        display.finish();
        certdrop::receipt::write(&object, &info, &credentials).await;
        let message = match &placed {
            Placed::Saved(path) => Msg::Saved {
                path: &path.display().to_string(),
            }
            .text(lang),
            Placed::AlreadyThere(path) => Msg::AlreadyThere {
                path: &path.display().to_string(),
            }
            .text(lang),
        };
        println!("{message}");
        Ok(())
    })
}

fn envelope_failure(error: &EnvelopeError, lang: Lang) -> Failure {
    match error {
        EnvelopeError::NewerVersion(_) => Failure::new(Exit::Damaged, Msg::NewerVersion.text(lang)),
        EnvelopeError::WrongPassword => {
            Failure::new(Exit::WrongPassword, Msg::WrongPasswordOnce.text(lang))
        }
        other => Failure::damaged(lang, other.to_string()),
    }
}

/// Opens the envelope: one attempt from standard input, or up to five at the terminal.
fn unlock(envelope: &Envelope, from_stdin: bool, lang: Lang) -> Result<Payload, Failure> {
    if from_stdin {
        let password = read_password_line(&mut std::io::stdin().lock())
            .map_err(|_| Failure::new(Exit::Usage, Msg::NoTerminal.text(lang)))?;
        return envelope
            .open(&password)
            .map_err(|e| envelope_failure(&e, lang));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(Exit::Usage, Msg::NoTerminal.text(lang)));
    }
    for attempt in 1..=PASSWORD_ATTEMPTS {
        let typed = dialoguer::Password::new()
            .with_prompt(Msg::PasswordPrompt.text(lang))
            .allow_empty_password(true)
            .interact()
            .map_err(|_| Failure::new(Exit::Usage, Msg::NoTerminal.text(lang)))?;
        eprintln!("{}", Msg::Unlocking.text(lang));
        match envelope.open(&Password::new(typed)) {
            Err(EnvelopeError::WrongPassword) if attempt < PASSWORD_ATTEMPTS => {
                let attempts_left = PASSWORD_ATTEMPTS - attempt;
                eprintln!("{}", Msg::WrongPassword { attempts_left }.text(lang));
            }
            Err(EnvelopeError::WrongPassword) => {
                return Err(Failure::new(
                    Exit::WrongPassword,
                    Msg::TooManyAttempts.text(lang),
                ))
            }
            other => return other.map_err(|e| envelope_failure(&e, lang)),
        }
    }
    unreachable!("the last attempt returns inside the loop")
}
