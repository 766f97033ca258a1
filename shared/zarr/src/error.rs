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

/// A zarrs array failure, kept apart by who can fix it: stored bytes that do
/// not decode (a damaged chunk, a missing object a manifest points at) are
/// corrupt data; storage that cannot be reached now is transient; a region or
/// shape that does not fit the array is the caller's.
pub(crate) fn array(context: &str, e: zarrs::array::ArrayError) -> RepoError {
    use zarrs::array::ArrayError;
    match e {
        ArrayError::StorageError(s) if is_corrupt_storage(&s) => RepoError::corrupt_because(context.to_string(), s),
        ArrayError::StorageError(s) => RepoError::unavailable(context.to_string(), s),
        ArrayError::CodecError(c) => RepoError::corrupt_because(format!("{context}: stored data does not decode"), c),
        e @ (ArrayError::UnexpectedChunkDecodedSize(..)
        | ArrayError::UnexpectedChunkDecodedShape(..)
        | ArrayError::InvalidBytesInputSize(..)) => RepoError::corrupt_because(context.to_string(), e),
        other => RepoError::Invalid(format!("{context}: {other}")),
    }
}

/// Whether a storage error says the stored data is damaged (see
/// [`classify_store`]), not that storage is unreachable.
pub(crate) fn is_corrupt_storage(e: &zarrs_storage::StorageError) -> bool {
    use zarrs_storage::StorageError;
    match e {
        StorageError::IOError(io) => io.kind() == std::io::ErrorKind::InvalidData,
        StorageError::InvalidMetadata(..) | StorageError::MissingMetadata(_) => true,
        _ => false,
    }
}

/// An Icechunk store error as a zarrs storage error that keeps the one
/// distinction callers need: damaged or missing stored objects (a manifest
/// or snapshot that does not deserialize, a chunk a manifest points at that is
/// gone) become `InvalidData` I/O errors, everything else stays transient.
pub(crate) fn classify_store(e: &icechunk::store::StoreError) -> zarrs_storage::StorageError {
    use icechunk::repository::RepositoryErrorKind as R;
    use icechunk::storage::StorageErrorKind as St;
    use icechunk::store::StoreErrorKind as S;
    let storage_corrupt = |k: &St| matches!(k, St::ObjectNotFound);
    let corrupt = match e.kind() {
        S::BadMetadata(_) | S::DeserializationError(_) | S::BadChunkGridMetadata(_) => true,
        S::SessionError(SessionErrorKind::FormatError(_) | SessionErrorKind::RepositoryError(R::FormatError(_))) => {
            true
        }
        S::SessionError(SessionErrorKind::StorageError(k)) => storage_corrupt(k),
        S::SessionError(SessionErrorKind::RepositoryError(R::StorageError(k))) => storage_corrupt(k),
        S::RepositoryError(R::FormatError(_) | R::DeserializationError(_)) => true,
        S::RepositoryError(R::StorageError(k)) => storage_corrupt(k),
        _ => false,
    };
    if corrupt {
        zarrs_storage::StorageError::IOError(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.to_string(),
        )))
    } else {
        zarrs_storage::StorageError::Other(e.to_string())
    }
}

/// A failure to open an array: storage trouble is transient, anything else
/// means the stored metadata is not what the hub wrote.
pub(crate) fn open(context: &str, e: zarrs::array::ArrayCreateError) -> RepoError {
    use zarrs::array::ArrayCreateError;
    match e {
        ArrayCreateError::StorageError(s) => RepoError::unavailable(context.to_string(), s),
        other => RepoError::corrupt_because(context.to_string(), other),
    }
}
