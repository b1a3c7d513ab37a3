//! Positioned reads and writes on the partial file, and the checks made before writing.

use std::fs::File;
use std::io;
use std::path::Path;

/// Writes all of `bytes` at `offset`, leaving other writers' offsets alone.
pub fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let (mut bytes, mut offset) = (bytes, offset);
        while !bytes.is_empty() {
            let written = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            bytes = &bytes[written..];
            offset += written as u64;
        }
        Ok(())
    }
}

/// Fills `buffer` from `offset`.
pub fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
    }
    #[cfg(windows)]
    {
        let (mut buffer, mut offset) = (buffer, offset);
        while !buffer.is_empty() {
            let read = std::os::windows::fs::FileExt::seek_read(file, buffer, offset)?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buffer = &mut buffer[read..];
            offset += read as u64;
        }
        Ok(())
    }
}

/// Bytes free for this user in the file system holding `dir`.
pub fn available_space(dir: &Path) -> io::Result<u64> {
    fs4::available_space(dir)
}

/// Whether an I/O error means the disk is full.
pub fn is_disk_full(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::StorageFull || error.raw_os_error() == Some(DISK_FULL_CODE)
}

/// Whether an I/O error means the file is larger than the file system allows (FAT32: 4 GiB).
pub fn is_file_too_large(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::FileTooLarge || error.raw_os_error() == Some(TOO_LARGE_CODE)
}

/// ENOSPC; ERROR_DISK_FULL on Windows.
#[cfg(unix)]
const DISK_FULL_CODE: i32 = 28;
#[cfg(windows)]
const DISK_FULL_CODE: i32 = 112;
/// EFBIG; ERROR_FILE_TOO_LARGE on Windows.
#[cfg(unix)]
const TOO_LARGE_CODE: i32 = 27;
#[cfg(windows)]
const TOO_LARGE_CODE: i32 = 223;
