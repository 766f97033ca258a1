//! Why a query could not be answered. The variants keep apart what the
//! caller got wrong (a parameter, a name), what is too large, and what failed
//! in the hub (storage, damaged data, an inconsistent view): the HTTP adapter
//! turns each into its status in one table, and a storage error keeps its
//! [`RepoError`] (and that error's cause) all the way there.

use super::plan::OverBudget;
use crate::ports::{RegionStoreError, RepoError};

/// A query that cannot be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A parameter is wrong: which one, and what would be right.
    #[error("{param}: {message}")]
    BadParameter {
        /// The query parameter (`coords`, `datetime`, `parameter-name`…).
        param: &'static str,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// A collection, parameter, run or query that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The plan costs more than the budget allows.
    #[error(transparent)]
    OverBudget(#[from] OverBudget),
    /// The repository failed: missing, transient or damaged, as its variant says.
    #[error(transparent)]
    Repository(#[from] RepoError),
    /// The region store failed.
    #[error(transparent)]
    Regions(#[from] RegionStoreError),
    /// The dataset's view does not hold what its own description promises
    /// (a dimension without coordinates): a fault of the hub, never of the request.
    #[error("inconsistent dataset view: {0}")]
    Inconsistent(String),
}

impl QueryError {
    /// A bad parameter.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        Self::BadParameter { param, message: message.into() }
    }
}
