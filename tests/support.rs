//! Helpers for the end-to-end tests: a hub with its ingest service, and the
//! comparison of a stored dataset with its source file.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hub_core::ingest::{DatasetConfig, DatasetRule, IngestReport, IngestService, IngestSettings, NoProgress};
use hub_core::model::{
    AttrValue, Attributes, Block, BlockData, DataType, DatasetId, DatasetSchema, GroupSchema, Hyperslab, VariableSchema,
};
use hub_core::ports::{DecodeError, DecoderRegistry, Repository, SourceDataset, SourceDecoder, Version};
use hub_sandbox::{Sandbox, SandboxLimits};
use hub_store::{ObjectStoreReports, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};

/// A hub and its ingest service.
pub struct TestHub {
    pub hub: Arc<IcechunkHub>,
    pub service: IngestService,
    pub reports: ObjectStoreReports,
}

impl TestHub {
    pub fn new(url: StoreUrl) -> Self {
        Self::with_settings(url, IngestSettings::default())
    }

    pub fn with_settings(url: StoreUrl, settings: IngestSettings) -> Self {
        Self::with_sandbox(url, settings, SandboxLimits::default())
    }

    /// A hub whose ingest decodes each file in a child process under `limits`,
    /// as the `hub` and `ingest` binaries do.
    pub fn with_sandbox(url: StoreUrl, settings: IngestSettings, limits: SandboxLimits) -> Self {
        let hub = Arc::new(IcechunkHub::new(url, HubSettings::default()).unwrap());
        let reports = ObjectStoreReports::new(hub.root_store());
        let decoders = Sandbox::new(decoder_program(), limits).wrap(&test_decoders());
        let derivations = Arc::new(hub_core::derived::Configured {
            store: Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store())),
            projections: Arc::new(hub_http::projection::Proj4Projections),
        });
        let service = IngestService::new(decoders, hub.clone(), Arc::new(reports.clone()), settings)
            .with_derivations(derivations);
        Self { hub, service, reports }
    }

    /// Ingests a local file under `key` as the dataset configuration says.
    pub async fn ingest_configured(&self, config: &DatasetConfig, path: &Path, key: &str) -> IngestReport {
        let resolved = config.resolve(key, &DatasetRule::default()).unwrap();
        let upload = hub_store::local_upload(path, key).unwrap();
        self.service.ingest_with(&resolved.dataset, &upload, &resolved.options, Arc::new(NoProgress)).await.unwrap()
    }

    /// Ingests a local file under `key` into `dataset`.
    pub async fn ingest(&self, dataset: &str, path: &Path, key: &str) -> IngestReport {
        let upload = hub_store::local_upload(path, key).unwrap();
        self.service.ingest(&DatasetId::new(dataset).unwrap(), &upload, Arc::new(NoProgress)).await.unwrap()
    }
}

/// The ingest function's decoders (netCDF-C, GDAL), in this process.
pub fn decoders() -> DecoderRegistry {
    DecoderRegistry::new().with(Arc::new(hub_netcdf::NetcdfDecoder)).with(Arc::new(hub_gdal::GdalDecoder))
}

/// The decoders the tests' child runs: the hub's own and [`Fault`]. The
/// ingest service recognises formats with the same list.
pub fn test_decoders() -> DecoderRegistry {
    decoders().with(Arc::new(Fault))
}

/// Does what a broken C library does, on `HUBFAULT <what>` files (see `decoder.rs`).
pub struct Fault;

impl SourceDecoder for Fault {
    fn name(&self) -> &'static str {
        "fault (tests)"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        head.starts_with(b"HUBFAULT ")
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let text = std::fs::read_to_string(path)?;
        match text.trim_start_matches("HUBFAULT ").trim() {
            "abort" => std::process::abort(),
            "panic" => panic!("called `Option::unwrap()` on a `None` value"),
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "spin" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                }
            }
            "allocate" => {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(vec![1u8; 64 << 20]);
                }
            }
            "stdout" => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"Warning 1: a library printing to stdout\n").and_then(|()| out.flush());
                Ok(Box::new(Tiny::new(None)))
            }
            "fail_read" => Ok(Box::new(Tiny::new(Some(2)))),
            other => Err(DecodeError::Unsupported(format!("unknown fault {other:?}"))),
        }
    }
}

/// One small variable: `x(x)` = 0, 1, 2, 3; reads from index `fail_from`
/// on fail as corrupt, when set.
struct Tiny(DatasetSchema, Option<u64>);

impl Tiny {
    fn new(fail_from: Option<u64>) -> Self {
        let mut attrs = Attributes::new();
        attrs.insert("units".into(), AttrValue::text("1"));
        Self(
            DatasetSchema {
                groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
                variables: vec![VariableSchema {
                    path: "x".into(),
                    dims: vec!["x".into()],
                    shape: vec![4],
                    dtype: DataType::Int32,
                    attrs,
                    source_chunks: None,
                }],
                ..DatasetSchema::default()
            },
            fail_from,
        )
    }
}

impl SourceDataset for Tiny {
    fn format(&self) -> &str {
        "fault (tests)"
    }

    fn schema(&self) -> &DatasetSchema {
        &self.0
    }

    fn read(&mut self, _path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        let start = region.start.first().copied().unwrap_or(0);
        let n = region.shape.first().copied().unwrap_or(0);
        if self.1.is_some_and(|from| start + n > from) {
            return Err(DecodeError::Corrupt(format!("x[{start}..{}]: a damaged block", start + n)));
        }
        Ok(BlockData::Numeric((start..start + n).flat_map(|i| (i as i32).to_le_bytes()).collect()))
    }
}

