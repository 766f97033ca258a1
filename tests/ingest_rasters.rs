//! Radar composites (GeoTIFF, through GDAL) into time series datasets: the
//! valid time from the key pattern of the dataset configuration, from
//! `TIFFTAG_DATETIME`, or from the stamp in the file name by default;
//! composites arriving out of order, twice, corrected; a file without a CRS;
//! and every shared GeoTIFF stored with the values GDAL reads.

use std::path::{Path, PathBuf};

use hub_core::ingest::{DatasetConfig, IngestStatus};
use hub_core::model::{BlockData, DatasetId, Hyperslab, attr_text};
use hub_core::ports::{Repository, Version};
use hub_e2e::TestHub;
use hub_gdal::fixtures::{Composite, write_composite};
use hub_testkit::Backend;

const SIZE: (usize, usize) = (40, 30);
/// Composites of noise, large enough to be stored as chunk objects (small or
/// very compressible ones are kept inside Icechunk's manifests).
const BIG: (usize, usize) = (160, 120);

/// A composite of deterministic noise for `step` (GeoTIFF through GDAL).
fn noisy_composite(path: &Path, step: u32) -> Vec<u8> {
    use gdal::raster::Buffer;
    let (w, h) = BIG;
    let mut rng = hub_testkit::hostile::Rng::new(u64::from(step) + 1);
    let data: Vec<u8> = (0..w * h).map(|_| (rng.next_u64() % 250) as u8).collect();
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap_or_else(|e| panic!("{e}"));
    let mut ds = driver.create_with_band_type::<u8, _>(path, w, h, 1).unwrap_or_else(|e| panic!("{e}"));
    ds.set_geo_transform(&[50_000.0, 1000.0, 0.0, 7_800_000.0, 0.0, -1000.0]).unwrap_or_else(|e| panic!("{e}"));
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(3067).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut band = ds.rasterband(1).unwrap_or_else(|e| panic!("{e}"));
    band.write((0, 0), (w, h), &mut Buffer::new((w, h), data.clone())).unwrap_or_else(|e| panic!("{e}"));
    data
}

const CONFIG: &str = r#"{"rules": [
  {"key": "^radar/fmi/", "dataset": "fmi-radar",
   "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"},
   "chunks": {"band1": [1, 30, 40]}, "publication_deadline_minutes": 10},
  {"key": "^radar/nocrs/", "dataset": "nocrs", "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}, "crs": "EPSG:3067"}
]}"#;

fn composite(dir: &Path, name: &str, c: &Composite) -> PathBuf {
    let path = dir.join(name);
    write_composite(&path, c).unwrap_or_else(|e| panic!("{name}: {e}"));
    path
}

fn stamp(step: u32) -> String {
    format!("2016092816{:02}", step * 5)
}

