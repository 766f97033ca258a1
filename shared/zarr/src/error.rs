//! Icechunk and zarrs errors mapped into the repository port's errors.

use hub_core::ports::RepoError;
use icechunk::session::{SessionError, SessionErrorKind};

/// A storage-level failure (zarrs over the Icechunk store): transient.
pub(crate) fn storage(context: impl Into<String>, e: impl std::error::Error + Send + Sync + 'static) -> RepoError {
    RepoError::unavailable(context, e)
}

/// A failure of a commit: a conflict when another writer won, transient otherwise.
pub(crate) fn commit(e: SessionError) -> RepoError {
    match e.kind() {
        SessionErrorKind::Conflict { .. } | SessionErrorKind::RebaseFailed { .. } => RepoError::Conflict(e.to_string()),
        _ => RepoError::unavailable("commit", e),
    }
}

/// A zarrs array failure: codec and shape errors are bugs in the request,
/// storage errors are transient.
pub(crate) fn array(context: &str, e: zarrs::array::ArrayError) -> RepoError {
    use zarrs::array::ArrayError;
    match e {
        ArrayError::StorageError(s) => RepoError::unavailable(context.to_string(), s),
        other => RepoError::Invalid(format!("{context}: {other}")),
    }
}

/// A failure to open an array: storage trouble is transient, anything else
/// means the stored metadata is not what the hub wrote.
pub(crate) fn open(context: &str, e: zarrs::array::ArrayCreateError) -> RepoError {
    use zarrs::array::ArrayCreateError;
    match e {
        ArrayCreateError::StorageError(s) => RepoError::unavailable(context.to_string(), s),
        other => RepoError::Corrupt(format!("{context}: {other}")),
    }
}
