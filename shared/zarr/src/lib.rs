//! The hub's repository adapter: every dataset is one Icechunk repository
//! (atomic multi-array commits, snapshot isolation, history) of Zarr v3 arrays,
//! written and read through `zarrs`. The root group holds the dataset as
//! xarray expects it: each variable an array with `dimension_names` and its CF
//! attributes, so `xarray.open_zarr(session.store, consolidated=False)` opens it.
//!
//! Writes are serialized per dataset within a process (Icechunk's local storage
//! has no conditional writes); chunks are encoded on blocking threads, several
//! at a time, and uploaded as they are encoded.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hub_core::ports::{Repository, Version};
//! use hub_zarr::{HubSettings, IcechunkHub};
//! let hub = IcechunkHub::new("memory://demo".parse()?, HubSettings::default())?;
//! for id in hub.datasets().await? {
//!     let reader = hub.open(&id, &Version::Latest).await?;
//!     println!("{id}: {} arrays", reader.arrays().await?.len());
//! }
//! # Ok(()) }
//! ```

mod chunk_cache;
mod error;
mod folder_lock;
mod hub;
pub mod metadata;
mod nodes;
mod reader;
mod storage;
mod store;
mod transaction;
mod upkeep;

pub use chunk_cache::ChunkCache;
pub use hub::{BRANCH, HubSettings, IcechunkHub, repository_config};
pub use store::ReadCounter;
