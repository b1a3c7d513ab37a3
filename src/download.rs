//! The download engine: parallel signed ranged GETs written at their offsets into a partial
//! file, a resume state that survives the process being killed, SHA-256 computed while parts
//! arrive, and the verified file moved to its name only at the end.

mod file_io;
pub mod finish;
pub mod plan;
pub mod state;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::credentials::{CredentialsCache, CredentialsError};
use crate::s3::{ObjectHead, S3Error, S3ErrorKind, S3Object};
use crate::safe_name::safe_file_name;
use crate::sigv4::Credentials;
use crate::transfer::TransferInfo;
pub use finish::Placed;
use plan::Part;
use state::{ResumeState, PART_SUFFIX, STATE_SUFFIX};

/// Default number of parallel connections.
pub const DEFAULT_CONNECTIONS: usize = 8;
/// Failed attempts in a row, without a byte of progress, after which a part gives up.
const MAX_FAILURES: u32 = 10;
/// Failed attempts at the first request (HEAD) before the recipient is told: there is no
/// download to protect yet, so a missing network is reported within seconds.
const MAX_FIRST_FAILURES: u32 = 4;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How many times the whole file is fetched again after a failed verification.
const VERIFY_RETRIES: u32 = 1;

/// What to download where.
pub struct Job {
    pub info: TransferInfo,
    pub dir: PathBuf,
    pub connections: usize,
}

/// Follows the download; the receiver shows it as a progress bar or as plain lines.
pub trait Progress: Send + Sync {
    /// The download (re)starts with `done` of `total` bytes already on disk.
    fn start(&self, total: u64, done: u64);
    fn advance(&self, bytes: u64);
    /// Every byte is on disk; the last of the hashing is being finished.
    fn verifying(&self);
}

/// Why the download stopped. Each case maps to one exit code of the receiver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// 403 from S3: not allowed (revoked, or a permission missing).
    #[error("S3 refused access: {0}")]
    AccessDenied(S3Error),
    /// 404 from S3: the object is gone.
    #[error("the file is no longer on the server: {0}")]
    NotFound(S3Error),
    /// The object is not the one the envelope describes.
    #[error("the file on the server is not the one that was sent ({0})")]
    NotTheSentObject(String),
    /// The object changed during the download, more than once.
    #[error("the file on the server keeps changing during the download")]
    ObjectChanged,
    #[error("the downloaded file failed verification (its SHA-256 differs from the sender's)")]
    Integrity,
    #[error("not enough disk space: {needed} bytes needed, {available} available in {dir}")]
    DiskFull {
        needed: u64,
        available: u64,
        dir: PathBuf,
    },
    #[error("the file is larger than the file system of {dir} allows (FAT32 stops at 4 GiB)")]
    FileTooLarge { dir: PathBuf },
    #[error("could not write {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("another copy of this program is already downloading this file into {0}")]
    Busy(PathBuf),
    /// Retries ran out on a network or server failure; this was the last one.
    #[error("the download kept failing: {0}")]
    GaveUp(S3Error),
    /// A bug: something the engine relies on did not hold.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl DownloadError {
    fn io(path: &Path, source: io::Error) -> Self {
        if file_io::is_disk_full(&source) {
            let dir = path.parent().unwrap_or(path).to_path_buf();
            let available = file_io::available_space(&dir).unwrap_or(0);
            return DownloadError::DiskFull {
                needed: 0,
                available,
                dir,
            };
        }
        if file_io::is_file_too_large(&source) {
            return DownloadError::FileTooLarge {
                dir: path.parent().unwrap_or(path).into(),
            };
        }
        DownloadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A disk found full while writing needs room for the `remaining` bytes of the download,
    /// not the zero [`DownloadError::io`] knows of: the recipient is shown this number.
    fn needing(self, remaining: u64) -> Self {
        match self {
            DownloadError::DiskFull {
                needed: 0,
                available,
                dir,
            } => DownloadError::DiskFull {
                needed: remaining,
                available,
                dir,
            },
            other => other,
        }
    }
}

