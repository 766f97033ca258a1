//! What storage upkeep is asked to do and what it did: the retention
//! policy, per-dataset garbage-collection reports and unfinished work. The
//! repository port speaks these; `upkeep` runs them over every dataset.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// What a garbage collection may remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcPolicy {
    /// Unreferenced objects are deleted only when written before this: an
    /// ingest still running wrote its objects later.
    pub unreferenced_before: DateTime<Utc>,
    /// Commits older than this leave the history (`None`: all history kept).
    pub expire_history_before: Option<DateTime<Utc>>,
    /// Count what would go; delete and expire nothing.
    pub dry_run: bool,
}

impl GcPolicy {
    /// The policy at `now`: unreferenced objects older than `grace`, and, with
    /// a retention, history older than it.
    pub fn at(now: DateTime<Utc>, grace: Duration, keep_history: Option<Duration>, dry_run: bool) -> Self {
        Self { unreferenced_before: now - grace, expire_history_before: keep_history.map(|k| now - k), dry_run }
    }

    /// The policy from now, in the units operators set: hours of grace, days
    /// of history (`None` or 0: all history kept).
    pub fn from_now(grace_hours: u32, keep_history_days: Option<u32>, dry_run: bool) -> Self {
        Self::at(
            Utc::now(),
            Duration::hours(i64::from(grace_hours)),
            keep_history_days.filter(|&d| d > 0).map(|d| Duration::days(i64::from(d))),
            dry_run,
        )
    }
}

/// What a garbage collection did to one dataset (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// The dataset.
    pub dataset: String,
    /// Nothing was deleted or expired.
    pub dry_run: bool,
    /// Commits that left the history.
    pub expired_commits: u64,
    /// Chunks deleted.
    pub chunks_deleted: u64,
    /// Manifests deleted.
    pub manifests_deleted: u64,
    /// Snapshots deleted (expired history and commits that never landed).
    pub snapshots_deleted: u64,
    /// Transaction logs deleted.
    pub transaction_logs_deleted: u64,
    /// Bytes those objects held.
    pub bytes_deleted: u64,
    /// Objects whose delete failed: still garbage, for the next run.
    pub failed_deletes: u64,
}

/// A repository that holds no commit (see `Repository::unfinished`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    /// The dataset it was created for.
    pub dataset: String,
    /// Objects it holds.
    pub objects: u64,
    /// Bytes they hold.
    pub bytes: u64,
    /// When the newest of them was written (RFC 3339), when known.
    pub last_written: Option<String>,
    /// Whether it was removed (or, in a dry run, would be).
    pub removed: bool,
}
