//! Reading the small files flowpi is pointed at (the configuration, the saved exporter state):
//! regular files only, at most a given size, and never blocking on what is not a file.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The open or the read failed (`NotFound` among them).
    Io(std::io::Error),
    /// A FIFO, a device, a socket: what it is.
    NotRegular(&'static str),
    /// More than the limit, in bytes.
    TooLarge(u64),
}

impl ReadError {
    pub fn not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(f, "not a regular file ({what})"),
            ReadError::TooLarge(max) => write!(f, "larger than {} bytes", max),
        }
    }
}

impl std::error::Error for ReadError {}

/// The whole of the regular file at `path` (symlinks followed), if it is at most `max` bytes.
///
/// Opened with O_NONBLOCK: a plain open of a FIFO waits for a writer, forever if none comes, and
/// this is done before the daemon answers anything. Then fstat on the open descriptor (not the
/// path, which could be swapped in between) refuses FIFOs, devices such as /dev/zero and sockets
/// before a byte is read; directories keep the usual EISDIR. Reading stops one byte past `max`,
/// so a file that grows while it is read still cannot take more memory than that.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let t = meta.file_type();
    if t.is_dir() {
        return Err(ReadError::Io(std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    if !t.is_file() {
        return Err(ReadError::NotRegular(if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        }));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_files_within_the_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_regular(&p, 5).unwrap(), b"12345");
        assert!(matches!(read_regular(&p, 4), Err(ReadError::TooLarge(4))));
        assert!(read_regular(&dir.path().join("none"), 5).unwrap_err().not_found());
        let e = read_regular(dir.path(), 5).unwrap_err();
        assert_eq!(e.to_string(), "Is a directory (os error 21)");
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(read_regular(&zero, 5).unwrap_err().to_string(), "not a regular file (a character device)");
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t = Instant::now();
        assert_eq!(read_regular(&p, 5).unwrap_err().to_string(), "not a regular file (a FIFO)");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
