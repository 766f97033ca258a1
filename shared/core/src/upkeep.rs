//! Storage upkeep: what a dataset's repository may drop, and the run over every
//! dataset that drops it.
//!
//! Two kinds of objects accumulate in a versioned store. *Unreferenced*
//! objects belong to no commit: the chunks an ingest wrote before it lost a
//! commit race (it redoes its work on a fresh session) or failed half way, and
//! whatever expired history leaves behind. They are safe to delete once no
//! writer can still commit them, hence a grace period longer than any ingest.
//! *History* is every earlier version (corrections keep the values they
//! replaced): kept forever unless the operator sets a retention, after which
//! commits older than it leave the history and the data only they used becomes
//! unreferenced. The newest version is never touched.

use serde::Serialize;

use crate::model::DatasetId;
pub use crate::model::{GcPolicy, GcReport, Unfinished};
use crate::ports::{RepoError, Repository};

/// One upkeep run over the hub: a report per dataset, and the datasets that failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpkeepRun {
    /// The policy applied.
    pub policy: Option<GcPolicy>,
    /// Datasets collected.
    pub reports: Vec<GcReport>,
    /// Repositories without a commit (rejected or dead first uploads) found,
    /// and whether they were removed.
    pub unfinished: Vec<Unfinished>,
    /// Datasets that could not be collected, with why; the others still were.
    pub failures: Vec<UpkeepFailure>,
}

/// A dataset the run could not collect.
#[derive(Debug, Clone, Serialize)]
pub struct UpkeepFailure {
    /// The dataset.
    pub dataset: String,
    /// Why.
    pub error: String,
}

impl UpkeepRun {
    /// Totals over the datasets: (chunks, bytes) deleted.
    pub fn totals(&self) -> (u64, u64) {
        self.reports.iter().fold((0, 0), |(c, b), r| (c + r.chunks_deleted, b + r.bytes_deleted))
    }
}

/// Collects garbage in `only` that dataset, or in every dataset of the hub,
/// one after another (each collection already runs its requests in parallel).
/// A dataset that fails is recorded and the run goes on.
pub async fn collect_garbage(
    repo: &dyn Repository,
    only: Option<&DatasetId>,
    policy: &GcPolicy,
) -> Result<UpkeepRun, RepoError> {
    let datasets = match only {
        Some(id) => vec![id.clone()],
        None => repo.datasets().await?,
    };
    let mut run = UpkeepRun { policy: Some(policy.clone()), ..UpkeepRun::default() };
    // Repositories no commit ever reached: removed once older than the grace.
    for found in repo.unfinished().await? {
        let Ok(id) = DatasetId::new(found.dataset.as_str()) else { continue };
        if only.is_some_and(|o| *o != id) {
            continue;
        }
        match repo.remove_unfinished(&id, policy.unreferenced_before, policy.dry_run).await {
            Ok(u) => {
                tracing::info!(dataset = %id, objects = u.objects, removed = u.removed, dry_run = policy.dry_run, "unfinished dataset");
                run.unfinished.push(u);
            }
            Err(e) => run.failures.push(UpkeepFailure { dataset: id.to_string(), error: e.to_string() }),
        }
    }
    for id in datasets {
        match repo.collect_garbage(&id, policy).await {
            Ok(report) => {
                tracing::info!(dataset = %id, chunks = report.chunks_deleted, bytes = report.bytes_deleted,
                    expired = report.expired_commits, dry_run = report.dry_run, "garbage collected");
                run.reports.push(report);
            }
            Err(e) => {
                tracing::warn!(dataset = %id, error = %e, "garbage collection failed");
                run.failures.push(UpkeepFailure { dataset: id.to_string(), error: e.to_string() });
            }
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    #[test]
    fn the_policy_counts_back_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").map(|t| t.with_timezone(&Utc));
        let now = now.unwrap_or_else(|e| panic!("{e}"));
        let p = GcPolicy::at(now, Duration::hours(24), Some(Duration::days(90)), false);
        assert_eq!(p.unreferenced_before.to_rfc3339(), "2026-11-26T12:00:00+00:00");
        assert_eq!(p.expire_history_before.map(|t| t.to_rfc3339()).as_deref(), Some("2026-08-29T12:00:00+00:00"));
        assert_eq!(GcPolicy::at(now, Duration::zero(), None, true).expire_history_before, None);
        assert_eq!(GcPolicy::from_now(1, Some(0), false).expire_history_before, None, "0 days: all history kept");
        assert!(GcPolicy::from_now(1, Some(1), false).expire_history_before.is_some());
    }
}
