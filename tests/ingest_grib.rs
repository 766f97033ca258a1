//! GRIB2 through GDAL: every shared file decoded with the values GDAL reads
//! (float32, bitmap points as NaN), instantaneous and interval fields kept
//! apart; and model runs written by the hub's own GRIB writer appended as
//! forecast instances: steps of a run arriving one file at a time and out of
//! order, a second run, a re-delivery and a corrected step.

use std::collections::HashSet;
use std::path::Path;

use gdal::Metadata;
use hub_core::ingest::IngestStatus;
use hub_core::model::{BlockData, DatasetId, Hyperslab, attr_text};
use hub_core::ports::{Repository, SourceDecoder, Version};
use hub_e2e::TestHub;
use hub_gdal::GdalDecoder;
use hub_gdal::fixtures::{FORECAST_GRID, FORECAST_LEVELS, Forecast, write_forecast};
use hub_testkit::Backend;

fn f32s(data: BlockData) -> Vec<f32> {
    match data {
        BlockData::Numeric(b) => {
            b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect()
        }
        BlockData::Strings(_) => Vec::new(),
    }
}

fn i64s(data: BlockData) -> Vec<i64> {
    match data {
        BlockData::Numeric(b) => {
            b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
        }
        BlockData::Strings(_) => Vec::new(),
    }
}

#[test]
fn every_shared_grib2_file_decodes_to_the_values_gdal_reads() {
    let files = hub_testkit::shared_files("grib2");
    if files.is_empty() {
        return;
    }
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut src = GdalDecoder.open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let schema = src.schema().clone();
        assert_eq!(src.format(), "GRIB2");
        let gdal = gdal::Dataset::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let (nx, ny) = gdal.raster_size();
        let fields: Vec<_> = schema.variables.iter().filter(|v| v.dims.len() >= 4).cloned().collect();
        assert!(!fields.is_empty(), "{name}");
        let mut bands_seen = HashSet::new();
        for var in &fields {
            assert_eq!(&var.dims[..2], ["reference_time", "lead_time"], "{name} {}", var.path);
            assert_eq!(attr_text(&var.attrs, "grid_mapping"), Some("spatial_ref"));
            // Compare every stored map with the GDAL band it came from.
            let element = attr_text(&var.attrs, "grib_element").unwrap_or("").to_string();
            let k = var.dims.len() - 2;
            let outer: u64 = var.shape[..k].iter().product();
            for i in 0..outer {
                let mut start = vec![0u64; k];
                let mut rest = i;
                for d in (0..k).rev() {
                    start[d] = rest % var.shape[d];
                    rest /= var.shape[d];
                }
                let mut region_start = start.clone();
                region_start.extend([0, 0]);
                let mut shape = vec![1; k];
                shape.extend([ny as u64, nx as u64]);
                let got = f32s(
                    src.read(&var.path, &Hyperslab { start: region_start, shape }).unwrap_or_else(|e| panic!("{e}")),
                );
                if got.iter().all(|v| v.is_nan()) {
                    continue; // a combination the file does not hold
                }
                // Find the band with the same values among those of this element.
                let found = (1..=gdal.raster_count()).find(|&b| {
                    let band = gdal.rasterband(b).unwrap_or_else(|e| panic!("{e}"));
                    if band.metadata_item("GRIB_ELEMENT", "").as_deref() != Some(element.as_str()) {
                        return false;
                    }
                    let nodata = band.no_data_value();
                    let want = band.read_as::<f64>((0, 0), (nx, ny), (nx, ny), None).unwrap_or_else(|e| panic!("{e}"));
                    want.data().iter().zip(&got).all(|(&w, &g)| {
                        if nodata == Some(w) { g.is_nan() } else { (w as f32).to_bits() == g.to_bits() }
                    })
                });
                let band =
                    found.unwrap_or_else(|| panic!("{name} {} {start:?}: no GDAL band has these values", var.path));
                bands_seen.insert(band);
            }
        }
        assert!(!bands_seen.is_empty(), "{name}");
        if name.starts_with("cfrzr") {
            let names: Vec<&str> = fields.iter().map(|v| v.path.as_str()).collect();
            assert!(names.contains(&"cprat_surface") && names.contains(&"cprat_surface_avg"), "{names:?}");
            let avg = fields.iter().find(|v| v.path == "cprat_surface_avg").unwrap_or_else(|| panic!("avg"));
            assert_eq!(attr_text(&avg.attrs, "cell_methods"), Some("lead_time: mean"));
        }
        if name.starts_with("gfs") {
            let tmp = fields.iter().find(|v| v.path == "tmp_isobaric").unwrap_or_else(|| panic!("tmp_isobaric"));
            assert_eq!(tmp.dims, ["reference_time", "lead_time", "isobaric", "lat", "lon"]);
            assert_eq!(attr_text(&tmp.attrs, "units"), Some("K"), "raw GRIB units");
            let lead = f32s(src.read("lead_time", &Hyperslab::full(&[1])).unwrap_or_else(|e| panic!("{e}")));
            assert!(!lead.is_empty());
        }
        if name.starts_with("missing") {
            let var = &fields[0];
            let mut shape = var.shape.clone();
            shape.iter_mut().take(var.dims.len() - 2).for_each(|s| *s = 1);
            let got = f32s(
                src.read(&var.path, &Hyperslab { start: vec![0; shape.len()], shape })
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            assert_eq!(got.iter().filter(|v| v.is_nan()).count(), 952, "the bitmap's missing points");
        }
    }
}

