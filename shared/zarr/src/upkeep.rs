//! Garbage collection of one dataset's Icechunk repository, as a
//! [`GcPolicy`] allows: history expiry first (the oldest kept commit becomes a
//! child of the repository's first snapshot), then the deletion of every
//! object no remaining snapshot reaches and that is older than the grace cutoff.
//! Both steps are Icechunk's own (`ops::gc`), which keep the branch tip and
//! retry when a commit lands meanwhile.

use std::num::{NonZeroU16, NonZeroUsize};
use std::sync::Arc;

use futures::TryStreamExt;
use hub_core::model::DatasetId;
use hub_core::ports::RepoError;
use hub_core::upkeep::{GcPolicy, GcReport};
use icechunk::ops::gc::{ExpiredRefAction, GCConfig, expire, garbage_collect};
use icechunk::repository::VersionInfo;

use crate::hub::BRANCH;

/// Bounds of one collection: sized for a Lambda function of 1–2 GB.
const SNAPSHOTS_IN_MEMORY: u16 = 50;
const COMPRESSED_MANIFEST_BYTES: usize = 256 << 20;
const DECODED_MANIFEST_BYTES: usize = 512 << 20;
const MANIFEST_FETCHES: u16 = 64;
const DELETES_IN_FLIGHT: u16 = 16;
const CONSECUTIVE_DELETE_FAILURES: u16 = 10;

/// Expires history and deletes unreferenced objects of `repo`.
pub(crate) async fn collect(
    repo: &icechunk::Repository,
    dataset: &DatasetId,
    policy: &GcPolicy,
) -> Result<GcReport, RepoError> {
    let assets = Arc::clone(repo.asset_manager());
    let retries = repo.config().repo_update_retries();
    let updates_per_file = repo.config().num_updates_per_repo_info_file();
    let mut report = GcReport { dataset: dataset.to_string(), dry_run: policy.dry_run, ..GcReport::default() };
    if let Some(before) = policy.expire_history_before {
        report.expired_commits = if policy.dry_run {
            expirable(repo, before).await?
        } else {
            let expired = expire(
                Arc::clone(&assets),
                before,
                ExpiredRefAction::Ignore,
                ExpiredRefAction::Ignore,
                Some(retries),
                updates_per_file,
            )
            .await
            .map_err(|e| crate::error::storage(format!("expiring the history of {dataset}"), e))?;
            expired.released_snapshots.len() as u64
        };
    }
    let config = GCConfig::clean_all(
        policy.unreferenced_before,
        policy.unreferenced_before,
        None,
        nonzero16(SNAPSHOTS_IN_MEMORY),
        nonzero(COMPRESSED_MANIFEST_BYTES),
        nonzero(DECODED_MANIFEST_BYTES),
        nonzero16(MANIFEST_FETCHES),
        nonzero16(DELETES_IN_FLIGHT),
        nonzero16(CONSECUTIVE_DELETE_FAILURES),
        None,
        policy.dry_run,
    );
    let summary = garbage_collect(assets, &config, Some(retries), updates_per_file)
        .await
        .map_err(|e| crate::error::storage(format!("collecting the garbage of {dataset}"), e))?;
    report.chunks_deleted = summary.chunks_deleted;
    report.manifests_deleted = summary.manifests_deleted;
    report.snapshots_deleted = summary.snapshots_deleted;
    report.transaction_logs_deleted = summary.transaction_logs_deleted;
    report.bytes_deleted = summary.bytes_deleted;
    report.failed_deletes = summary.objects_failed_to_delete;
    Ok(report)
}

/// Commits an expiry at `before` would take out of the history: those older
/// than it, except the tip and the repository's first snapshot.
async fn expirable(repo: &icechunk::Repository, before: chrono::DateTime<chrono::Utc>) -> Result<u64, RepoError> {
    let commits: Vec<_> = repo
        .ancestry(&VersionInfo::BranchTipRef(BRANCH.to_string()))
        .await
        .map_err(|e| crate::error::storage("reading the history", e))?
        .try_collect()
        .await
        .map_err(|e| crate::error::storage("reading the history", e))?;
    let inner = commits.len().saturating_sub(2);
    Ok(commits.iter().skip(1).take(inner).filter(|c| c.flushed_at < before).count() as u64)
}

fn nonzero16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}