async fn read_u8(hub: &dyn Repository, dataset: &str, path: &str, region: &Hyperslab) -> Vec<u8> {
    let reader = hub
        .open(&DatasetId::new(dataset).unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match reader.read(path, region).await.unwrap_or_else(|e| panic!("{path}: {e}")) {
        BlockData::Numeric(b) => b,
        BlockData::Strings(_) => panic!("{path} is text"),
    }
}

async fn composites_in_any_order(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let config = DatasetConfig::parse(CONFIG).unwrap_or_else(|e| panic!("{e}"));
    let c = |step: u32, version: u8| Composite { size: SIZE, step, version, with_crs: true, datetime: None };

    // Six five-minute composites, arriving scrambled, one twice, one corrected.
    let order = [2u32, 0, 5, 1, 4, 3];
    for &step in &order {
        let name = format!("{}_COMP.tif", stamp(step));
        let path = composite(dir.path(), &name, &c(step, 0));
        let r = t.ingest_configured(&config, &path, &format!("radar/fmi/{name}")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
        assert_eq!(r.dataset, "fmi-radar");
        assert!(r.warnings.iter().any(|w| w.contains("key pattern")), "{:?}", r.warnings);
    }
    let again_name = format!("{}_COMP.tif", stamp(5));
    let again = t.ingest_configured(&config, &dir.path().join(&again_name), &format!("radar/fmi/{again_name}")).await;
    assert_eq!(again.status, IngestStatus::Duplicate);
    let fixed_name = format!("{}_COMP.tif", stamp(1));
    let fixed = composite(dir.path(), &format!("fixed-{fixed_name}"), &c(1, 3));
    let r = t.ingest_configured(&config, &fixed, &format!("radar/fmi/{fixed_name}")).await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert_eq!(r.axes.first().map(|a| (a.inserted, a.replaced)), Some((0, 1)));

    let id = DatasetId::new("fmi-radar").unwrap_or_else(|e| panic!("{e}"));
    let reader = t.hub.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
    let arrays = reader.arrays().await.unwrap_or_default();
    let band = arrays.iter().find(|a| a.path == "band1").unwrap_or_else(|| panic!("band1"));
    assert_eq!(band.dims, vec!["time", "y", "x"]);
    assert_eq!(band.shape, vec![6, 30, 40]);
    assert_eq!(band.chunks, vec![1, 30, 40], "chunks from the configuration");
    assert_eq!(attr_text(&band.attrs, "grid_mapping"), Some("spatial_ref"));
    let time = read_u8(t.hub.as_ref(), "fmi-radar", "time", &Hyperslab::full(&[6])).await;
    let seconds: Vec<i64> = time.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    let want: Vec<i64> = (0..6).map(|s| 1_475_078_400 + 300 * s).collect();
    assert_eq!(seconds, want, "2016-09-28T16:00Z every five minutes, in order");
    let codes = read_u8(t.hub.as_ref(), "fmi-radar", "band1", &Hyperslab::full(&[6, 30, 40])).await;
    for step in 0..6u32 {
        let version = if step == 1 { 3 } else { 0 };
        let want: Vec<u8> = (0..30).flat_map(|r| (0..40).map(move |col| c(step, version).code(r, col))).collect();
        assert_eq!(&codes[step as usize * 1200..(step as usize + 1) * 1200], want.as_slice(), "step {step}");
    }

    // A composite without a CRS: refused by default, taken with the configured one.
    let bare = Composite { with_crs: false, ..c(0, 0) };
    let path = composite(dir.path(), "bare.tif", &bare);
    let r = t.ingest("bare", &path, "incoming/bare/201609281600.tif").await;
    assert_eq!(r.status, IngestStatus::Rejected);
    assert!(r.error.as_ref().is_some_and(|e| e.message.contains("no CRS")), "{:?}", r.error);
    let r = t.ingest_configured(&config, &path, &format!("radar/nocrs/{}.tif", stamp(0))).await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);

    // TIFFTAG_DATETIME when no rule applies and the name carries no stamp.
    let tagged = Composite { datetime: Some("2016:09:28 17:00:00"), ..c(9, 0) };
    let path = composite(dir.path(), "tagged.tif", &tagged);
    let r = t.ingest_configured(&config, &path, "incoming/tagged/latest.tif").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert_eq!(r.time.as_ref().map(|t| t.start.as_str()), Some("2016-09-28T17:00:00Z"));

    // A composite of the same dataset without any time cannot be appended.
    let timeless = composite(dir.path(), "timeless.tif", &c(7, 0));
    let r = t.ingest("tagged", &timeless, "elsewhere/timeless.tif").await;
    assert_eq!(r.status, IngestStatus::Rejected);
    assert!(r.error.as_ref().is_some_and(|e| e.message.contains("time")), "{:?}", r.error);
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composites_memory() {
    composites_in_any_order(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composites_s3() {
    composites_in_any_order(Backend::S3).await;
}

/// Every shared GeoTIFF, with the default rules: stored values equal GDAL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_geotiffs_store_what_gdal_reads() {
    let files = hub_testkit::shared_files("geotiff");
    if files.is_empty() {
        return;
    }
    let Some(root) = Backend::File.root().await else { return };
    let t = TestHub::new(root.url.clone());
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let dataset = if name.contains("FINUTM") { "fmi" } else { "rgb" };
        let r = t.ingest(dataset, &path, &format!("incoming/{dataset}/{name}")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{name}: {:?}", r.error);
        let gdal = gdal::Dataset::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (nx, ny) = gdal.raster_size();
        let (h, w) = (ny.min(256), nx.min(300));
        let (y0, x0) = ((ny - h) / 3, (nx - w) / 2);
        let stamped = name.contains("FINUTM");
        if stamped {
            // The stamp in the file name is the valid time.
            assert_eq!(r.time.as_ref().map(|t| t.start.as_str()), Some("2016-09-28T16:00:00Z"), "{name}");
        }
        for k in 0..gdal.raster_count() {
            let band = gdal.rasterband(k + 1).unwrap_or_else(|e| panic!("{e}"));
            let want: Vec<u8> = band
                .read_as::<u8>((x0 as isize, y0 as isize), (w, h), (w, h), None)
                .unwrap_or_else(|e| panic!("{e}"))
                .data()
                .to_vec();
            let region = if stamped {
                Hyperslab { start: vec![0, y0 as u64, x0 as u64], shape: vec![1, h as u64, w as u64] }
            } else {
                Hyperslab { start: vec![y0 as u64, x0 as u64], shape: vec![h as u64, w as u64] }
            };
            let got = read_u8(t.hub.as_ref(), dataset, &format!("band{}", k + 1), &region).await;
            assert!(got == want, "{name} band {}: values differ from GDAL's", k + 1);
        }
    }
    drop(root);
}

/// Damaged rasters and model files are refused with a report and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_rasters_and_grib_are_refused() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let good = composite(
        dir.path(),
        "201609281600.tif",
        &Composite { size: SIZE, step: 0, version: 0, with_crs: true, datetime: None },
    );
    let r = t.ingest("radar", &good, "incoming/radar/201609281600.tif").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    let grib = dir.path().join("run.grib2");
    hub_gdal::fixtures::write_forecast(
        &grib,
        &hub_gdal::fixtures::Forecast { reference: 1_704_067_200, lead_hours: 0, version: 0.0 },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tip = t.hub.history(&DatasetId::new("radar").unwrap_or_else(|e| panic!("{e}")), 1).await.unwrap_or_default();
    for (name, source, keep) in
        [("201609281605.tif", &good, 2.0 / 3.0), ("201609281610.tif", &good, 0.1), ("run.grib2", &grib, 0.6)]
    {
        let bytes = std::fs::read(source).unwrap_or_default();
        let cut = dir.path().join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..(bytes.len() as f64 * keep) as usize]).unwrap_or_else(|e| panic!("{e}"));
        let r = t.ingest("radar", &cut, &format!("incoming/radar/{name}")).await;
        assert_eq!(r.status, IngestStatus::Rejected, "{name} cut to {keep}: {:?}", r.variables.len());
        let e = r.error.unwrap_or_else(|| panic!("no error"));
        assert!(!e.message.is_empty() && e.kind == "corrupt", "{name}: {e:?}");
        if name.ends_with("grib2") {
            assert!(e.message.contains("truncated"), "{e:?}");
        }
    }
    let after = t.hub.history(&DatasetId::new("radar").unwrap_or_else(|e| panic!("{e}")), 1).await.unwrap_or_default();
    assert_eq!(after, tip, "the dataset is unchanged");
    drop(root);
}

