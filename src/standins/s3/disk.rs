//! The admin's shortcut to a bucket: s3s-fs keeps bucket `b`'s object `k` in the file
//! `<root>/b/k`, so test setup can put and read objects without signing anything.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::S3StandinError;
use crate::standins::random;

/// One bucket of an s3s-fs root, seen as files.
#[derive(Clone, Debug)]
pub struct DiskBucket {
    root: PathBuf,
    dir: PathBuf,
}

impl DiskBucket {
    pub fn new(root: &Path, bucket: &str) -> Self {
        DiskBucket {
            root: root.to_path_buf(),
            dir: root.join(bucket),
        }
    }

    /// Creates the bucket (its folder); an existing bucket is kept as it is.
    pub fn create(&self) -> Result<(), S3StandinError> {
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))
    }

    /// Writes the object whole. It appears at once: it is written beside the buckets, then
    /// renamed into place, so a concurrent GET never sees half of it.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), S3StandinError> {
        let path = self.object_path(key)?;
        let parent = path
            .parent()
            .expect("an object path lies inside the bucket folder");
        fs::create_dir_all(parent).map_err(io_error(parent))?;
        let staging = self
            .root
            .join(format!(".certdrop-put-{}", random::hex_id()));
        fs::write(&staging, bytes).map_err(io_error(&staging))?;
        fs::rename(&staging, &path).map_err(|source| {
            let _ = fs::remove_file(&staging);
            S3StandinError::Io {
                path: path.clone(),
                source,
            }
        })?;
        self.save_e_tag(key, bytes)
    }

    /// Records the object's ETag (its MD5, as S3 gives single-part objects) where s3s-fs
    /// keeps it. Without it s3s-fs hashes the whole object again for every request, which
    /// makes each ranged GET of a large object cost as much as reading all of it.
    fn save_e_tag(&self, key: &str, bytes: &[u8]) -> Result<(), S3StandinError> {
        use md5::Digest;
        let encode = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
        let bucket = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let bucket = bucket.expect("the bucket folder has a name");
        let name = format!(
            ".bucket-{}.object-{}.internal.json",
            encode(&bucket),
            encode(key)
        );
        let info = serde_json::json!({ "e_tag": hex::encode(md5::Md5::digest(bytes)) });
        let path = self.root.join(name);
        fs::write(&path, info.to_string()).map_err(io_error(&path))
    }

    /// The object's bytes, `None` when there is no such object.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3StandinError> {
        let path = self.object_path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(S3StandinError::Io { path, source }),
        }
    }

    /// The keys that start with `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, S3StandinError> {
        let mut keys = Vec::new();
        collect_keys(&self.dir, "", &mut keys)?;
        keys.retain(|key| key.starts_with(prefix));
        keys.sort();
        Ok(keys)
    }

    fn object_path(&self, key: &str) -> Result<PathBuf, S3StandinError> {
        if !is_storable_key(key) {
            return Err(S3StandinError::InvalidKey(key.to_owned()));
        }
        Ok(key
            .split('/')
            .fold(self.dir.clone(), |path, part| path.join(part)))
    }
}

/// A key maps to a file inside the bucket folder only when each `/`-separated part is a
/// plain file name.
fn is_storable_key(key: &str) -> bool {
    let plain = |part: &str| {
        !part.is_empty() && part != "." && part != ".." && !part.contains(['\\', '\0'])
    };
    key.split('/').all(plain)
}

/// Walks `dir`, adding every file as a key (`prefix` plus its `/`-joined relative path).
fn collect_keys(dir: &Path, prefix: &str, keys: &mut Vec<String>) -> Result<(), S3StandinError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(S3StandinError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        let kind = entry.file_type().map_err(io_error(&entry.path()))?;
        if kind.is_dir() {
            collect_keys(&entry.path(), &format!("{key}/"), keys)?;
        } else {
            keys.push(key);
        }
    }
    Ok(())
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> S3StandinError + '_ {
    move |source| S3StandinError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_list_round_trip_through_files() {
        let root = tempfile::tempdir().unwrap();
        let bucket = DiskBucket::new(root.path(), "drop");
        bucket.create().unwrap();
        bucket.put("transfers/a/report.zip", b"zip").unwrap();
        bucket.put("receipts/a/r.json", b"{}").unwrap();
        assert_eq!(
            bucket.get("transfers/a/report.zip").unwrap().unwrap(),
            b"zip"
        );
        assert_eq!(bucket.get("transfers/a/missing").unwrap(), None);
        assert_eq!(
            bucket.list("transfers/").unwrap(),
            ["transfers/a/report.zip"]
        );
        assert_eq!(bucket.list("").unwrap().len(), 2);
        assert!(root.path().join("drop/transfers/a/report.zip").is_file());
    }

    #[test]
    fn keys_that_would_leave_the_bucket_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let bucket = DiskBucket::new(root.path(), "drop");
        for key in ["../x", "a/../../x", "/abs", "a//b", "dir/", ""] {
            let refused = bucket.put(key, b"x");
            assert!(
                matches!(refused, Err(S3StandinError::InvalidKey(_))),
                "{key}"
            );
        }
    }
}