/// Downloads and verifies the transfer's object into `job.dir`.
pub async fn download(
    job: &Job,
    credentials: Arc<CredentialsCache>,
    object: Arc<S3Object>,
    progress: Arc<dyn Progress>,
) -> Result<Placed, DownloadError> {
    let info = &job.info;
    let name = safe_file_name(&info.file_name);
    std::fs::create_dir_all(&job.dir).map_err(|e| DownloadError::io(&job.dir, e))?;

    // A copy with the right content already there: nothing to do.
    let existing = finish::existing_copy(&job.dir, &name, info.size, &info.sha256)
        .map_err(|e| DownloadError::io(&job.dir, e))?;
    if let Some(path) = existing {
        return Ok(Placed::AlreadyThere(path));
    }

    // Nothing is written before the server has confirmed the transfer and its object.
    let mut head = head_object(job, &credentials, &object).await?;

    // Download, verify, and try once more if the object changed or failed verification.
    let mut session = Session::open(job, &name)?;
    let (mut changes, mut mismatches) = (0, 0);
    loop {
        match session
            .run(&head, job.connections, &object, &credentials, &progress)
            .await
        {
            Ok(digest) if digest == info.sha256 => {
                progress.verifying();
                return session.finish(&job.dir, &name);
            }
            Ok(_) if mismatches < VERIFY_RETRIES => {
                tracing::warn!("the downloaded file does not match its SHA-256; fetching it again");
                mismatches += 1;
                session.reset()?;
            }
            Ok(_) => {
                session.discard();
                return Err(DownloadError::Integrity);
            }
            Err(DownloadError::ObjectChanged) if changes < 1 => {
                tracing::warn!("the object changed during the download; starting over");
                changes += 1;
                head = head_object(job, &credentials, &object).await?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// One partial file and its resume state, locked against a second copy of the program.
struct Session {
    part_path: PathBuf,
    state_path: PathBuf,
    state: ResumeState,
    file: Arc<File>,
}

impl Session {
    /// Resumes this transfer's partial download in `job.dir`, or starts a new one.
    fn open(job: &Job, name: &str) -> Result<Self, DownloadError> {
        let info = &job.info;
        let found = state::find(&job.dir, &info.transfer_id)
            .filter(|(_, s)| s.sha256 == info.sha256 && s.size == info.size);
        let (state_path, state) = match found {
            Some((path, state)) => (path, state),
            None => new_state(job, name),
        };
        let part_path = job.dir.join(&state.part_file);
        check_space(&job.dir, &part_path, info.size)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part_path)
            .map_err(|e| DownloadError::io(&part_path, e))?;
        if file.try_lock().is_err() {
            return Err(DownloadError::Busy(job.dir.clone()));
        }
        let mut session = Session {
            part_path,
            state_path,
            state,
            file: Arc::new(file),
        };
        session.check_partial_file(job)?;
        Ok(session)
    }

    /// A partial file shorter than the object (or not ours) means its parts cannot be trusted.
    fn check_partial_file(&mut self, job: &Job) -> Result<(), DownloadError> {
        let size = job.info.size;
        let len = self
            .file
            .metadata()
            .map_err(|e| DownloadError::io(&self.part_path, e))?
            .len();
        if len != size && self.state.bytes_done() > 0 {
            tracing::debug!(
                len,
                size,
                "the partial file has the wrong size; starting over"
            );
            self.state.done = "0".repeat(self.state.done.len());
        }
        // Reserving the size up front catches FAT32's 4 GiB limit before any download.
        self.file
            .set_len(size)
            .map_err(|e| DownloadError::io(&self.part_path, e))
    }

    /// Downloads every missing part of the object version `head` and returns the hex SHA-256
    /// of the whole file.
    async fn run(
        &mut self,
        head: &ObjectHead,
        connections: usize,
        object: &Arc<S3Object>,
        credentials: &Arc<CredentialsCache>,
        progress: &Arc<dyn Progress>,
    ) -> Result<String, DownloadError> {
        if self.state.etag != head.etag {
            tracing::debug!(old = %self.state.etag, new = %head.etag, "a new object version");
            self.state.etag.clone_from(&head.etag);
            self.state.done = "0".repeat(self.state.done.len());
        }
        self.save()?;

        let state = &self.state;
        let parts = plan::parts(state.size, state.part_size);
        let parts_done = parts.iter().filter(|p| state.is_done(p.index)).count();
        if parts_done > 0 {
            let bytes = state.bytes_done();
            tracing::debug!(parts_done, bytes, "resuming the download");
        }
        let hasher = Hasher::spawn(Arc::clone(&self.file));
        hasher.advance(watermark(state, &parts));
        progress.start(state.size, state.bytes_done());

        let missing = parts.iter().filter(|p| !state.is_done(p.index)).copied();
        let shared = Arc::new(Worker {
            credentials: Arc::clone(credentials),
            object: Arc::clone(object),
            file: Arc::clone(&self.file),
            path: self.part_path.clone(),
            etag: state.etag.clone(),
            progress: Arc::clone(progress),
            queue: Mutex::new(missing.collect()),
        });
        self.fetch_parts(shared, connections, &parts, &hasher)
            .await?;
        let all_on_disk = std::time::Instant::now();
        let digest = hasher.finish(self.state.size)?;
        // bench/run reads this line to show how much hashing is left once the network is done.
        let hash_tail_seconds = all_on_disk.elapsed().as_secs_f64();
        tracing::debug!(hash_tail_seconds, "every part is on disk and hashed");
        Ok(digest)
    }

    /// Runs the workers, recording each finished part as it arrives.
    async fn fetch_parts(
        &mut self,
        shared: Arc<Worker>,
        connections: usize,
        parts: &[Part],
        hasher: &Hasher,
    ) -> Result<(), DownloadError> {
        let mut remaining = parts
            .iter()
            .filter(|p| !self.state.is_done(p.index))
            .count();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut workers = JoinSet::new();
        for _ in 0..connections.clamp(1, remaining.max(1)) {
            let (shared, done_tx) = (Arc::clone(&shared), done_tx.clone());
            workers.spawn(async move { shared.work(done_tx).await });
        }
        drop(done_tx);

        while remaining > 0 {
            match done_rx.recv().await {
                Some(Ok(index)) => {
                    self.state.mark_done(index);
                    let left = self.state.size - self.state.bytes_done();
                    self.save().map_err(|e| e.needing(left))?;
                    hasher.advance(watermark(&self.state, parts));
                    remaining -= 1;
                }
                Some(Err(error)) => {
                    workers.abort_all();
                    let left = self.state.size - self.state.bytes_done();
                    return Err(error.needing(left));
                }
                None => return Err(DownloadError::Internal("the download workers stopped")),
            }
        }
        Ok(())
    }

    fn save(&self) -> Result<(), DownloadError> {
        let path = &self.state_path;
        self.state
            .save(path)
            .map_err(|e| DownloadError::io(path, e))
    }

    /// Forgets every part, to fetch the whole file again.
    fn reset(&mut self) -> Result<(), DownloadError> {
        self.state.done = "0".repeat(self.state.done.len());
        self.state.etag.clear();
        self.save()
    }

    /// Names the verified file and removes the resume state.
    fn finish(self, dir: &Path, name: &str) -> Result<Placed, DownloadError> {
        // Close (and unlock) the file before it is renamed.
        drop(self.file);
        let placed =
            finish::place(&self.part_path, dir, name).map_err(|e| DownloadError::io(dir, e))?;
        let _ = std::fs::remove_file(&self.state_path);
        Ok(Placed::Saved(placed))
    }

    fn discard(self) {
        let _ = std::fs::remove_file(&self.state_path);
        let _ = std::fs::remove_file(&self.part_path);
    }
}

/// The object's current size and ETag; it must be the size the envelope promises.
async fn head_object(
    job: &Job,
    credentials: &Arc<CredentialsCache>,
    object: &Arc<S3Object>,
) -> Result<ObjectHead, DownloadError> {
    let head = with_credentials(credentials, |c| {
        let object = Arc::clone(object);
        async move { object.head(&c).await }
    })
    .await?;
    if head.size != job.info.size {
        let what = format!("{} bytes instead of {}", head.size, job.info.size);
        return Err(DownloadError::NotTheSentObject(what));
    }
    Ok(head)
}

/// Refuses to start when the folder cannot hold the rest of the file. A partial file already
/// at full size has its space (NTFS) or reports a full disk as it is written (sparse files).
fn check_space(dir: &Path, part_path: &Path, size: u64) -> Result<(), DownloadError> {
    let len = std::fs::metadata(part_path).map_or(0, |m| m.len());
    let needed = size.saturating_sub(len);
    let available = file_io::available_space(dir).unwrap_or(u64::MAX);
    if available < needed {
        return Err(DownloadError::DiskFull {
            needed,
            available,
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// A fresh state, with a partial file name no other download in the folder uses.
fn new_state(job: &Job, name: &str) -> (PathBuf, ResumeState) {
    let info = &job.info;
    let mut n = 0;
    let stem = loop {
        let stem = if n == 0 {
            name.to_owned()
        } else {
            crate::safe_name::numbered(name, n)
        };
        let taken = job.dir.join(format!("{stem}{PART_SUFFIX}")).exists()
            || job.dir.join(format!("{stem}{STATE_SUFFIX}")).exists();
        if !taken {
            break stem;
        }
        n += 1;
    };
    let part_size = plan::part_size(info.size, job.connections);
    let count = plan::parts(info.size, part_size).len();
    let part_file = format!("{stem}{PART_SUFFIX}");
    let state = ResumeState::new(
        &info.transfer_id,
        &info.sha256,
        info.size,
        "",
        part_size,
        &part_file,
        count,
    );
    (job.dir.join(format!("{stem}{STATE_SUFFIX}")), state)
}

/// Bytes from the start of the file that are all on disk.
fn watermark(state: &ResumeState, parts: &[Part]) -> u64 {
    parts
        .iter()
        .find(|p| !state.is_done(p.index))
        .map_or(state.size, |p| p.start)
}

/// What every download task shares.
struct Worker {
    credentials: Arc<CredentialsCache>,
    object: Arc<S3Object>,
    file: Arc<File>,
    path: PathBuf,
    etag: String,
    progress: Arc<dyn Progress>,
    queue: Mutex<VecDeque<Part>>,
}

impl Worker {
    /// Takes parts from the queue until it is empty, reporting each finished one.
    async fn work(&self, done: mpsc::UnboundedSender<Result<usize, DownloadError>>) {
        loop {
            let next = self
                .queue
                .lock()
                .expect("the queue lock is never poisoned")
                .pop_front();
            let Some(part) = next else { return };
            let result = self.fetch(part).await.map(|()| part.index);
            let failed = result.is_err();
            if done.send(result).is_err() || failed {
                return;
            }
        }
    }

    /// Fetches one part, resuming inside it after an interruption.
    async fn fetch(&self, part: Part) -> Result<(), DownloadError> {
        let mut offset = part.start;
        let mut failures = 0u32;
        loop {
            let credentials =
                fresh_credentials(&self.credentials, &mut failures, MAX_FAILURES).await?;
            let before = offset;
            let result = self.stream(&credentials, &mut offset, part.end).await;
            if offset > before {
                failures = 0;
            }
            let error = match result {
                Ok(()) => return Ok(()),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::S3(error)) => error,
            };
            failures += 1;
            tracing::debug!(part = part.index, offset, failures, %error, "retrying a part");
            if failures >= MAX_FAILURES {
                return Err(DownloadError::GaveUp(error));
            }
            self.recover(&error, &credentials, failures).await?;
        }
    }

    /// One ranged GET from `offset`, written as it arrives; `offset` follows the progress.
    async fn stream(
        &self,
        credentials: &Credentials,
        offset: &mut u64,
        end: u64,
    ) -> Result<(), Failure> {
        let mut response = self
            .object
            .get_range(credentials, *offset, end, &self.etag)
            .await?;
        while *offset < end {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Err(bad_response("the answer ended before its range did")),
                Err(e) => return Err(Failure::from(network_error(e))),
            };
            let usable = chunk.len().min((end - *offset) as usize);
            file_io::write_all_at(&self.file, &chunk[..usable], *offset)
                .map_err(|e| Failure::Fatal(DownloadError::io(&self.path, e)))?;
            *offset += usable as u64;
            self.progress.advance(usable as u64);
            if usable < chunk.len() {
                return Err(bad_response("the answer is longer than its range"));
            }
        }
        Ok(())
    }

    /// Decides, from a failed request, whether and when to try again.
    async fn recover(
        &self,
        error: &S3Error,
        credentials: &Credentials,
        failures: u32,
    ) -> Result<(), DownloadError> {
        match error.kind {
            S3ErrorKind::ExpiredToken => self.credentials.invalidate(credentials).await,
            S3ErrorKind::ClockSkew => {}
            S3ErrorKind::Throttled {
                retry_after: Some(wait),
            } => tokio::time::sleep(wait.min(MAX_BACKOFF)).await,
            _ => tokio::time::sleep(backoff(failures)).await,
        }
        Ok(())
    }
}

/// A failed ranged GET: either worth another attempt, or the end of the download.
enum Failure {
    S3(S3Error),
    Fatal(DownloadError),
}

impl From<S3Error> for Failure {
    fn from(error: S3Error) -> Self {
        match error.kind {
            kind if kind.is_retryable() => Failure::S3(error),
            S3ErrorKind::AccessDenied => Failure::Fatal(DownloadError::AccessDenied(error)),
            S3ErrorKind::NotFound => Failure::Fatal(DownloadError::NotFound(error)),
            S3ErrorKind::Changed => Failure::Fatal(DownloadError::ObjectChanged),
            _ => Failure::Fatal(DownloadError::GaveUp(error)),
        }
    }
}

fn bad_response(what: &str) -> Failure {
    Failure::S3(S3Error::bad_response(what))
}

fn network_error(error: reqwest::Error) -> S3Error {
    S3Error::network(crate::net::NetError::from_reqwest(error))
}

/// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s, … 30 s.
fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(500)
        .saturating_mul(1 << failures.min(6))
        .min(MAX_BACKOFF);
    let mut random = [0u8; 4];
    getrandom::getrandom(&mut random).expect("the operating system provides random numbers");
    ceiling.mul_f64(f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX))
}

/// Current credentials, waiting and retrying while the provider is briefly unavailable,
/// until `failures` reaches `limit`.
async fn fresh_credentials(
    cache: &CredentialsCache,
    failures: &mut u32,
    limit: u32,
) -> Result<Credentials, DownloadError> {
    loop {
        match cache.get().await {
            Ok(credentials) => return Ok(credentials),
            Err(error) if error.is_transient() && *failures + 1 < limit => {
                *failures += 1;
                tracing::debug!(%error, failures, "credentials provider unavailable; waiting");
                tokio::time::sleep(backoff(*failures)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Runs the first `request` with current credentials, retrying transient failures a few
/// times.
async fn with_credentials<T, F, Fut>(
    cache: &Arc<CredentialsCache>,
    request: F,
) -> Result<T, DownloadError>
where
    F: Fn(Credentials) -> Fut,
    Fut: std::future::Future<Output = Result<T, S3Error>>,
{
    let mut failures = 0;
    loop {
        let credentials = fresh_credentials(cache, &mut failures, MAX_FIRST_FAILURES).await?;
        let error = match request(credentials.clone()).await.map_err(Failure::from) {
            Ok(value) => return Ok(value),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::S3(error)) => error,
        };
        failures += 1;
        if failures >= MAX_FIRST_FAILURES {
            return Err(DownloadError::GaveUp(error));
        }
        match error.kind {
            S3ErrorKind::ExpiredToken => cache.invalidate(&credentials).await,
            S3ErrorKind::ClockSkew => {}
            _ => tokio::time::sleep(backoff(failures)).await,
        }
    }
}

/// SHA-256 of the partial file, computed on its own thread as the contiguous prefix of
/// finished parts grows: it reads what is already on disk (from the page cache, usually), so
/// memory stays bounded and the download never waits for it.
struct Hasher {
    watermark: std_mpsc::Sender<u64>,
    thread: std::thread::JoinHandle<io::Result<(u64, String)>>,
}

impl Hasher {
    fn spawn(file: Arc<File>) -> Self {
        let (watermark, updates) = std_mpsc::channel::<u64>();
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            let mut hashed = 0u64;
            let mut buffer = vec![0u8; 1024 * 1024];
            while let Ok(mut target) = updates.recv() {
                target = updates.try_iter().last().unwrap_or(target).max(target);
                while hashed < target {
                    let len = buffer.len().min((target - hashed) as usize);
                    file_io::read_exact_at(&file, &mut buffer[..len], hashed)?;
                    hasher.update(&buffer[..len]);
                    hashed += len as u64;
                }
            }
            Ok((hashed, hex::encode(hasher.finalize())))
        });
        Hasher { watermark, thread }
    }

    fn advance(&self, watermark: u64) {
        // The thread only stops on an I/O error, which `finish` reports.
        let _ = self.watermark.send(watermark);
    }

    /// The digest of the first `size` bytes, once the thread has caught up.
    fn finish(self, size: u64) -> Result<String, DownloadError> {
        drop(self.watermark);
        let result = self
            .thread
            .join()
            .expect("the hashing thread does not panic");
        let (hashed, digest) = result.map_err(|e| DownloadError::Io {
            path: PathBuf::from("the partial file"),
            source: e,
        })?;
        if hashed != size {
            return Err(DownloadError::Internal(
                "the hashing fell behind the download",
            ));
        }
        Ok(digest)
    }
}
