//! Analytics kernels: pure functions over an [`Extraction`](crate::query::Extraction)
//! (values already read and decoded), so they are tested without storage and
//! reused by every transport. The query service plans and reads; a kernel
//! only computes. Ensemble statistics and skill scores join the best
//! estimate and the region statistics here, each with its unit tests.

mod best_estimate;
mod change_signal;
mod ensemble_stats;
mod region_stats;

pub use best_estimate::best_estimate;
pub use change_signal::{
    Agreement, ChangeRequest, Grouping, PeriodSummary, Robustness, Within, Years, ar6_threshold_factor, detrended_std,
};
pub use ensemble_stats::{DEFAULT_ENSEMBLE_STATISTICS, EnsembleStatistic, across, summarize};
pub use region_stats::{RegionSeries, STATISTICS, SeriesColumn, Statistic, StoredBlock, reduce, reduce_block};