/// Bytes under a folder, recursively.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Late composites interleaved with on-time ones (steps 0, N-1, 1, N-2, ...):
/// every late step lands before the others, which move up by relabelling
/// their chunks (one step per chunk), not by copying them. The repository
/// then holds about what the same composites in order make, values checked
/// step by step; copying made it grow with the square of the count (200
/// files: 4.8 GB for 111 MB of data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_late_composites_do_not_multiply_storage() {
    let Some(root) = Backend::File.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let config = DatasetConfig::parse(
        r#"{"rules": [{"key": "^(?P<dataset>[a-z]+)/", "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}, "chunks": {"band1": [1, 120, 160]}}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let n = 24u32;
    let stamp = |step: u32| format!("20160928{:02}{:02}", 10 + step / 12, (step % 12) * 5);
    let interleaved: Vec<u32> = (0..n / 2).flat_map(|k| [k, n - 1 - k]).collect();
    let mut want = std::collections::HashMap::new();
    for (dataset, order) in [("ordered", (0..n).collect::<Vec<_>>()), ("interleaved", interleaved)] {
        for step in order {
            let name = format!("{}_COMP.tif", stamp(step));
            let path = dir.path().join(format!("{dataset}-{name}"));
            want.insert(step, noisy_composite(&path, step));
            let r = t.ingest_configured(&config, &path, &format!("{dataset}/{name}")).await;
            assert_eq!(r.status, IngestStatus::Committed, "{dataset} {name}: {:?}", r.error);
        }
        for step in 0..n {
            let region = Hyperslab { start: vec![u64::from(step), 0, 0], shape: vec![1, BIG.1 as u64, BIG.0 as u64] };
            let got = read_u8(t.hub.as_ref(), dataset, "band1", &region).await;
            assert!(Some(&got) == want.get(&step), "{dataset} step {step}");
        }
    }
    let hub_store::StoreUrl::File(folder) = &root.url else { panic!("a folder hub") };
    let stored = |d: &str| (bytes_under(&folder.join(d).join("chunks")), bytes_under(&folder.join(d)));
    let ((ordered, ordered_all), (interleaved, interleaved_all)) = (stored("ordered"), stored("interleaved"));
    assert!(ordered > 0, "the composites are stored as chunk objects");
    assert!(
        interleaved <= ordered + ordered / 10 && interleaved_all <= 2 * ordered_all,
        "bytes: chunks {interleaved} interleaved vs {ordered} in order; all {interleaved_all} vs {ordered_all}"
    );
}
