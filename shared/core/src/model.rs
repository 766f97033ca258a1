//! The domain vocabulary: identifiers, element types, attributes, schemas and
//! hyperslabs, ingest reports and layouts. Plain data, no I/O: the ports speak
//! only this vocabulary.

mod attrs;
mod dtype;
mod hyperslab;
pub(crate) mod ids;
mod layout;
mod maintenance;
mod report;
mod schema;

pub use attrs::{AttrValue, Attributes, attr_text, float_json};
pub use dtype::{DataType, ElementWork, element};
pub use hyperslab::{
    Block, BlockData, Hyperslab, copy_subregion, copy_subregion_into, paste_subregion, runs, units_in,
};
pub use ids::{DatasetId, InvalidId};
pub use layout::{ArrayLayout, Compression, InvalidCompression};
pub use maintenance::{GcPolicy, GcReport, Unfinished};
pub use report::{
    AxisReport, FailureInfo, IngestReport, IngestStatus, SourceInfo, SourceMarker, TimeNotDecoded, TimeRange, Timings,
    VariableReport, now_rfc3339,
};
pub use schema::{DatasetSchema, Dimension, GroupSchema, VariableSchema};
