//! Ingest: the chunk policy, slab planning, the dataset naming rule, the report,
//! and the service that runs them.

mod append;
mod chunk_policy;
mod dataset_config;
mod dataset_rule;
mod failure;
mod open;
pub(crate) mod placement;
mod screening;
mod service;
mod shaping;
mod slabs;
mod write_plan;

pub use crate::model::units_in;
pub use crate::model::{ArrayLayout, Compression};
pub use crate::model::{
    AxisReport, FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, Timings, VariableReport, now_rfc3339,
};
pub use append::{AppendError, AxisEncoding, AxisMerge, StepMove, growing_dims, target_runs};
pub use chunk_policy::ChunkPolicy;
pub use dataset_config::{
    CONFIG_KEY, ConfigError, DatasetConfig, DatasetRuleConfig, DatasetSettings, IngestOptions, PatternError,
    REGIONS_UPLOAD_PREFIX, RegionFileSettings, Resolved, TimePattern, ValidTimeSource,
};
pub use dataset_rule::{DEFAULT_PATTERN, DatasetRule, RuleError};
pub use failure::{IngestError, RejectionKind};
pub use screening::screen;
pub use service::{IngestService, IngestSettings, NoProgress, Progress, StagedUpload};
pub use shaping::{STAMP_DIM, ShapedSource, kept_variables};
pub use slabs::SlabPlan;
