//! `certdrop`: the sender's command line. IT runs `init` once; senders run `send` per recipient;
//! `pack` and `inspect` build and examine receiver programs.
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.

#![forbid(unsafe_code)]

mod carrier;
#[cfg(feature = "standins")]
mod demo;
mod identity;
mod inspect;
mod pack;
mod password;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "certdrop",
    version,
    about = "Send one large file from your own S3 bucket as a \
    single program the recipient double-clicks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a receiver program from a stub, a transfer manifest and a client identity.
    Pack(PackArgs),
    /// Tell what a program is and what it carries, without the password.
    Inspect(InspectArgs),
    /// Try the whole transfer on this computer with local stand-ins for AWS.
    #[cfg(feature = "standins")]
    Demo(DemoArgs),
}

#[derive(Args)]
pub struct DemoArgs {
    /// Type no password: hand the generated one to the receiver on standard input.
    #[arg(long)]
    non_interactive: bool,
    /// Size of the sample file, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    size_mib: u32,
}

#[derive(Args)]
pub struct PackArgs {
    /// The receiver stub (or an already packed program, whose envelope is replaced).
    #[arg(long, value_name = "STUB")]
    stub: PathBuf,
    /// The transfer description (JSON; see docs/FORMAT.md, section 1).
    #[arg(long, value_name = "JSON")]
    manifest: PathBuf,
    /// The client certificate (PEM).
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
    /// The client certificate's private key (PEM, unencrypted).
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    /// Read the transfer password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The program file to write.
    #[arg(long, value_name = "PROGRAM")]
    out: PathBuf,
    /// Replace PROGRAM if it exists.
    #[arg(long)]
    force: bool,
    /// Lower the key-derivation memory cost (MiB, at least 8) to make tests fast. Never use it
    /// for a real transfer: it makes guessing the password cheaper.
    #[arg(long, value_name = "N", hide = true)]
    kdf_memory_mib: Option<u32>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The program to examine.
    program: PathBuf,
    /// Also open the envelope (asks for the password) and show the transfer details.
    #[arg(long)]
    unlock: bool,
    /// With --unlock: read the password from the first line of standard input.
    #[arg(long, requires = "unlock")]
    password_stdin: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pack(args) => pack::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        #[cfg(feature = "standins")]
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("certdrop: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
