//! Derived products kept in step with the data: region series today, a
//! time-major copy, ensemble period statistics and cyclone tracks next.
//!
//! One shape for all of them. A [`Derivation`] updates, inside the ingest's
//! own transaction (between the writes and the commit), exactly what the
//! written steps touch, so the data and what derives from it become visible
//! in one commit or not at all. A backfill is the same derivation over all
//! steps ([`Changes::all`]) in a transaction of its own. Readers use the
//! derived product when it is there and compute the same answer when it is
//! not. Which derivations a dataset has is asked of a [`Derivations`]
//! source (the datasets' configuration, through the region store).

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{BlockData, DatasetId, Hyperslab};
use crate::ports::{
    ArrayInfo, CommitRequest, DatasetReader, GroupInfo, RegionStoreError, RepoError, Repository, SourceMarker,
    Transaction,
};

/// Which steps along the growing axis an ingest added or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steps {
    /// Every step (a first file, steps moved by a late one, a backfill).
    All,
    /// These indices (after the ingest), sorted.
    Some(Vec<u64>),
}

/// What a transaction changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The growing axis (`time`), when there is one.
    pub dim: Option<String>,
    /// The steps along it.
    pub steps: Steps,
    /// The variables written; `None`: all of them.
    pub variables: Option<Vec<String>>,
}

impl Changes {
    /// Everything: a backfill.
    pub fn all() -> Self {
        Self { dim: None, steps: Steps::All, variables: None }
    }

    /// Whether `variable` was written.
    pub fn touches(&self, variable: &str) -> bool {
        self.variables.as_ref().is_none_or(|v| v.iter().any(|n| n == variable))
    }
}

/// Why a derived product could not be updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DerivationError {
    /// Reading or writing the dataset failed.
    #[error(transparent)]
    Repository(#[from] RepoError),
    /// The region sets could not be read.
    #[error(transparent)]
    Regions(#[from] RegionStoreError),
    /// The data does not allow the product (a grid without cells…).
    #[error("{0}")]
    Invalid(String),
}

impl DerivationError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Repository(e) => e.is_transient(),
            Self::Regions(RegionStoreError::Storage { .. }) => true,
            _ => false,
        }
    }
}

/// One derived product of a dataset.
#[async_trait]
pub trait Derivation: Send + Sync {
    /// For reports and logs (`regions/countries`).
    fn name(&self) -> String;
    /// Brings the product up to date with `changes`, writing into `tx`;
    /// says what it did.
    async fn update(
        &self,
        dataset: &DatasetId,
        tx: &dyn Transaction,
        changes: &Changes,
    ) -> Result<String, DerivationError>;
}

/// Which derivations a dataset has.
#[async_trait]
pub trait Derivations: Send + Sync {
    /// The derivations attached to `dataset`.
    async fn for_dataset(&self, dataset: &DatasetId) -> Result<Vec<Arc<dyn Derivation>>, DerivationError>;
}

/// No derived products.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDerivations;

#[async_trait]
impl Derivations for NoDerivations {
    async fn for_dataset(&self, _: &DatasetId) -> Result<Vec<Arc<dyn Derivation>>, DerivationError> {
        Ok(vec![])
    }
}

/// Every derived product the datasets' configuration gives a dataset: the
/// series of its attached region sets, then its time-major copy (see
/// [`crate::time_major`]). The configuration is read once per transaction.
pub struct Configured {
    /// The region sets, and the datasets' configuration behind them.
    pub store: Arc<dyn crate::ports::RegionStore>,
    /// Projections for projected grids.
    pub projections: Arc<dyn crate::query::view::ProjectorFactory>,
}

#[async_trait]
impl Derivations for Configured {
    async fn for_dataset(&self, dataset: &DatasetId) -> Result<Vec<Arc<dyn Derivation>>, DerivationError> {
        let settings = self.store.attached(dataset).await?;
        let regions = crate::regions::series::RegionDerivations {
            store: self.store.clone(),
            projections: self.projections.clone(),
        };
        let mut out = regions.of_settings(dataset, &settings).await?;
        out.push(Arc::new(crate::time_major::TimeMajorDerivation {
            settings: settings.time_major.clone(),
            max_blocks: None,
            strip_bytes: None,
        }));
        // Period statistics of every ensemble that keeps them: each decides
        // from the dataset's own attributes whether it is a member.
        for ensemble in self.store.ensembles().await? {
            let spans = ensemble.stored_spans();
            if !spans.is_empty() {
                out.push(Arc::new(crate::ensembles::period_stats::PeriodStatsDerivation {
                    ensemble,
                    spans,
                    projections: self.projections.clone(),
                }));
            }
        }
        Ok(out)
    }
}

/// Runs every derivation of `dataset` on `tx`; their reports, in order.
pub async fn update_all(
    derivations: &dyn Derivations,
    dataset: &DatasetId,
    tx: &dyn Transaction,
    changes: &Changes,
) -> Result<Vec<String>, DerivationError> {
    let mut out = Vec::new();
    for d in derivations.for_dataset(dataset).await? {
        out.push(d.update(dataset, tx, changes).await?);
    }
    Ok(out)
}

/// A backfill: `derivations` over every step of `dataset`, in one commit of
/// its own (`label` says what for, e.g. the set registered); the snapshot.
pub async fn backfill(
    repo: &dyn Repository,
    dataset: &DatasetId,
    derivations: &[Arc<dyn Derivation>],
    label: &str,
) -> Result<(String, Vec<String>), DerivationError> {
    let tx = repo.begin(dataset).await?;
    let mut done = Vec::new();
    for d in derivations {
        done.push(d.update(dataset, tx.as_ref(), &Changes::all()).await?);
    }
    Ok((tx.commit(commit_request(label)).await?, done))
}

/// The commit of derived products alone (a backfill, a build): its message
/// and marker say what for.
pub fn commit_request(label: &str) -> CommitRequest {
    CommitRequest {
        message: format!("derived products: {label}"),
        marker: SourceMarker {
            key: format!("_derived/{label}"),
            etag: None,
            size: 0,
            ingested_at: crate::model::now_rfc3339(),
        },
        properties: serde_json::Map::new(),
    }
}

/// A transaction read as a snapshot (its own writes included), so the
/// query side's view and readers work on what is about to be committed.
pub struct TxReader<'a>(pub &'a dyn Transaction);

#[async_trait]
impl DatasetReader for TxReader<'_> {
    fn snapshot_id(&self) -> &str {
        "uncommitted"
    }

    async fn groups(&self) -> Result<Vec<GroupInfo>, RepoError> {
        self.0.groups().await
    }

    async fn arrays(&self) -> Result<Vec<ArrayInfo>, RepoError> {
        self.0.arrays().await
    }

    async fn read(&self, path: &str, region: &Hyperslab) -> Result<BlockData, RepoError> {
        self.0.read(path, region).await
    }

    async fn stored_bytes(&self, _path: &str) -> Result<u64, RepoError> {
        Ok(0)
    }
}