fn forecast(dir: &Path, f: &Forecast, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    write_forecast(&path, f).unwrap_or_else(|e| panic!("{name}: {e}"));
    path
}

async fn runs(backend: Backend) {
    let Some(root) = backend.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let run0 = 1_704_067_200; // 2024-01-01T00Z
    let run1 = run0 + 6 * 3600;
    let f = |reference: i64, lead_hours: u32, version: f32| Forecast { reference, lead_hours, version };
    // Run 00Z arrives step by step, out of order; run 06Z after it, one step twice.
    let deliveries = [(run0, 6), (run0, 0), (run0, 3), (run1, 3), (run1, 0), (run1, 6)];
    for &(r, lead) in &deliveries {
        let name = format!("nwp_{r}_{lead:03}.grib2");
        let path = forecast(dir.path(), &f(r, lead, 0.0), &name);
        let report = t.ingest("nwp", &path, &format!("incoming/nwp/{name}")).await;
        assert_eq!(report.status, IngestStatus::Committed, "{name}: {:?}", report.error);
        assert_eq!(report.format.as_deref(), Some("GRIB2"));
    }
    let name = format!("nwp_{run1}_006.grib2");
    let again = t.ingest("nwp", &dir.path().join(&name), &format!("incoming/nwp/{name}")).await;
    assert_eq!(again.status, IngestStatus::Duplicate);
    // A corrected 00Z +3 h.
    let fixed = forecast(dir.path(), &f(run0, 3, 0.5), "fixed.grib2");
    let report = t.ingest("nwp", &fixed, &format!("incoming/nwp/nwp_{run0}_003.grib2")).await;
    assert_eq!(report.status, IngestStatus::Committed, "{:?}", report.error);

    let id = DatasetId::new("nwp").unwrap_or_else(|e| panic!("{e}"));
    let reader = t.hub.open(&id, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        i64s(reader.read("reference_time", &Hyperslab::full(&[2])).await.unwrap_or_else(|e| panic!("{e}"))),
        vec![run0, run1]
    );
    assert_eq!(
        i64s(reader.read("lead_time", &Hyperslab::full(&[3])).await.unwrap_or_else(|e| panic!("{e}"))),
        vec![0, 3 * 3600, 6 * 3600]
    );
    let valid = i64s(reader.read("valid_time", &Hyperslab::full(&[2, 3])).await.unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(valid, vec![run0, run0 + 10_800, run0 + 21_600, run1, run1 + 10_800, run1 + 21_600]);
    let (h, w) = FORECAST_GRID;
    let n = FORECAST_LEVELS.len();
    let tmp = f32s(
        reader
            .read("tmp_isobaric", &Hyperslab::full(&[2, 3, n as u64, h as u64, w as u64]))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    for (ri, &r) in [run0, run1].iter().enumerate() {
        for (li, lead) in [0u32, 3, 6].iter().enumerate() {
            let version = if r == run0 && *lead == 3 { 0.5 } else { 0.0 };
            let want = f(r, *lead, version);
            // Levels are stored sorted (250, 500, 850 hPa); the writer's band k is FORECAST_LEVELS[k].
            let mut sorted: Vec<(u32, usize)> = FORECAST_LEVELS.iter().copied().zip(0..).collect();
            sorted.sort();
            for (zi, &(_, band)) in sorted.iter().enumerate() {
                let base = ((ri * 3 + li) * n + zi) * h * w;
                for (row, col) in [(0, 0), (10, 20), (h - 1, w - 1)] {
                    assert_eq!(
                        tmp[base + row * w + col],
                        want.value(band, row, col),
                        "run {ri} lead {lead} level {zi}"
                    );
                }
            }
        }
    }
    drop(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_memory() {
    runs(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_s3() {
    runs(Backend::S3).await;
}

/// Every shared GRIB2 file lands as a dataset whose fields read back as the
/// decoder gives them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_grib2_file_ingests() {
    let files = hub_testkit::shared_files("grib2");
    if files.is_empty() {
        return;
    }
    let Some(root) = Backend::File.root().await else { return };
    let t = TestHub::new(root.url.clone());
    for (i, path) in files.iter().enumerate() {
        let dataset = format!("grib{i}");
        let report = t.ingest(&dataset, path, &format!("incoming/{dataset}/x.grib2")).await;
        assert_eq!(report.status, IngestStatus::Committed, "{}: {:?}", path.display(), report.error);
        let mut src = GdalDecoder.open(path).unwrap_or_else(|e| panic!("{e}"));
        let reader = t
            .hub
            .open(&DatasetId::new(dataset.as_str()).unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // The first and the last field of the file, whole.
        let fields: Vec<_> = src.schema().variables.iter().filter(|v| v.dims.len() >= 4).cloned().collect();
        for var in [fields.first(), fields.last()].into_iter().flatten() {
            let full = Hyperslab::full(&var.shape);
            let want = f32s(src.read(&var.path, &full).unwrap_or_else(|e| panic!("{e}")));
            let got = f32s(reader.read(&var.path, &full).await.unwrap_or_else(|e| panic!("{e}")));
            assert!(
                want.len() == got.len() && want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{} {}",
                path.display(),
                var.path
            );
        }
    }
    drop(root);
}

/// Ensemble members of one run arriving in files of their own, out of order:
/// the member axis grows like a time axis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_arrive_one_by_one() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let forecast = Forecast { reference: 1_704_067_200, lead_hours: 6, version: 0.0 };
    for number in [3u8, 1, 2] {
        let path = dir.path().join(format!("m{number}.grib2"));
        hub_gdal::fixtures::write_member(&path, &hub_gdal::fixtures::Member { forecast, number })
            .unwrap_or_else(|e| panic!("{e}"));
        let r = t.ingest("ens", &path, &format!("incoming/ens/m{number}.grib2")).await;
        assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    }
    let reader = t
        .hub
        .open(&DatasetId::new("ens").unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let arrays = reader.arrays().await.unwrap_or_default();
    let var = arrays.iter().find(|a| a.path == "tmp_height_above_ground").unwrap_or_else(|| panic!("2 m temperature"));
    assert_eq!(var.dims, ["reference_time", "lead_time", "member", "height_above_ground", "lat", "lon"]);
    let BlockData::Numeric(m) = reader.read("member", &Hyperslab::full(&[3])).await.unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("numeric members")
    };
    let members: Vec<i32> = m.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
    assert_eq!(members, vec![1, 2, 3]);
    let (h, w) = FORECAST_GRID;
    let values = f32s(
        reader
            .read("tmp_height_above_ground", &Hyperslab::full(&[1, 1, 3, 1, h as u64, w as u64]))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    for (k, number) in [1u8, 2, 3].iter().enumerate() {
        assert_eq!(values[k * h * w + 5 * w + 6], forecast.value(3, 5, 6) + f32::from(*number), "member {number}");
    }
    drop(root);
}
