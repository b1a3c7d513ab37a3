//! The record of the key containers a run is using, kept on disk while it uses them, so that
//! the next run can delete them when this one was killed before it could.
//!
//! One file per run, `keys-<pid>-<time>-<n>.json`, in the record folder. The run holds an
//! exclusive lock on its file for as long as it lives, and the operating system releases that
//! lock when the process ends, however it ends: a record that can be locked belongs to a run
//! that is over.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Container;

const PREFIX: &str = "keys-";
const SUFFIX: &str = ".json";

/// A record this process holds locked, until it is removed or dropped. Dropping it without
/// [`Record::remove`] leaves the file for the next run (the lock goes with the handle).
#[derive(Debug)]
pub struct Record {
    path: PathBuf,
    _lock: File,
}

impl Record {
    /// Writes `containers` to a new record in `dir`. The file is written and locked under a
    /// temporary name and renamed when complete: a file with the final name is always whole.
    pub fn create(dir: &Path, containers: &[Container]) -> io::Result<Record> {
        fs::create_dir_all(dir)?;
        let stem = format!("{PREFIX}{}-{}", std::process::id(), unique_suffix());
        let temporary = dir.join(format!("{stem}.tmp"));
        let path = dir.join(format!("{stem}{SUFFIX}"));
        let written = write_locked(&temporary, containers)
            .and_then(|file| fs::rename(&temporary, &path).map(|()| file));
        match written {
            Ok(file) => Ok(Record { path, _lock: file }),
            Err(error) => {
                let _ = fs::remove_file(&temporary);
                Err(error)
            }
        }
    }

    /// Deletes the record: its containers are gone.
    pub fn remove(self) -> io::Result<()> {
        let Record { path, _lock } = self;
        drop(_lock);
        fs::remove_file(path)
    }
}

fn write_locked(path: &Path, containers: &[Container]) -> io::Result<File> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.lock()?;
    file.write_all(&serde_json::to_vec(containers)?)?;
    file.sync_all()?;
    Ok(file)
}

/// The time and a counter: unique within this process, and across processes with the pid.
fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What a run that is over left: its containers, and its record, now locked by this process.
#[derive(Debug)]
pub struct Leftover {
    pub containers: Vec<Container>,
    pub record: Record,
}

/// The records in `dir` whose runs are over. A record that does not parse lists nothing, so
/// removing it is all there is to do.
pub fn leftovers(dir: &Path) -> Vec<Leftover> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| claim(&entry.path()))
        .collect()
}

/// Locks and reads the record at `path`, unless its run is still alive (it holds the lock).
fn claim(path: &Path) -> Option<Leftover> {
    let name = path.file_name()?.to_str()?;
    if !name.starts_with(PREFIX) || !name.ends_with(SUFFIX) {
        return None;
    }
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    file.try_lock().ok()?;
    let mut text = Vec::new();
    file.read_to_end(&mut text).ok()?;
    let containers = serde_json::from_slice(&text).unwrap_or_default();
    let record = Record {
        path: path.to_path_buf(),
        _lock: file,
    };
    Some(Leftover { containers, record })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn containers() -> Vec<Container> {
        vec![
            Container::Legacy("{5A1E2F3B-0000-4C1D-9E8F-123456789ABC}".into()),
            Container::Cng("te-certdrop-key".into()),
        ]
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_live_runs_record_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let record = Record::create(dir.path(), &containers()).unwrap();
        assert!(leftovers(dir.path()).is_empty(), "its lock is held");
        assert_eq!(files(dir.path()).len(), 1, "{:?}", files(dir.path()));
        record.remove().unwrap();
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_finished_runs_record_lists_its_containers_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A run that was killed: its record stays, and nothing holds the lock any more.
        drop(Record::create(dir.path(), &containers()).unwrap());
        let mut found = leftovers(dir.path());
        assert_eq!(found.len(), 1);
        let leftover = found.pop().unwrap();
        assert_eq!(leftover.containers, containers());
        assert!(
            leftovers(dir.path()).is_empty(),
            "claimed by this caller now"
        );
        leftover.record.remove().unwrap();
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn damaged_or_foreign_files_are_handled_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keys-1-2-3.json"), b"\xff not json").unwrap();
        fs::write(dir.path().join("notes.txt"), b"someone else's file").unwrap();
        let found = leftovers(dir.path());
        assert_eq!(found.len(), 1, "only the record is claimed");
        assert!(found[0].containers.is_empty());
        assert!(leftovers(&dir.path().join("missing")).is_empty());
    }
}
