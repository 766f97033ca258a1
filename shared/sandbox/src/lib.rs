//! Decoding untrusted files in a child process with hard limits.
//!
//! The hub ingests whatever lands in a bucket, and decodes it with C libraries
//! (netCDF-C, HDF5, GDAL) that trust what a file declares. Headers are checked
//! before those libraries see a file, but no check covers every path through
//! them: a panic in a binding can be caught, a stack overrun or an abort
//! cannot, and in-process it would take the whole ingest down — on AWS the
//! queue would then retry the upload for hours. So every file is opened in a
//! child process, a fresh one per file:
//!
//! - the child is the same binary started with [`CHILD_ARG`]; its `main`
//!   calls [`run_if_child`] first, so nothing else ships;
//! - it limits its own data segment (`HUB_DECODE_MEMORY_MIB`) and CPU time
//!   (`HUB_DECODE_CPU_SECONDS`), writes no core file, and keeps stdout for the
//!   protocol (what a library prints goes to stderr);
//! - every request (open, read one slab) has a wall-clock limit
//!   (`HUB_DECODE_TIMEOUT_SECONDS`) enforced by the parent;
//! - a crash, a kill or a time-out becomes a permanent
//!   [`DecodeError`](hub_core::ports::DecodeError)
//!   (`decoder_crashed`, `too_large`, `timeout`) with the child's last words,
//!   so the ingest records a failed report and goes on with the next upload.
//!
//! Slabs travel as raw bytes over the pipe, one at a time, so memory stays
//! bounded by the slab on both sides.
//!
//! ```no_run
//! use hub_sandbox::{Sandbox, SandboxLimits};
//! # fn decoders() -> hub_core::ports::DecoderRegistry { hub_core::ports::DecoderRegistry::new() }
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     hub_sandbox::run_if_child(decoders); // returns unless started as a child
//!     let registry = Sandbox::current_exe(SandboxLimits::from_env()?)?.wrap(&decoders());
//!     // ... an IngestService over `registry`
//!     # drop(registry);
//!     Ok(())
//! }
//! ```

mod child;
mod parent;
mod protocol;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use child::run_if_child;
pub use parent::Sandbox;
pub use protocol::CHILD_ARG;

/// The limits of one decoder child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// The child's data segment (heap and private mappings), bytes.
    pub memory_bytes: u64,
    /// The child's CPU time, seconds (all its threads together).
    pub cpu_seconds: u64,
    /// Wall-clock time of one request (opening the file, reading one slab).
    pub timeout: Duration,
}

impl SandboxLimits {
    /// 2 GiB: a slab (96 MiB), a decoder's caches and a large source chunk
    /// decoded whole fit many times over; a header that makes a library
    /// allocate what it declares does not.
    pub const DEFAULT_MEMORY_BYTES: u64 = 2 << 30;
    /// 15 minutes of CPU: Lambda's longest run.
    pub const DEFAULT_CPU_SECONDS: u64 = 900;
    /// 2 minutes for one request: a slab decodes in seconds even from
    /// JPEG 2000-packed GRIB.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

    /// The defaults, overridden by `HUB_DECODE_MEMORY_MIB`,
    /// `HUB_DECODE_CPU_SECONDS` and `HUB_DECODE_TIMEOUT_SECONDS`.
    pub fn from_env() -> Result<Self, hub_core::settings::EnvError> {
        let var = |name: &'static str| hub_core::settings::parsed::<u64>(name, "a whole number");
        let mut limits = Self::default();
        if let Some(mib) = var("HUB_DECODE_MEMORY_MIB")? {
            limits.memory_bytes = mib.saturating_mul(1 << 20);
        }
        if let Some(s) = var("HUB_DECODE_CPU_SECONDS")? {
            limits.cpu_seconds = s;
        }
        if let Some(s) = var("HUB_DECODE_TIMEOUT_SECONDS")? {
            limits.timeout = Duration::from_secs(s);
        }
        Ok(limits)
    }
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            cpu_seconds: Self::DEFAULT_CPU_SECONDS,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// What the decoder children of this process did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Children started.
    pub started: u64,
    /// Children that crashed or were killed for memory.
    pub crashed: u64,
    /// Children stopped for time.
    pub timed_out: u64,
    /// The largest peak resident memory a child reported when it closed.
    pub peak_rss_bytes: u64,
}

struct Counters {
    started: AtomicU64,
    crashed: AtomicU64,
    timed_out: AtomicU64,
    peak_rss_bytes: AtomicU64,
}

static STATS: Counters = Counters {
    started: AtomicU64::new(0),
    crashed: AtomicU64::new(0),
    timed_out: AtomicU64::new(0),
    peak_rss_bytes: AtomicU64::new(0),
};

/// The counters of this process's decoder children.
pub fn stats() -> SandboxStats {
    SandboxStats {
        started: STATS.started.load(Ordering::Relaxed),
        crashed: STATS.crashed.load(Ordering::Relaxed),
        timed_out: STATS.timed_out.load(Ordering::Relaxed),
        peak_rss_bytes: STATS.peak_rss_bytes.load(Ordering::Relaxed),
    }
}

/// This process's peak resident memory (`VmHWM`), Linux only.
pub fn peak_rss_of_self() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
