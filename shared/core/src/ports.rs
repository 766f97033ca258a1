//! The ports: what the services need from the outside world, as traits. Adapters
//! in other crates implement them (netCDF and GDAL decoders, the Icechunk
//! repository, object-store reports, presigned large answers).

mod answers;
mod decoder;
mod regions;
mod reports;
mod repository;

pub use answers::{AnswerStoreError, LargeAnswers};
pub use decoder::{
    DecodeError, DecodeHints, DecodeLimits, DecoderRegistry, HEAD_BYTES, SourceDataset, SourceDecoder, checked_read,
};
pub use regions::{RegionStore, RegionStoreError, StoredSet};
pub use reports::{ReportError, ReportSink};
pub use repository::{
    ArrayInfo, ArraySpec, CommitInfo, CommitRequest, DatasetReader, GroupInfo, RepoError, Repository, SourceMarker,
    Transaction, Version, WriteStats,
};
