//! How each failure reaches the recipient: one plain sentence in their language, the exit
//! code documented in `--help`, and the technical detail on a line of its own for IT.

use certdrop::credentials::CredentialsError;
use certdrop::download::DownloadError;
use certdrop::net::NetErrorKind;
use certdrop::s3::S3ErrorKind;

use crate::messages::{Lang, Msg};

/// The documented exit codes (`--help`, docs/recipient-guide.*.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Unexpected = 1,
    Usage = 2,
    WrongPassword = 3,
    Damaged = 4,
    Expired = 5,
    NotAllowed = 6,
    NotFound = 7,
    Network = 8,
    LocalFiles = 9,
    Integrity = 10,
}

/// A failure: the sentence for the recipient, the exit code, and what happened exactly.
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub detail: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: String) -> Self {
        Failure {
            exit,
            message,
            detail: None,
        }
    }

    fn with_detail(exit: Exit, message: String, detail: String) -> Self {
        Failure {
            exit,
            message,
            detail: Some(detail),
        }
    }

    pub fn damaged(lang: Lang, detail: String) -> Self {
        Failure::new(Exit::Damaged, Msg::Damaged { detail: &detail }.text(lang))
    }

    pub fn unexpected(lang: Lang, detail: String) -> Self {
        Failure::with_detail(Exit::Unexpected, Msg::Unexpected.text(lang), detail)
    }
}

pub fn from_credentials(lang: Lang, error: &CredentialsError) -> Failure {
    let (exit, msg) = match error {
        CredentialsError::Forbidden(_) => (Exit::NotAllowed, Msg::Revoked),
        CredentialsError::NotFound(_) => (Exit::NotFound, Msg::TransferGone),
        CredentialsError::RoleNotAssumable(..) => (Exit::NotAllowed, Msg::RoleProblem),
        CredentialsError::TlsRejected(_) => (Exit::Network, Msg::TlsRefused),
        CredentialsError::Identity(detail) => return Failure::damaged(lang, detail.clone()),
        CredentialsError::Server(..) => (Exit::Network, Msg::ServerFailing),
        _ => (Exit::Network, Msg::NoNetwork),
    };
    Failure::with_detail(exit, msg.text(lang), error.to_string())
}

pub fn from_download(lang: Lang, error: &DownloadError) -> Failure {
    let detail = error.to_string();
    let (exit, message) = match error {
        DownloadError::Credentials(error) => return from_credentials(lang, error),
        DownloadError::AccessDenied(_) => (Exit::NotAllowed, Msg::Revoked.text(lang)),
        DownloadError::NotFound(_) => (Exit::NotFound, Msg::TransferGone.text(lang)),
        DownloadError::NotTheSentObject(_)
        | DownloadError::ObjectChanged
        | DownloadError::Integrity => (Exit::Integrity, Msg::Integrity.text(lang)),
        DownloadError::DiskFull {
            needed,
            available,
            dir,
        } => {
            let dir = dir.display().to_string();
            let msg = Msg::DiskFull {
                needed: *needed,
                available: *available,
                dir: &dir,
            };
            (Exit::LocalFiles, msg.text(lang))
        }
        DownloadError::FileTooLarge { dir } => {
            let dir = dir.display().to_string();
            (Exit::LocalFiles, Msg::FileTooLarge { dir: &dir }.text(lang))
        }
        DownloadError::Io { path, .. } => {
            let path = path.display().to_string();
            (
                Exit::LocalFiles,
                Msg::CannotWrite { path: &path }.text(lang),
            )
        }
        DownloadError::Busy(_) => (Exit::Unexpected, Msg::Busy.text(lang)),
        DownloadError::GaveUp(last) => match last.kind {
            S3ErrorKind::Network(NetErrorKind::Connect) => {
                (Exit::Network, Msg::NoNetwork.text(lang))
            }
            S3ErrorKind::Network(NetErrorKind::Tls) => (Exit::Network, Msg::TlsRefused.text(lang)),
            _ => (Exit::Network, Msg::ServerFailing.text(lang)),
        },
        _ => (Exit::Unexpected, Msg::Unexpected.text(lang)),
    };
    Failure::with_detail(exit, message, detail)
}
