//! `certdrop`: the sender's command line. IT runs `init` once; senders run `send` per recipient;
//! `pack` and `inspect` build and examine receiver programs.
//!
//! Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.

#![forbid(unsafe_code)]

mod aws;
mod carrier;
mod config;
mod delivery;
#[cfg(feature = "standins")]
mod demo;
mod identity;
mod init;
mod inspect;
mod manage;
mod pack;
mod password;
mod send;
mod upload;

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
    /// Debug logs on standard error (never a secret).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy certdrop's AWS resources (IT, once per account and region).
    Init(InitArgs),
    /// Send one file: upload it, issue a certificate, write the recipient's program.
    Send(SendArgs),
    /// The transfers, with their state and whether they were downloaded.
    List(ListArgs),
    /// One transfer in detail, with its receipts.
    Status(StatusArgs),
    /// Stop a transfer: its program gets no new credentials.
    Revoke(RevokeArgs),
    /// Remove a transfer: certificate, file and receipts.
    Delete(DeleteArgs),
    /// Delete every transfer past its expiry.
    Sweep(SweepArgs),
    /// Build a receiver program from a stub, a transfer manifest and a client identity.
    Pack(PackArgs),
    /// Tell what a program is and what it carries, without the password.
    Inspect(InspectArgs),
    /// Try the whole transfer on this computer with local stand-ins for AWS.
    #[cfg(feature = "standins")]
    Demo(DemoArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Use this existing bucket (certdrop's lifecycle rules are added to its own).
    #[arg(long, value_name = "NAME", conflicts_with = "create_bucket")]
    bucket: Option<String>,
    /// Create this bucket with certdrop's settings.
    #[arg(long, value_name = "NAME")]
    create_bucket: Option<String>,
    /// The CloudFormation stack's name (at most 30 characters).
    #[arg(long, default_value = "certdrop", value_name = "NAME")]
    stack_name: String,
    /// How long a recipient's credentials live, in hours (1 to 12).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=12))]
    credential_hours: u8,
    /// Print the template for review and stop.
    #[arg(long)]
    print_template: bool,
    /// The IoT credentials endpoint receivers use (default: from iot:DescribeEndpoint).
    #[arg(long, value_name = "URL")]
    credentials_endpoint: Option<String>,
    /// An extra trust anchor (PEM) for a private or test credentials endpoint.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// A folder holding the receiver stubs (certdrop-receiver.exe, certdrop-receiver).
    #[arg(long, value_name = "DIR")]
    stub_dir: Option<PathBuf>,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

/// A platform a receiver program can be packed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    #[value(name = "windows-x86_64")]
    WindowsX86_64,
    #[value(name = "linux-x86_64")]
    LinuxX86_64,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::WindowsX86_64 => "windows-x86_64",
            Platform::LinuxX86_64 => "linux-x86_64",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Platform::WindowsX86_64 => ".exe",
            Platform::LinuxX86_64 => "",
        }
    }

    pub fn stub_name(self) -> &'static str {
        match self {
            Platform::WindowsX86_64 => "certdrop-receiver.exe",
            Platform::LinuxX86_64 => "certdrop-receiver",
        }
    }
}

#[derive(Args)]
pub struct SendArgs {
    /// The file to send, or an object already in S3 (s3://bucket/key), copied server side.
    #[arg(value_name = "FILE")]
    file: String,
    /// Who receives it (kept in the local record).
    #[arg(long, value_name = "NAME")]
    to: Option<String>,
    /// Who sends it, as the recipient's program shows it (default: your user name).
    #[arg(long, value_name = "NAME")]
    from: Option<String>,
    /// A note the recipient's program shows.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// How long the transfer lives: hours or days, such as 12h or 7d (at most 30d).
    #[arg(long, default_value = "7d", value_name = "TIME")]
    expires: String,
    /// The recipient's platform (repeat for several programs).
    #[arg(long, value_enum, value_name = "PLATFORM")]
    platform: Vec<Platform>,
    /// The receiver stub to pack (default: next to certdrop or in the configured folder).
    #[arg(long, value_name = "PATH")]
    stub: Option<PathBuf>,
    /// The folder to write the program into (default: the current folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Use the first line of standard input as the password instead of a generated one.
    #[arg(long, conflicts_with = "password_prompt")]
    password_stdin: bool,
    /// Type the password (twice) instead of using a generated one.
    #[arg(long)]
    password_prompt: bool,
    /// Also write a zip holding the program and a short read-me for the recipient.
    #[arg(long)]
    zip: bool,
    /// Also put the program (or the zip) in the bucket and print a pre-signed HTTPS link to
    /// it (at most 7 days, and no longer than your own AWS credentials live).
    #[arg(long)]
    link: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Parts uploaded at once.
    #[arg(long, default_value_t = upload::DEFAULT_PARALLEL, value_name = "N",
          value_parser = parse_parallel)]
    parallel: usize,
    /// Lower the key-derivation memory cost (MiB) to make tests fast; never for real use.
    #[arg(long, value_name = "N", hide = true)]
    kdf_memory_mib: Option<u32>,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

fn parse_parallel(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=32).contains(&n) => Ok(n),
        _ => Err("give a number from 1 to 32".to_owned()),
    }
}

#[derive(Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The transfer id (or its start, as `list` shows it).
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

#[derive(Args)]
pub struct RevokeArgs {
    /// The transfer id (or its start).
    id: String,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The transfer id (or its start).
    id: String,
    /// Keep the file in the bucket (the lifecycle rule still removes it later).
    #[arg(long)]
    keep_object: bool,
    #[command(flatten)]
    aws: aws::AwsArgs,
}

#[derive(Args)]
pub struct SweepArgs {
    /// Only say what would be deleted.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    aws: aws::AwsArgs,
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
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Send(args) => send::run(&args),
        Command::List(args) => manage::list(&args),
        Command::Status(args) => manage::status(&args),
        Command::Revoke(args) => manage::revoke(&args),
        Command::Delete(args) => manage::delete(&args),
        Command::Sweep(args) => manage::sweep(&args),
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

/// `-v`: certdrop's debug logs and the AWS SDK's info logs on standard error. No log line
/// holds a secret: passwords, keys and credentials are never passed to `tracing`.
fn init_logging(verbose: bool) {
    if !verbose {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,certdrop=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
