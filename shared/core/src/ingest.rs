//! Ingest: the chunk policy, slab planning, the dataset naming rule, the report,
//! and the service that runs them.

mod chunk_policy;
mod dataset_rule;
mod pipeline;
mod report;
mod slabs;

pub use chunk_policy::{ArrayLayout, ChunkPolicy, Compression};
pub use dataset_rule::{DEFAULT_PATTERN, DatasetRule, RuleError};
pub use pipeline::{IngestError, IngestService, IngestSettings, NoProgress, Progress, StagedUpload};
pub use report::{
    FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, Timings, VariableReport, now_rfc3339,
};
pub use slabs::{SlabPlan, units_in};
