//! One open handle per file per process.
//!
//! HDF5 shares a single file object between every handle of the same file.
//! With netCDF-C 4.9 and HDF5 1.10, closing one handle while another is open
//! leaves the other with stale state for variable-length (string) types, and
//! the next metadata call crashes the process (seen when two ingests of the
//! same file overlap). A second open of a file waits until the first is closed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};

type FileId = (u64, u64);

struct Registry {
    open: Mutex<HashSet<FileId>>,
    closed: Condvar,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry { open: Mutex::new(HashSet::new()), closed: Condvar::new() })
}

/// Held while a file is open; dropping it lets the next opener in.
#[derive(Debug)]
pub(crate) struct FileGuard(FileId);

impl FileGuard {
    /// Waits until no other handle of the file at `path` is open, then claims it.
    pub(crate) fn acquire(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let id = (meta.dev(), meta.ino());
        let r = registry();
        let mut open = r.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while open.contains(&id) {
            open = r.closed.wait(open).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        open.insert(id);
        Ok(Self(id))
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        let r = registry();
        let mut open = r.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        open.remove(&self.0);
        r.closed.notify_all();
    }
}
