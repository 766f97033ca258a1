//! Test-only helpers shared by the workspace's tests.
//!
//! - [`hostile`]: hostile and damaged inputs written by the project's own code
//!   (from `hub-fuzzing`, which fuzzes with them).
//! - [`Backend`]: the storage matrix every adapter runs its contract suite on:
//!   in-memory, a local folder, and a real S3-compatible server on 127.0.0.1.
//! - [`s3_endpoint`]: the S3 test server the test script started
//!   (`HUB_TEST_S3_ENDPOINT`); the process's `AWS_*` variables point at it.
//! - [`fixtures`]: the hub's own NetCDF fixtures, written once per process.
//! - [`shared_data`]: real files written by other software (`HUB_TEST_DATA`).
//! - [`python`]: the interpreter for xarray/icechunk interop checks
//!   (`HUB_INTEROP_PYTHON`).
//!
//! When a resource is absent the helpers print why and the test skips, unless
//! `HUB_TEST_STRICT=1` (set by the test script), where absence is a failure.

pub use hub_fuzzing::hostile;
pub mod lambda;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hub_netcdf::fixtures::Fixture;
use hub_store::StoreUrl;

fn strict() -> bool {
    std::env::var("HUB_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Reports a missing resource: a skip normally, a failure under `HUB_TEST_STRICT=1`.
pub fn missing(what: &str) {
    assert!(!strict(), "required test resource missing: {what}");
    eprintln!("SKIPPED: {what}");
}

fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{}-{nanos}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The S3 test server's endpoint, when the test script started one.
pub fn s3_endpoint() -> Option<String> {
    std::env::var("HUB_TEST_S3_ENDPOINT").ok().filter(|v| !v.is_empty())
}

/// Creates a bucket on the S3 test server and returns its name.
pub async fn create_bucket(endpoint: &str) -> String {
    let name = unique("hub-test").to_lowercase();
    let url = format!("{}/{name}", endpoint.trim_end_matches('/'));
    let resp = reqwest::Client::new().put(&url).send().await;
    match resp {
        Ok(r) => assert!(r.status().is_success(), "creating bucket {name}: HTTP {}", r.status()),
        Err(e) => panic!("creating bucket {name} at {endpoint}: {e}"),
    }
    name
}

/// A place to put a hub for one test.
pub enum Backend {
    /// In-process memory.
    Memory,
    /// A local folder.
    File,
    /// A fresh bucket on the S3 test server.
    S3,
}

/// A hub root for one test, and what keeps it alive.
pub struct TestRoot {
    /// The URL.
    pub url: StoreUrl,
    /// The local folder, for `File`.
    pub dir: Option<tempfile::TempDir>,
    /// The bucket, for `S3`.
    pub bucket: Option<String>,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 3] = [Backend::Memory, Backend::File, Backend::S3];

    /// A name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::File => "file",
            Self::S3 => "s3",
        }
    }

    /// A fresh, empty hub root; `None` (after a skip message) when the backend
    /// is not available here.
    pub async fn root(&self) -> Option<TestRoot> {
        match self {
            Self::Memory => Some(TestRoot { url: StoreUrl::Memory(unique("mem")), dir: None, bucket: None }),
            Self::File => {
                let dir = tempfile::tempdir().ok()?;
                Some(TestRoot { url: StoreUrl::File(dir.path().join("hub")), dir: Some(dir), bucket: None })
            }
            Self::S3 => {
                let Some(endpoint) = s3_endpoint() else {
                    missing("S3 test server (HUB_TEST_S3_ENDPOINT); run scripts/test.sh");
                    return None;
                };
                let bucket = create_bucket(&endpoint).await;
                Some(TestRoot {
                    url: StoreUrl::S3 { bucket: bucket.clone(), prefix: "hub".into() },
                    dir: None,
                    bucket: Some(bucket),
                })
            }
        }
    }
}

/// The folder holding the hub's own fixtures, written on first use.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("hub-fixtures"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("fixtures dir: {e}"));
        for f in Fixture::ALL {
            f.write(&dir.join(f.file_name())).unwrap_or_else(|e| panic!("writing fixture {}: {e}", f.file_name()));
        }
        dir
    })
}

/// A fixture's path.
pub fn fixture(f: Fixture) -> PathBuf {
    fixtures().join(f.file_name())
}

/// The shared test data folder (`HUB_TEST_DATA`), if present.
pub fn shared_data() -> Option<PathBuf> {
    match std::env::var("HUB_TEST_DATA").ok().map(PathBuf::from).filter(|p| p.is_dir()) {
        Some(p) => Some(p),
        None => {
            missing("shared test data (set HUB_TEST_DATA to the folder holding netcdf/, geotiff/, grib2/)");
            None
        }
    }
}

/// Every file under `HUB_TEST_DATA/<sub>`, sorted.
pub fn shared_files(sub: &str) -> Vec<PathBuf> {
    let Some(root) = shared_data() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![root.join(sub)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The Python interpreter for interop checks (`HUB_INTEROP_PYTHON`, e.g.
/// `python3.12` with xarray, icechunk and netCDF4).
pub fn python() -> Option<String> {
    match std::env::var("HUB_INTEROP_PYTHON").ok().filter(|v| !v.is_empty()) {
        // A relative path is taken from the workspace root, where the test
        // script runs; tests themselves run from their crate's folder.
        Some(p) if Path::new(&p).is_relative() && p.contains('/') => {
            Some(workspace_root().join(p).to_string_lossy().into_owned())
        }
        Some(p) => Some(p),
        None => {
            missing("Python for interop checks (HUB_INTEROP_PYTHON)");
            None
        }
    }
}

/// The workspace root (for scripts and events).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(Path::to_path_buf).unwrap_or_else(|| here.to_path_buf())
}
