//! Ingest: the chunk policy, slab planning, the dataset naming rule, the report,
//! and the service that runs them.

mod append;
mod chunk_policy;
mod dataset_config;
mod dataset_rule;
mod pipeline;
mod report;
mod screening;
mod shaping;
mod slabs;

pub use append::{AppendError, AxisEncoding, AxisMerge, StepMove, growing_dims, target_runs};
pub use chunk_policy::{ArrayLayout, ChunkPolicy, Compression};
pub use dataset_config::{
    CONFIG_KEY, ConfigError, DatasetConfig, DatasetRuleConfig, IngestOptions, Resolved, TimePattern, ValidTimeSource,
};
pub use dataset_rule::{DEFAULT_PATTERN, DatasetRule, RuleError};
pub use pipeline::{IngestError, IngestService, IngestSettings, NoProgress, Progress, StagedUpload};
pub use report::{
    AxisReport, FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, Timings, VariableReport, now_rfc3339,
};
pub use screening::screen;
pub use shaping::{STAMP_DIM, ShapedSource, kept_variables};
pub use slabs::{SlabPlan, units_in};
