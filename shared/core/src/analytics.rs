//! Analytics kernels: pure functions over an [`Extraction`](crate::query::Extraction)
//! (values already read and decoded), so they are tested without storage and
//! reused by every transport. The query service plans and reads; a kernel
//! only computes. Region statistics, ensemble statistics and skill scores
//! join the best estimate here, each with its unit tests.

mod best_estimate;

pub use best_estimate::best_estimate;
