//! How an ingest ends when it does not commit: a *rejection* (the file can
//! never be ingested as it is: reported, acknowledged, not retried) with a
//! typed kind, or a *transient* error (storage, conflicts, local disk: the
//! upload is tried again). Every adapter error is sorted into one of the two
//! here, in one place.

use super::append::AppendError;
use crate::ports::{DecodeError, RepoError, ReportError};

/// A failure that may go away if the ingest is tried again (storage
/// unavailable, commit conflict, local disk trouble). Permanent failures are not
/// errors: they end in a `Rejected` report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The repository failed transiently.
    #[error(transparent)]
    Repository(#[from] RepoError),
    /// Reading the staged file failed transiently.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The failure report could not be stored.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A derived product could not be updated for now (its store is unavailable).
    #[error("updating the derived products: {0}")]
    Derived(#[source] crate::derived::DerivationError),
    /// A worker thread of the ingest failed (not a panic: those are rejections).
    #[error("{doing}: the worker thread failed")]
    Worker {
        /// What the thread was doing.
        doing: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Why a file was rejected, as reports name it (`error.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The format is known; something in the file is not supported.
    Unsupported,
    /// Damaged, truncated or not what its header says.
    Corrupt,
    /// No decoder recognises the file.
    UnknownFormat,
    /// A read outside the schema (a decoder bug).
    InvalidRequest,
    /// Declares more than the hub's limits.
    TooLarge,
    /// The decoder crashed or panicked on it.
    DecoderCrashed,
    /// Decoding took longer than its limit.
    Timeout,
    /// Reading the staged copy failed for good.
    Io,
    /// The file's own values are wrong (a growing axis with repeats).
    Invalid,
    /// The file does not fit its dataset (another grid, type, packing).
    Mismatch,
    /// The repository refused the write for good.
    Repository,
    /// The repository's stored data cannot be read back.
    RepositoryCorrupt,
    /// The hub's own arithmetic failed on the file (a bug; reported, not retried).
    Internal,
    /// The object was deleted before it could be fetched.
    Gone,
    /// The object was replaced before it could be fetched.
    Superseded,
    /// The dataset configuration names no dataset for the key.
    DatasetRule,
    /// An earlier attempt died on the upload (out of memory, time-out).
    IngestDied,
}

impl RejectionKind {
    /// The kind as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "unsupported",
            Self::Corrupt => "corrupt",
            Self::UnknownFormat => "unknown_format",
            Self::InvalidRequest => "invalid_request",
            Self::TooLarge => "too_large",
            Self::DecoderCrashed => "decoder_crashed",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Invalid => "invalid",
            Self::Mismatch => "mismatch",
            Self::Repository => "repository",
            Self::RepositoryCorrupt => "repository_corrupt",
            Self::Internal => "internal",
            Self::Gone => "gone",
            Self::Superseded => "superseded",
            Self::DatasetRule => "dataset_rule",
            Self::IngestDied => "ingest_died",
        }
    }

    /// The kind of a decoder's permanent error.
    pub fn of_decode(e: &DecodeError) -> Self {
        match e {
            DecodeError::Unsupported(_) => Self::Unsupported,
            DecodeError::Corrupt(_) => Self::Corrupt,
            DecodeError::UnknownFormat { .. } => Self::UnknownFormat,
            DecodeError::InvalidRequest(_) => Self::InvalidRequest,
            DecodeError::TooLarge(_) => Self::TooLarge,
            DecodeError::Crashed(_) => Self::DecoderCrashed,
            DecodeError::TimedOut(_) => Self::Timeout,
            _ => Self::Io,
        }
    }
}

impl std::fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended when it did not commit.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Reported and acknowledged.
    Permanent {
        /// Why.
        kind: RejectionKind,
        /// What went wrong and what to do about it.
        message: String,
    },
    /// Tried again.
    Transient(IngestError),
}

impl Failure {
    pub(crate) fn permanent(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self::Permanent { kind, message: message.into() }
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        if e.is_transient() {
            return Self::Transient(e.into());
        }
        // Every rejection says what to do; a damaged file whose decoder's
        // words do not, gets the one thing there is to do.
        let mut message = e.to_string();
        if matches!(e, DecodeError::Corrupt(_)) && !message.contains("upload it again") {
            message.push_str(
                "; the file is damaged: check it with its format's tools (ncdump -h, gdalinfo, grib_ls) and upload it again",
            );
        }
        Self::permanent(RejectionKind::of_decode(&e), message)
    }
}

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Self {
        if e.is_transient() {
            return Self::Transient(e.into());
        }
        let kind = match e {
            RepoError::Invalid(_) => RejectionKind::Invalid,
            RepoError::Corrupt { .. } => RejectionKind::RepositoryCorrupt,
            _ => RejectionKind::Repository,
        };
        Self::permanent(kind, crate::error_chain(&e))
    }
}

impl From<crate::derived::DerivationError> for Failure {
    fn from(e: crate::derived::DerivationError) -> Self {
        match e {
            crate::derived::DerivationError::Repository(e) => Self::from(e),
            e if e.is_transient() => Self::Transient(IngestError::Derived(e)),
            e => Self::permanent(
                RejectionKind::Internal,
                format!("the derived products could not be updated: {}", crate::error_chain(&e)),
            ),
        }
    }
}

impl From<IngestError> for Failure {
    fn from(e: IngestError) -> Self {
        Self::Transient(e)
    }
}

/// A worker thread that panicked (a binding's own `unwrap` on a damaged
/// file): the file fails the same way every time, so it is a permanent,
/// reported rejection, never a retry. A thread cancelled at shutdown is transient.
pub(crate) fn worker_died(doing: &'static str, e: tokio::task::JoinError) -> Failure {
    if e.is_panic() {
        let payload = e.into_panic();
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Failure::from(DecodeError::Crashed(format!(
            "the decoder panicked {doing} ({why}); the file is damaged or uses something its library cannot read"
        )))
    } else {
        Failure::Transient(IngestError::Worker { doing, source: e })
    }
}

/// A growing axis that cannot be merged: the file's own values are wrong
/// (not finite, repeated: the same for a first file and an append), or they
/// do not fit the dataset's.
pub(crate) fn axis_failure(e: AppendError) -> Failure {
    match e {
        AppendError::NotFinite { .. } | AppendError::Repeated { .. } => Failure::permanent(
            RejectionKind::Invalid,
            format!(
                "{e}; a growing axis must hold finite values without repeats: fix the file's coordinate and upload it again"
            ),
        ),
        other => mismatch(other.to_string()),
    }
}

/// A file that does not fit its dataset, with what to do about it.
pub(crate) fn mismatch(message: String) -> Failure {
    Failure::permanent(
        RejectionKind::Mismatch,
        format!("{message}; to keep it, ingest it into a dataset of its own (a dataset rule or --dataset)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_keep_their_report_kinds() {
        for (e, kind) in [
            (DecodeError::Corrupt("x".into()), "corrupt"),
            (DecodeError::Unsupported("x".into()), "unsupported"),
            (DecodeError::TooLarge("x".into()), "too_large"),
            (DecodeError::Crashed("x".into()), "decoder_crashed"),
            (DecodeError::TimedOut("x".into()), "timeout"),
        ] {
            assert_eq!(RejectionKind::of_decode(&e).as_str(), e.kind(), "{e}");
            assert_eq!(RejectionKind::of_decode(&e).as_str(), kind);
        }
    }

    #[test]
    fn a_corrupt_file_is_told_what_to_do_and_io_is_retried() {
        let Failure::Permanent { kind, message } = Failure::from(DecodeError::Corrupt("bad header".into())) else {
            panic!("permanent")
        };
        assert_eq!(kind, RejectionKind::Corrupt);
        assert!(message.contains("upload it again"), "{message}");
        let io = DecodeError::Io(std::io::Error::other("disk"));
        assert!(matches!(Failure::from(io), Failure::Transient(_)));
    }
}
