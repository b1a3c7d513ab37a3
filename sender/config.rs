//! What `certdrop init` writes for each AWS profile, and the local transfer records beside it.
//!
//! Layout, in the platform's config folder (`~/.config/certdrop` on Linux,
//! `%APPDATA%\certdrop` on Windows):
//! - `profiles/<profile>.json`: the stack's names and endpoints ([`Settings`]);
//! - `transfers/<profile>/<transfer id>.json`: names and notes of one transfer
//!   ([`TransferRecord`]). AWS stays the source of truth; a record never holds a secret.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The settings `send` and the management commands need, written by `init`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub stack_name: String,
    pub region: String,
    pub bucket: String,
    pub role_alias: String,
    pub iot_policy: String,
    /// `https://<id>.credentials.iot.<region>.amazonaws.com`, or what `--credentials-endpoint`
    /// gave.
    pub credentials_endpoint: String,
    /// An extra trust anchor for the credentials endpoint (`--ca-file`), as PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// A folder holding receiver stubs (`certdrop-receiver.exe`, `certdrop-receiver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub_dir: Option<PathBuf>,
}

/// What this computer remembers about a transfer it sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub transfer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub file_name: String,
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub programs: Vec<PathBuf>,
}

/// The folder for one profile's files.
pub struct ConfigDir {
    root: PathBuf,
    profile: String,
}

impl ConfigDir {
    pub fn new(profile: &str) -> Result<Self> {
        let base = dirs::config_dir()
            .context("this system has no config folder (set HOME or XDG_CONFIG_HOME)")?;
        if profile.is_empty() || profile.contains(['/', '\\']) || profile.starts_with('.') {
            bail!("the AWS profile name {profile:?} cannot name a file");
        }
        Ok(ConfigDir {
            root: base.join("certdrop"),
            profile: profile.to_owned(),
        })
    }

    pub fn settings_path(&self) -> PathBuf {
        self.root
            .join("profiles")
            .join(format!("{}.json", self.profile))
    }

    /// The settings, or advice to run `certdrop init` when there are none.
    pub fn load(&self) -> Result<Settings> {
        let path = self.settings_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "certdrop is not set up for the AWS profile `{}` ({} is missing); run \
                 `certdrop init` first (IT does this once per account)",
                self.profile,
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; run `certdrop init` again to rewrite it",
                path.display()
            )
        })
    }

    /// The settings, if `init` ran before (a damaged file counts as none).
    pub fn load_existing(&self) -> Option<Settings> {
        let text = fs::read_to_string(self.settings_path()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the settings; tells whether anything changed.
    pub fn save(&self, settings: &Settings) -> Result<bool> {
        if self.load_existing().as_ref() == Some(settings) {
            return Ok(false);
        }
        let text = serde_json::to_string_pretty(settings).expect("settings serialize");
        write_atomically(&self.settings_path(), text.as_bytes())?;
        Ok(true)
    }

    fn records_dir(&self) -> PathBuf {
        self.root.join("transfers").join(&self.profile)
    }

    fn record_path(&self, transfer_id: &str) -> PathBuf {
        self.records_dir().join(format!("{transfer_id}.json"))
    }

    pub fn save_record(&self, record: &TransferRecord) -> Result<()> {
        let text = serde_json::to_string_pretty(record).expect("records serialize");
        write_atomically(&self.record_path(&record.transfer_id), text.as_bytes())
    }

    /// The record of a transfer, if this computer sent it.
    pub fn record(&self, transfer_id: &str) -> Option<TransferRecord> {
        if !is_transfer_id(transfer_id) {
            return None;
        }
        let text = fs::read_to_string(self.record_path(transfer_id)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn remove_record(&self, transfer_id: &str) -> Result<()> {
        if !is_transfer_id(transfer_id) {
            return Ok(());
        }
        match fs::remove_file(self.record_path(transfer_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context("removing the local transfer record"),
        }
    }
}

/// Certificate ids are hexadecimal; anything else cannot name a record.
pub fn is_transfer_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// Writes beside the destination, then renames: readers never see half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("config paths have a parent folder");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = fs::write(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_ids_that_could_escape_the_folder_are_refused() {
        assert!(is_transfer_id("0123abcdef"));
        for bad in ["", "../x", "a/b", "zz", "0123 4"] {
            assert!(!is_transfer_id(bad), "{bad}");
        }
    }
}
