//! Object storage for the hub: parsing storage URLs (`file://`, `memory://`,
//! `s3://`) into `object_store` clients rooted at them, the hub's key layout,
//! staging uploaded objects to local files, and the report sink.
//!
//! `object_store`'s `ObjectStore` is the storage port: nothing here wraps it.
//!
//! ```
//! use hub_store::StoreUrl;
//! let url: StoreUrl = "s3://my-bucket/hub".parse()?;
//! assert_eq!(url.join("era5").to_string(), "s3://my-bucket/hub/era5");
//! # Ok::<(), hub_store::StoreError>(())
//! ```

mod answers;
mod config;
pub mod events;
pub mod layout;
mod logging;
#[cfg(feature = "sqs")]
pub mod queue;
mod regions;
mod reports;
mod staging;
mod stores;
mod url;

pub use answers::PresignedAnswers;
pub use config::{ConfigStoreError, load_dataset_config, store_dataset_config};
pub use logging::init_lambda_logging;
pub use regions::ObjectStoreRegions;
pub use reports::ObjectStoreReports;
pub use staging::{FetchError, Staged, local_upload, stage_object, unquote};
pub use stores::{aws_region, object_store, s3_builder, s3_endpoint};
pub use url::StoreUrl;

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL is malformed or names an unsupported scheme.
    #[error("invalid storage URL {0}")]
    InvalidUrl(String),
}
