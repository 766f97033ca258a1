//! The core of the forecast data hub: the domain model, the ports the services
//! need, and the services themselves. No I/O beyond reading the head of a
//! staged file, no C libraries: adapters in sibling crates do that.
//!
//! ```
//! use hub_core::cf::{Calendar, TimeEncoding};
//!
//! let time = TimeEncoding::parse("days since 1859-12-01", Calendar::Day360)?;
//! assert_eq!(time.decode(89.0)?.to_string(), "1860-02-30T00:00:00Z");
//! # Ok::<(), hub_core::cf::TimeError>(())
//! ```

pub mod analytics;
pub mod cf;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod derived;
pub mod ensembles;
pub mod ingest;
pub mod model;
pub mod ports;
pub mod query;
pub mod regions;
pub mod settings;
pub mod time_major;
pub mod upkeep;

/// An error and its sources, `: `-separated: what logs and operator reports
/// carry (answers to users never do).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
