//! Giving the verified file its name: never over another file, and recognising a copy that is
//! already there.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::safe_name::numbered;

/// How many `name (n).ext` alternatives are tried before giving up.
const MAX_ALTERNATIVES: u32 = 999;

/// Where the verified file ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placed {
    /// Saved under this name.
    Saved(PathBuf),
    /// A file with the same content was already there; nothing was written.
    AlreadyThere(PathBuf),
}

/// A file in `dir` named `name` or `name (n).ext` that already holds the expected content.
pub fn existing_copy(
    dir: &Path,
    name: &str,
    size: u64,
    sha256: &str,
) -> io::Result<Option<PathBuf>> {
    for n in 0..=MAX_ALTERNATIVES {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            numbered(name, n)
        };
        let path = dir.join(&candidate);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() == size => {
                if file_sha256(&path)? == sha256 {
                    return Ok(Some(path));
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Moves the verified partial file to the first free name among `name`, `name (1).ext`, …,
/// treating names that differ only in case as taken.
pub fn place(partial: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    let taken = names_in(dir)?;
    for n in 0..=MAX_ALTERNATIVES {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            numbered(name, n)
        };
        if taken.contains(&candidate.to_lowercase()) {
            continue;
        }
        let path = dir.join(&candidate);
        if claim(partial, &path)? {
            return Ok(path);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free file name is left",
    ))
}

/// Gives `partial` the name `path` unless something already has it.
fn claim(partial: &Path, path: &Path) -> io::Result<bool> {
    // A hard link fails when the name exists, so nothing is ever overwritten.
    match fs::hard_link(partial, path) {
        Ok(()) => {
            fs::remove_file(partial)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            // Limitation: file systems without hard links (FAT32) get a rename after a check,
            // so a file created in that instant by another program could be replaced.
            if path.exists() {
                return Ok(false);
            }
            fs::rename(partial, path)?;
            Ok(true)
        }
    }
}

/// Lower-cased names in `dir`.
fn names_in(dir: &Path) -> io::Result<std::collections::HashSet<String>> {
    let mut names = std::collections::HashSet::new();
    for entry in fs::read_dir(dir)? {
        names.insert(entry?.file_name().to_string_lossy().to_lowercase());
    }
    Ok(names)
}

/// The lowercase hex SHA-256 of a file.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_different_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("report.zip"), b"the recipient's own file").unwrap();
        fs::write(dir.path().join("REPORT (1).zip"), b"differs only in case").unwrap();
        let partial = dir.path().join("report.zip.certdrop-part");
        fs::write(&partial, b"downloaded").unwrap();

        let placed = place(&partial, dir.path(), "report.zip").unwrap();
        assert_eq!(placed, dir.path().join("report (2).zip"));
        assert_eq!(fs::read(&placed).unwrap(), b"downloaded");
        assert_eq!(
            fs::read(dir.path().join("report.zip")).unwrap(),
            b"the recipient's own file"
        );
        assert!(!partial.exists());
    }

    #[test]
    fn a_copy_with_the_same_content_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"other").unwrap();
        fs::write(dir.path().join("a (1).txt"), b"hello").unwrap();
        let sha = hex::encode(Sha256::digest(b"hello"));
        let found = existing_copy(dir.path(), "a.txt", 5, &sha).unwrap();
        assert_eq!(found, Some(dir.path().join("a (1).txt")));
        assert_eq!(existing_copy(dir.path(), "b.txt", 5, &sha).unwrap(), None);
    }
}
