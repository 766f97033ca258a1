//! Hostile inputs a probe of the hub found, rebuilt by the project's own code:
//! each ends in a permanent, reported rejection that says what is wrong and
//! what to do (or, for real files that were wrongly refused, in a dataset),
//! and the process that ingests never crashes.

use std::path::{Path, PathBuf};

use hub_core::ingest::{IngestReport, IngestSettings, IngestStatus};
use hub_core::model::{BlockData, DatasetId, Hyperslab};
use hub_core::ports::{DecodeHints, DecodeLimits, RepoError, Repository, SourceDecoder, Version};
use hub_e2e::TestHub;
use hub_gdal::fixtures::{Forecast, write_forecast};
use hub_sandbox::SandboxLimits;
use hub_testkit::{Backend, hostile};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
    p
}

fn id(s: &str) -> DatasetId {
    DatasetId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Rejected with `kind`, the message holding every one of `needles`, a
/// failure report stored, and no dataset created.
async fn assert_refused(t: &TestHub, dataset: &str, r: &IngestReport, kind: &str, needles: &[&str]) {
    assert_eq!(r.status, IngestStatus::Rejected, "{dataset}: {r:?}");
    let e = r.error.as_ref().unwrap_or_else(|| panic!("{dataset}: no error"));
    assert_eq!(e.kind, kind, "{dataset}: {}", e.message);
    for n in needles {
        assert!(e.message.contains(n), "{dataset}: {n:?} not in {:?}", e.message);
    }
    assert!(
        !e.message.contains("/tmp/") && !e.message.contains("hub-upload-"),
        "{dataset}: a machine path in {:?}",
        e.message
    );
    let opened = t.hub.open(&id(dataset), &Version::Latest).await.map(|r| r.snapshot_id().to_string());
    assert!(matches!(opened, Err(RepoError::NotFound(_))), "{dataset}: {opened:?}");
    let failed = t.reports.list("_reports/failed").await.unwrap_or_default();
    assert!(failed.iter().any(|f| f.dataset == dataset), "{dataset}: no failure report");
}

/// A dataset name, the file, the rejection's kind, words in its message, and
/// whether the file took a process down before the hub checked for it.
type Case = (&'static str, Vec<u8>, &'static str, &'static [&'static str], bool);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf3_headers_that_netcdf_c_would_trust_are_refused_first() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let cases: [Case; 5] = [
        // 2000 dimensions overran netCDF-C's stack (SIGABRT).
        (
            "deep",
            hostile::classic_deep_rank(2000),
            "too_large",
            &["2000 dimensions", "netCDF-C's fixed limit of 1024"],
            true,
        ),
        // numrecs = 0xFFFFFFFF made the hub allocate 32 GiB for the time axis.
        ("streaming", hostile::classic_streaming_record(), "unsupported", &["streaming", "nccopy"], true),
        // The netcdf crate panicked on a name that is not UTF-8.
        ("notutf8", hostile::classic_named(b"t\xffas"), "unsupported", &["not UTF-8", "rename"], true),
        // Names that are paths failed as "storage unavailable" (transient).
        ("dotdot", hostile::classic_named(b".."), "unsupported", &["\"..\"", "rename"], false),
        ("traversal", hostile::classic_named(b"a/../../b"), "unsupported", &["rename"], false),
    ];
    for (name, bytes, kind, needles, fatal) in cases {
        let path = write(dir.path(), &format!("{name}.nc"), &bytes);
        if fatal {
            // In this very process: the header check refuses before netCDF-C
            // opens the file (were it missing, this test process would abort).
            let direct = hub_netcdf::NetcdfDecoder.open_with(&path, &DecodeHints::default());
            assert!(direct.is_err(), "{name}: opened in process");
        }
        let r = t.ingest(name, &path, &format!("incoming/{name}/{name}.nc")).await;
        assert_refused(&t, name, &r, kind, needles).await;
    }
    // Within netCDF-C's dimension count, the rank is still over the hub's.
    let path = write(dir.path(), "rank40.nc", &hostile::classic_deep_rank(40));
    let r = t.ingest("rank40", &path, "rank40.nc").await;
    assert_refused(&t, "rank40", &r, "too_large", &["40 dimensions", "HUB_LIMIT_RANK"]).await;
    // The same layout with a sane rank is a dataset: the check is not a ban.
    let path = write(dir.path(), "shallow.nc", &hostile::classic_deep_rank(8));
    let r = t.ingest("shallow", &path, "shallow.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_sizes_are_refused_before_decoding_naming_the_limit() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    // 10⁹ float64 pixels in a 100-byte GeoTIFF (drove a process to 22.6 GB).
    let tiff = write(dir.path(), "huge.tif", &hostile::tiff_declaring(40_000, 25_000, 64, 1, false));
    let limits = DecodeLimits { max_grid_cells: 1 << 28, ..DecodeLimits::default() };
    let strict = TestHub::with_settings(root.url.clone(), IngestSettings { limits, ..IngestSettings::default() });
    let r = strict.ingest("huge-tiff", &tiff, "huge.tif").await;
    assert_refused(&strict, "huge-tiff", &r, "too_large", &["40000 × 25000", "HUB_LIMIT_GRID_CELLS"]).await;
    // 2000 bands (ran for minutes).
    let bands = write(dir.path(), "bands.tif", &hostile::tiff_declaring(4096, 4096, 8, 2000, true));
    let r = t.ingest("bands", &bands, "bands.tif").await;
    assert_refused(&t, "bands", &r, "too_large", &["2000 bands", "HUB_LIMIT_BANDS"]).await;
    // Ni = Nj = 100000 in a GRIB2 grid section (ran ~100 s, then aborted).
    let grib = dir.path().join("f.grib2");
    write_forecast(&grib, &Forecast { reference: 1_700_000_000 / 3600 * 3600, lead_hours: 6, version: 0.0 })
        .unwrap_or_else(|e| panic!("{e}"));
    let mut bytes = std::fs::read(&grib).unwrap_or_default();
    for m in hostile::grib_messages(&bytes.clone()) {
        let s3 = (m.start + 16..m.end).find(|&i| bytes[i + 4] == 3 && bytes[i..i + 4] == 72u32.to_be_bytes());
        if let Some(s3) = s3 {
            bytes[s3 + 30..s3 + 34].copy_from_slice(&100_000u32.to_be_bytes());
            bytes[s3 + 34..s3 + 38].copy_from_slice(&100_000u32.to_be_bytes());
        }
    }
    let path = write(dir.path(), "huge.grib2", &bytes);
    let r = t.ingest("huge-grib", &path, "huge.grib2").await;
    assert_refused(&t, "huge-grib", &r, "too_large", &["100000 × 100000", "HUB_LIMIT_GRID_CELLS"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grib2_bulletins_are_read_and_cut_or_reduced_grids_are_refused() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let plain = dir.path().join("run.grib2");
    let f = Forecast { reference: 1_700_000_000 / 3600 * 3600, lead_hours: 6, version: 0.0 };
    write_forecast(&plain, &f).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(&plain).unwrap_or_default();
    assert_eq!(hostile::grib_messages(&bytes).len(), 4);

    // WMO headers before every message (NOAA NDFD style): read as GDAL and
    // ecCodes read them, the same values as the plain file.
    let bulletins = write(dir.path(), "bulletins.grib2", &hostile::grib_as_bulletins(&bytes));
    let a = t.ingest("plain", &plain, "plain.grib2").await;
    let b = t.ingest("bulletins", &bulletins, "bulletins.grib2").await;
    assert_eq!(a.status, IngestStatus::Committed, "{:?}", a.error);
    assert_eq!(b.status, IngestStatus::Committed, "{:?}", b.error);
    assert!(b.warnings.iter().any(|w| w.contains("bulletin header")), "{:?}", b.warnings);
    for var in ["tmp_isobaric", "tmp_height_above_ground"] {
        let read = |d: &'static str| {
            let hub = t.hub.clone();
            async move {
                let r = hub.open(&id(d), &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
                let info = r.arrays().await.unwrap_or_default().into_iter().find(|a| a.path == var);
                let info = info.unwrap_or_else(|| panic!("{d}: no {var}"));
                r.read(var, &Hyperslab::full(&info.shape)).await.unwrap_or_else(|e| panic!("{e}"))
            }
        };
        let (x, y) = (read("plain").await, read("bulletins").await);
        assert!(matches!(&x, BlockData::Numeric(v) if !v.is_empty()));
        assert_eq!(x, y, "{var}");
    }

    // Cut by one byte behind the padding: the last message is short.
    let padded = hostile::grib_as_bulletins(&bytes);
    let cut = write(dir.path(), "cut.grib2", &padded[..padded.len() - 8]);
    let r = t.ingest("cut", &cut, "cut.grib2").await;
    assert_refused(&t, "cut", &r, "corrupt", &["truncated", "message 4"]).await;

    // A reduced Gaussian grid panicked ("capacity overflow").
    let reduced = write(dir.path(), "reduced.grib2", &hostile::grib_reduced_gaussian(&bytes));
    let r = t.ingest("reduced", &reduced, "reduced.grib2").await;
    assert_refused(&t, "reduced", &r, "unsupported", &["reduced", "regular grid"]).await;
}

/// A fault file for the tests' decoder child (see `decoder.rs`).
fn fault(dir: &Path, what: &str) -> PathBuf {
    write(dir, &format!("{what}.fault"), format!("HUBFAULT {what}").as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoder_that_crashes_hangs_or_runs_away_is_a_reported_rejection() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let limits = SandboxLimits { memory_bytes: 512 << 20, cpu_seconds: 3, timeout: std::time::Duration::from_secs(2) };
    let t = TestHub::with_sandbox(root.url.clone(), IngestSettings::default(), limits);
    let started = std::time::Instant::now();
    for (what, kind, needle) in [
        ("abort", "decoder_crashed", "SIGABRT"),
        ("panic", "decoder_crashed", "panicked"),
        ("allocate", "too_large", "HUB_DECODE_MEMORY_MIB"),
        ("hang", "timeout", "HUB_DECODE_TIMEOUT_SECONDS"),
        ("spin", "timeout", "HUB_DECODE"),
    ] {
        let r = t.ingest(what, &fault(dir.path(), what), &format!("{what}.fault")).await;
        assert_refused(&t, what, &r, kind, &[needle]).await;
    }
    // Bounded by the limits: a hang costs its time-out, not forever.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
    // What a library prints to stdout does not reach the protocol.
    let r = t.ingest("stdout", &fault(dir.path(), "stdout"), "stdout.fault").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    let stats = hub_sandbox::stats();
    assert!(stats.crashed >= 3 && stats.timed_out >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_file_in_a_multi_file_ingest_does_not_stop_the_others() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let crash = t.ingest("mixed", &fault(dir.path(), "abort"), "incoming/mixed/a.fault").await;
    assert_eq!(crash.status, IngestStatus::Rejected);
    let good = t
        .ingest("mixed", &hub_testkit::fixture(hub_netcdf::fixtures::Fixture::Netcdf4NoLeapFill), "incoming/mixed/b.nc")
        .await;
    assert_eq!(good.status, IngestStatus::Committed, "{:?}", good.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_fill_value_on_packed_shorts_is_taken_with_no_value_missing() {
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let t = TestHub::new(root.url.clone());
    let path = dir.path().join("ecmwf.nc");
    hub_netcdf::fixtures::write_nan_fill_short(&path).unwrap_or_else(|e| panic!("{e}"));
    let r = t.ingest("nanfill", &path, "ecmwf.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert!(
        r.warnings.iter().any(|w| w.contains("t2m: _FillValue") && w.contains("no value is missing")),
        "{:?}",
        r.warnings
    );
    let reader = t.hub.open(&id("nanfill"), &Version::Latest).await.unwrap_or_else(|e| panic!("{e}"));
    let arrays = reader.arrays().await.unwrap_or_default();
    let t2m = arrays.iter().find(|a| a.path == "t2m").unwrap_or_else(|| panic!("t2m"));
    assert!(!t2m.attrs.contains_key("_FillValue"));
    let BlockData::Numeric(bytes) =
        reader.read("t2m", &Hyperslab::full(&t2m.shape)).await.unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("numbers")
    };
    let raw: Vec<i16> = bytes.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let want: Vec<i16> = (0..24).map(|i| (i * 37 % 200 - 100) as i16).collect();
    assert_eq!(raw, want, "every value kept, bit for bit");
}

/// A tiled GeoTIFF of a few MB that decodes to 512 MiB: ingested with the
/// decoder's memory held to GDAL's bounded block cache and a slab or two
/// (it took 1.8 GB for a 10 GB file when GDAL kept 5 % of the machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_that_decodes_to_half_a_gigabyte_stays_within_two_slabs() {
    use gdal::raster::{Buffer, RasterCreationOptions};
    let Some(root) = Backend::Memory.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("201609281600_BIG.tif");
    let (w, h) = (32_768usize, 16_384usize);
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap_or_else(|e| panic!("{e}"));
        let options =
            RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512"]);
        let mut ds = driver
            .create_with_band_type_with_options::<u8, _>(&path, w, h, 1, &options)
            .unwrap_or_else(|e| panic!("{e}"));
        ds.set_geo_transform(&[50_000.0, 100.0, 0.0, 7_800_000.0, 0.0, -100.0]).unwrap_or_else(|e| panic!("{e}"));
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(3067).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut band = ds.rasterband(1).unwrap_or_else(|e| panic!("{e}"));
        let rows = 512;
        for r0 in (0..h).step_by(rows) {
            let data: Vec<u8> =
                (r0..r0 + rows).flat_map(|r| (0..w).map(move |c| ((r / 7 + c / 11) % 250) as u8)).collect();
            band.write((0, r0 as isize), (w, rows), &mut Buffer::new((w, rows), data))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let file_mb = std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or(0);
    let t = TestHub::new(root.url.clone());
    let r = t.ingest("big", &path, "201609281600_BIG.tif").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    assert!(r.bytes_in >= (w * h) as u64, "every cell read: {}", r.bytes_in);
    let child = hub_sandbox::stats().peak_rss_bytes;
    eprintln!("a {file_mb} MB file decoding to {} MiB: decoder child peaked at {} MiB", (w * h) >> 20, child >> 20);
    assert!(child > 0 && child < 400 << 20, "the decoder child peaked at {} MiB", child >> 20);
}

/// Opens `path` as the binaries do: in a decoder child.
fn open_isolated(path: &Path) -> Box<dyn hub_core::ports::SourceDataset> {
    let registry =
        hub_sandbox::Sandbox::new(hub_e2e::decoder_program(), SandboxLimits::default()).wrap(&hub_e2e::test_decoders());
    let head = std::fs::read(path).unwrap_or_default();
    let head = &head[..head.len().min(hub_core::ports::HEAD_BYTES)];
    let decoder = registry.detect(head).unwrap_or_else(|e| panic!("{e}"));
    decoder.open_with(path, &DecodeHints::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn reads_asked_ahead_of_the_child_give_the_same_bytes_in_any_order() {
    use hub_netcdf::fixtures::Fixture;
    let file = hub_testkit::fixture(Fixture::Netcdf4NoLeapFill);
    let mut local = hub_netcdf::NetcdfSource::open_reference(&file).unwrap_or_else(|e| panic!("{e}"));
    let schema = hub_core::ports::SourceDataset::schema(&local).clone();
    // Every variable in two halves along its first axis (or whole).
    let reads: Vec<(String, Hyperslab)> = schema
        .variables
        .iter()
        .flat_map(|v| {
            let full = Hyperslab::full(&v.shape);
            match v.shape.first() {
                Some(&n) if n >= 2 => {
                    let mut a = full.clone();
                    a.shape[0] = n / 2;
                    let mut b = full.clone();
                    b.start[0] = n / 2;
                    b.shape[0] = n - n / 2;
                    vec![(v.path.clone(), a), (v.path.clone(), b)]
                }
                _ => vec![(v.path.clone(), full)],
            }
        })
        .collect();
    assert!(reads.len() >= 4, "{reads:?}");
    let want: Vec<BlockData> = reads
        .iter()
        .map(|(p, r)| hub_core::ports::SourceDataset::read(&mut local, p, r).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let check = |order: &[usize], ahead: bool| {
        let mut child = open_isolated(&file);
        if ahead {
            child.read_ahead(reads.clone());
        }
        for &i in order {
            let (p, r) = &reads[i];
            let got = child.read_into(p, r, Vec::new()).unwrap_or_else(|e| panic!("{p} {r:?}: {e}"));
            assert!(got == want[i], "{p} {r:?} (order {order:?}, ahead {ahead}) differs");
        }
    };
    let in_order: Vec<usize> = (0..reads.len()).collect();
    check(&in_order, true);
    check(&in_order, false);
    // Announced one way, asked another: what was asked ahead is dropped.
    let mut shuffled = in_order.clone();
    shuffled.reverse();
    shuffled.swap(0, 1);
    check(&shuffled, true);
    // Left with reads in flight: the child is ended at once, not asked to
    // close and then waited for (that path polls it for 2 s before a kill).
    let mut child = open_isolated(&file);
    child.read_ahead(reads.clone());
    let started = std::time::Instant::now();
    drop(child);
    assert!(started.elapsed() < std::time::Duration::from_millis(1500), "{:?}", started.elapsed());
}

#[test]
fn a_read_asked_ahead_that_fails_is_reported_on_its_read() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut child = open_isolated(&fault(dir.path(), "fail_read"));
    let half = |start| Hyperslab { start: vec![start], shape: vec![2] };
    child.read_ahead(vec![("x".into(), half(0)), ("x".into(), half(2))]);
    let first = child.read_into("x", &half(0), Vec::new()).unwrap_or_else(|e| panic!("{e}"));
    assert!(first == BlockData::Numeric([0i32, 1].iter().flat_map(|v| v.to_le_bytes()).collect()));
    let second = child.read_into("x", &half(2), Vec::new());
    assert!(
        matches!(&second, Err(hub_core::ports::DecodeError::Corrupt(m)) if m.contains("damaged block")),
        "{second:?}"
    );
    // A failing read asked ahead and then not wanted is not the failure of the
    // read asked instead.
    let mut child = open_isolated(&fault(dir.path(), "fail_read"));
    child.read_ahead(vec![("x".into(), half(2)), ("x".into(), half(0))]);
    let instead = child.read_into("x", &half(0), Vec::new()).unwrap_or_else(|e| panic!("{e}"));
    assert!(instead == first);
}
