//! A dataset's commit lock on a local folder, held across processes.
//!
//! Icechunk's local storage has no conditional writes: two processes that
//! commit to one repository at once can both succeed and one commit is lost.
//! Every write transaction on a folder-backed hub therefore holds an exclusive
//! advisory lock (`flock`) on `<root>/_locks/<dataset>.lock` from its start to
//! its commit. The operating system releases it when the holder exits, even
//! after a crash, so a killed ingest never leaves a dataset locked.

use std::fs::{File, OpenOptions};
use std::path::Path;

use hub_core::model::DatasetId;
use hub_core::ports::RepoError;

/// The folder holding the lock files (reserved: starts with `_`).
const LOCKS: &str = "_locks";

/// An exclusive lock on one dataset of a folder-backed hub; released on drop.
#[derive(Debug)]
pub(crate) struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Waits until this process holds the dataset's lock.
    pub(crate) async fn acquire(root: &Path, dataset: &DatasetId) -> Result<Self, RepoError> {
        let dir = root.join(LOCKS);
        let path = dir.join(format!("{dataset}.lock"));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| RepoError::unavailable(format!("creating {}", dir.display()), e))?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| RepoError::unavailable(format!("opening {}", path.display()), e))?;
            file.lock().map_err(|e| RepoError::unavailable(format!("locking {}", path.display()), e))?;
            Ok(Self { _file: file })
        })
        .await
        .map_err(|e| RepoError::corrupt_because("lock task failed", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let id = DatasetId::new("radar").unwrap_or_else(|e| panic!("{e}"));
        let first = FolderLock::acquire(dir.path(), &id).await.unwrap_or_else(|e| panic!("{e}"));
        let (root, id2) = (dir.path().to_path_buf(), id.clone());
        let second = tokio::spawn(async move { FolderLock::acquire(&root, &id2).await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the lock is exclusive");
        drop(first);
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), second).await;
        assert!(matches!(got, Ok(Ok(Ok(())))), "the waiter gets the lock once it is released");
    }
}