/// The tests' decoder child (`decoder.rs`), which cargo builds next to the
/// test binaries (`target/<profile>/`, the tests run from `deps/` below it).
pub fn decoder_program() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("hub-e2e-decoder"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the hub-e2e-decoder binary is not built next to {}", exe.display()))
}

/// Asserts that every variable of the source file is stored with identical
/// values, dimensions and attributes (storage-only attributes aside).
pub async fn assert_same_as_source(hub: &dyn Repository, dataset: &str, source_path: &Path) {
    // netCDF-C alone: independent of the hub's own chunk decoder.
    let mut source = hub_netcdf::NetcdfSource::open_reference(source_path).unwrap();
    let schema = source.schema().clone();
    let reader = hub.open(&DatasetId::new(dataset).unwrap(), &Version::Latest).await.unwrap();
    // The time-major copy (on by default when map chunks are short along
    // time) is derived data: `tests/time_major.rs` checks it against these.
    let arrays: Vec<_> =
        reader.arrays().await.unwrap().into_iter().filter(|a| !hub_core::time_major::is_copy(&a.path)).collect();
    assert_eq!(
        arrays.len(),
        schema.variables.len(),
        "{dataset}: arrays {:?}",
        arrays.iter().map(|a| &a.path).collect::<Vec<_>>()
    );
    for var in &schema.variables {
        let stored =
            arrays.iter().find(|a| a.path == var.path).unwrap_or_else(|| panic!("{dataset}: {} missing", var.path));
        assert_eq!(stored.dims, var.dims, "{}: dims", var.path);
        assert_eq!(stored.shape, var.shape, "{}: shape", var.path);
        assert_eq!(stored.dtype, var.dtype, "{}: dtype", var.path);
        for (k, v) in &var.attrs {
            let got = stored.attrs.get(k).unwrap_or_else(|| panic!("{}: attribute {k} missing", var.path));
            match (v.as_f64s(), got.as_f64s()) {
                (Some(a), Some(b)) => {
                    assert_eq!(a.len(), b.len(), "{}: {k}", var.path);
                    for (x, y) in a.iter().zip(&b) {
                        assert!((x.is_nan() && y.is_nan()) || x == y, "{}: attribute {k}: {a:?} vs {b:?}", var.path);
                    }
                }
                _ => assert_eq!(v.to_json(), got.to_json(), "{}: attribute {k}", var.path),
            }
        }
        let full = Hyperslab::full(&var.shape);
        let want = source.read(&var.path, &full).unwrap();
        let got = reader.read(&var.path, &full).await.unwrap();
        match (&want, &got) {
            (BlockData::Numeric(a), BlockData::Numeric(b)) => {
                assert!(
                    a == b,
                    "{dataset}/{}: {} bytes differ",
                    var.path,
                    a.iter().zip(b).filter(|(x, y)| x != y).count()
                )
            }
            _ => assert_eq!(want, got, "{dataset}/{}", var.path),
        }
    }
}

/// Prints one benchmark line in the bench kit's format:
/// `name<TAB>median_s<TAB>min_s<TAB>runs=N<TAB>key=value;...`.
#[allow(clippy::print_stdout)]
pub fn emit(name: &str, secs: &[f64], extras: &str) {
    let mut s = secs.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 };
    println!("{name}\t{median:.6}\t{:.6}\truns={}\t{extras}", s[0], s.len());
}

/// Runs the interop Python (`HUB_INTEROP_PYTHON`) with `args`; whether it
/// succeeded, and what it printed (standard output, then standard error).
pub async fn python(args: Vec<String>) -> (bool, String) {
    let py = hub_testkit::python().unwrap_or_else(|| panic!("HUB_INTEROP_PYTHON is not set"));
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(py).args(&args).output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("running the interop Python: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Runs an interop Python script with a JSON manifest; fails the test with
/// the script's output unless it succeeds. Returns its standard output.
pub fn run_interop(python: &str, script: &str, manifest: &Path) -> String {
    let out = std::process::Command::new(python)
        .arg(hub_testkit::workspace_root().join("tests/interop").join(script))
        .arg(manifest)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}");
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// An ingest that died: a transaction on `dataset` that overwrites all of
/// `array` with bytes that do not compress (so its chunks are stored as
/// objects, not inlined in a manifest) and is dropped without a commit.
/// Returns how many chunks it wrote and how many bytes of values.
pub async fn abandoned_write(hub: &dyn Repository, dataset: &DatasetId, array: &str) -> (u64, u64) {
    let tx = hub.begin(dataset).await.unwrap();
    let arrays = tx.arrays().await.unwrap();
    let info = arrays.iter().find(|a| a.path == array).unwrap_or_else(|| panic!("no array {array}"));
    let region = Hyperslab::full(&info.shape);
    let chunks: u64 = info.shape.iter().zip(&info.chunks).map(|(n, c)| n.div_ceil(*c)).product();
    let bytes = region.len() * info.dtype.size().unwrap() as u64;
    // xorshift: no structure for a compressor to find.
    let mut x = 0x2545_f491_u32;
    let noise = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    tx.write_block(array, std::sync::Arc::new(Block { region, data: BlockData::Numeric(noise) })).await.unwrap();
    drop(tx);
    (chunks, bytes)
}
