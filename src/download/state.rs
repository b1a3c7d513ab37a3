//! The resume state: which parts of which object are already in the partial file. It is
//! replaced atomically after every finished part, so that a killed download resumes having
//! lost at most the parts that were in flight.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Saved next to the partial file as `<name>.certdrop-state` (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeState {
    pub version: u32,
    pub transfer_id: String,
    /// The SHA-256 the envelope promises: a state for another object is not used.
    pub sha256: String,
    pub size: u64,
    /// The object's ETag when the download started; parts of another version are not mixed.
    pub etag: String,
    pub part_size: u64,
    /// The partial file's name, in the same folder.
    pub part_file: String,
    /// One character per part: `1` done, `0` not yet.
    pub done: String,
}

pub const STATE_SUFFIX: &str = ".certdrop-state";
pub const PART_SUFFIX: &str = ".certdrop-part";
const VERSION: u32 = 1;

impl ResumeState {
    pub fn new(
        transfer_id: &str,
        sha256: &str,
        size: u64,
        etag: &str,
        part_size: u64,
        part_file: &str,
        parts: usize,
    ) -> Self {
        ResumeState {
            version: VERSION,
            transfer_id: transfer_id.to_owned(),
            sha256: sha256.to_owned(),
            size,
            etag: etag.to_owned(),
            part_size,
            part_file: part_file.to_owned(),
            done: "0".repeat(parts),
        }
    }

    pub fn is_done(&self, index: usize) -> bool {
        self.done.as_bytes().get(index) == Some(&b'1')
    }

    pub fn mark_done(&mut self, index: usize) {
        self.done.replace_range(index..=index, "1");
    }

    pub fn bytes_done(&self) -> u64 {
        let full = (0..self.done.len()).filter(|i| self.is_done(*i));
        full.map(|i| (self.size - i as u64 * self.part_size).min(self.part_size))
            .sum()
    }

    /// Reads a state file; `None` when it is missing, unreadable or of another version.
    pub fn load(path: &Path) -> Option<Self> {
        let text = fs::read_to_string(path).ok()?;
        let state: ResumeState = serde_json::from_str(&text).ok()?;
        let parts = state.size.div_ceil(state.part_size.max(1)) as usize;
        let valid = state.version == VERSION
            && state.part_size > 0
            && state.done.len() == parts
            && state.done.bytes().all(|b| b == b'0' || b == b'1');
        valid.then_some(state)
    }

    /// Replaces the state file atomically: a temporary file, then a rename.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let temporary = path.with_extension("certdrop-state-new");
        let mut file = fs::File::create(&temporary)?;
        file.write_all(
            serde_json::to_string(self)
                .expect("the state serializes")
                .as_bytes(),
        )?;
        drop(file);
        fs::rename(&temporary, path)
    }
}

/// The state file in `dir` that belongs to `transfer_id`, if any.
pub fn find(dir: &Path, transfer_id: &str) -> Option<(PathBuf, ResumeState)> {
    let entries = fs::read_dir(dir).ok()?;
    entries.flatten().map(|e| e.path()).find_map(|path| {
        let name = path.file_name()?.to_str()?;
        if !name.ends_with(STATE_SUFFIX) {
            return None;
        }
        let state = ResumeState::load(&path)?;
        (state.transfer_id == transfer_id).then_some((path, state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_save_and_load_and_is_found_by_transfer_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = ResumeState::new("t-1", "ab", 10 * 1024 + 5, "\"e\"", 1024, "f.part", 11);
        state.mark_done(3);
        state.mark_done(10);
        assert_eq!(state.bytes_done(), 1024 + 5);
        let path = dir.path().join(format!("f{STATE_SUFFIX}"));
        state.save(&path).unwrap();
        assert_eq!(ResumeState::load(&path).as_ref(), Some(&state));
        assert_eq!(find(dir.path(), "t-1").map(|(_, s)| s), Some(state));
        assert!(find(dir.path(), "t-2").is_none());
    }

    #[test]
    fn damaged_state_is_ignored_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.certdrop-state");
        let mut state = ResumeState::new("t", "ab", 3000, "e", 1024, "x.part", 3);
        state.done = "01".into(); // one part short
        state.save(&path).unwrap();
        assert!(ResumeState::load(&path).is_none());
        fs::write(&path, b"{ not json").unwrap();
        assert!(ResumeState::load(&path).is_none());
    }
}
