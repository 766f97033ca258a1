//! The maintenance function: storage upkeep of the hub on a schedule.
//!
//! Ingest leaves garbage behind by design: a writer that loses a commit race
//! redoes its work on a fresh session and the chunks of its first attempt
//! belong to no commit; an ingest that dies half way leaves its chunks too;
//! and with a history retention, expired commits leave the values only they
//! used. Once a day (the template's schedule) this function runs Icechunk's
//! expiry and garbage collection on every dataset through
//! [`hub_core::upkeep::collect_garbage`], the same code as `hub gc`. A manual
//! invocation may name one dataset or ask for a dry run:
//! `{"dataset": "radar", "dry_run": true}`.
//!
//! The same function builds a dataset's time-major copy for data stored
//! before the copy was switched on (`hub layout build` on AWS):
//! `{"task": "layout", "dataset": "radar"}` writes up to `max_commits`
//! commits of `blocks_per_commit` blocks and answers `finished`; invoke it
//! again (by hand, or a Step Functions loop on `finished`) until it is
//! true. Each commit is whole, so a timeout loses at most one round.

use hub_core::model::DatasetId;
use hub_core::ports::Repository;
use hub_core::upkeep::{GcPolicy, UpkeepRun, collect_garbage};
use hub_store::StoreUrl;
use serde::Deserialize;

/// The function's settings, from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HUB_REPO`: the hub's root.
    pub repo: StoreUrl,
    /// `HUB_GC_GRACE_HOURS` (24): unreferenced objects younger than this stay.
    pub grace_hours: u32,
    /// `HUB_KEEP_HISTORY_DAYS` (unset or 0: all history kept).
    pub keep_history_days: Option<u32>,
}

/// A setting the function cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `HUB_REPO` is not set.
    #[error("HUB_REPO is not set: the hub's root (s3://bucket/prefix or a folder)")]
    NoRepo,
    /// `HUB_REPO` is not a hub root.
    #[error("HUB_REPO: {0}")]
    BadRepo(String),
    /// A number that is not one.
    #[error("{name}={value:?} is not a whole number ≥ 0")]
    NotANumber {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let repo = std::env::var("HUB_REPO").map_err(|_| ConfigError::NoRepo)?;
        let repo = repo.parse().map_err(|e: hub_store::StoreError| ConfigError::BadRepo(e.to_string()))?;
        let number = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    v.trim().parse().map(Some).map_err(|_| ConfigError::NotANumber { name, value: v })
                }
                _ => Ok(None),
            }
        };
        Ok(Self {
            repo,
            grace_hours: number("HUB_GC_GRACE_HOURS")?.unwrap_or(24),
            keep_history_days: number("HUB_KEEP_HISTORY_DAYS")?,
        })
    }
}

/// What an invocation asks for: nothing (the schedule's event parses as
/// that), or one dataset and/or a dry run. A field of the wrong type fails the
/// invocation rather than turning a dry run into a real one.
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    /// Only this dataset.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Count, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// What to do: `gc` (the default) or `layout` (build a time-major copy).
    #[serde(default)]
    pub task: Task,
    /// `layout`: blocks per variable per commit (8).
    #[serde(default)]
    pub blocks_per_commit: Option<u64>,
    /// `layout`: commits in this invocation at most (16).
    #[serde(default)]
    pub max_commits: Option<usize>,
}

/// The tasks of the function.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Storage upkeep.
    #[default]
    Gc,
    /// Build a dataset's time-major copy.
    Layout,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    /// The request names no valid dataset.
    #[error("invalid request: {0}")]
    Request(String),
    /// Listing the datasets failed.
    #[error(transparent)]
    Repo(#[from] hub_core::ports::RepoError),
    /// The layout build failed.
    #[error("layout build: {0}")]
    Layout(#[from] hub_core::derived::DerivationError),
    /// The answer could not be written as JSON.
    #[error("the answer as JSON: {0}")]
    Answer(#[source] serde_json::Error),
    /// Some datasets could not be collected (the others were).
    #[error("{failed} dataset(s) could not be collected: {first}")]
    Failed {
        /// How many.
        failed: usize,
        /// The first failure.
        first: String,
    },
}

/// Runs what `request` asks: an upkeep pass, or a share of a layout build.
pub async fn handle(
    hub: &dyn Repository,
    config: &Config,
    request: Request,
) -> Result<serde_json::Value, MaintainError> {
    let answer = match request.task {
        Task::Gc => serde_json::to_value(upkeep(hub, config, request).await?),
        Task::Layout => serde_json::to_value(layout(hub, config, request).await?),
    };
    answer.map_err(MaintainError::Answer)
}

/// Builds (a share of) one dataset's time-major copy with the datasets'
/// configuration's block and tile.
pub async fn layout(
    hub: &dyn Repository,
    config: &Config,
    request: Request,
) -> Result<hub_core::time_major::BuildRun, MaintainError> {
    let id = request
        .dataset
        .as_deref()
        .ok_or_else(|| MaintainError::Request("the layout task needs a dataset".into()))
        .and_then(|d| DatasetId::new(d).map_err(|e| MaintainError::Request(e.to_string())))?;
    let store = hub_store::object_store(&config.repo).map_err(|e| MaintainError::Request(e.to_string()))?;
    let settings = hub_core::ports::RegionStore::attached(&hub_store::ObjectStoreRegions::new(store), &id)
        .await
        .map_err(hub_core::derived::DerivationError::from)?
        .time_major;
    let (blocks, commits) = (request.blocks_per_commit.unwrap_or(8), request.max_commits.unwrap_or(16));
    Ok(hub_core::time_major::build(hub, &id, settings, blocks, Some(commits)).await?)
}

/// Runs one upkeep pass as `request` asks, with the configured policy.
pub async fn upkeep(hub: &dyn Repository, config: &Config, request: Request) -> Result<UpkeepRun, MaintainError> {
    let only = request
        .dataset
        .as_deref()
        .map(DatasetId::new)
        .transpose()
        .map_err(|e| MaintainError::Request(e.to_string()))?;
    let policy = GcPolicy::from_now(config.grace_hours, config.keep_history_days, request.dry_run);
    let run = collect_garbage(hub, only.as_ref(), &policy).await?;
    if let Some(first) = run.failures.first() {
        // Failing the invocation makes the failure visible (errors metric,
        // retries of the scheduled event); every other dataset was collected.
        return Err(MaintainError::Failed {
            failed: run.failures.len(),
            first: format!("{}: {}", first.dataset, first.error),
        });
    }
    Ok(run)
}
