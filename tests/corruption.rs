//! The ingest against a few hundred damaged variants of the project's own
//! fixtures (NetCDF-3 classic and 64-bit offset, NetCDF-4, a GeoTIFF
//! composite, a GRIB2 model step): cuts, bit flips where formats keep their
//! headers, and 4-byte words set to huge values (declared sizes). For each,
//! into a new dataset and as an append: a success, or a clean rejection with a
//! report and a message that names no machine path; never a transient error
//! or a crash; a rejected append leaves its dataset at its snapshot, a
//! rejected first upload leaves nothing; an untouched dataset stays as it was;
//! memory stays bounded (measured: this process and every decoder child).
//!
//! One test in its own binary, so this process's peak memory is the ingest's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hub_core::ingest::{IngestSettings, IngestStatus};
use hub_core::model::DatasetId;
use hub_core::ports::{DecodeLimits, RepoError, Repository, Version};
use hub_e2e::{TestHub, assert_same_as_source};
use hub_netcdf::fixtures::Fixture;
use hub_sandbox::SandboxLimits;
use hub_testkit::{Backend, fixture, hostile};

fn id(s: &str) -> DatasetId {
    DatasetId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

/// A source file to damage: a name, its bytes, where its header lies, and
/// the file name it is uploaded under (it carries the composite's time).
struct Source {
    name: &'static str,
    bytes: Vec<u8>,
    header: std::ops::Range<usize>,
    file_name: &'static str,
}

fn sources(dir: &Path) -> Vec<Source> {
    let read = |p: PathBuf| std::fs::read(p).unwrap_or_else(|e| panic!("{e}"));
    let tif = dir.join("201609281600_COMP.tif");
    let c = hub_gdal::fixtures::Composite { size: (64, 48), step: 3, version: 0, with_crs: true, datetime: None };
    hub_gdal::fixtures::write_composite(&tif, &c).unwrap_or_else(|e| panic!("{e}"));
    let grib = dir.join("run.grib2");
    let f = hub_gdal::fixtures::Forecast { reference: 1_700_000_000 / 3600 * 3600, lead_hours: 6, version: 0.0 };
    hub_gdal::fixtures::write_forecast(&grib, &f).unwrap_or_else(|e| panic!("{e}"));
    let tif_bytes = read(tif);
    // GDAL writes a TIFF's directory where it pleases: damage its start and
    // the directory both.
    let ifd = u32::from_le_bytes([tif_bytes[4], tif_bytes[5], tif_bytes[6], tif_bytes[7]]) as usize;
    let grib_bytes = read(grib);
    let classic = read(fixture(Fixture::ClassicPacked360Day));
    let offset = read(fixture(Fixture::Offset64RotatedPole));
    let nc4 = read(fixture(Fixture::Netcdf4NoLeapFill));
    vec![
        Source { name: "classic", header: 0..1024.min(classic.len()), bytes: classic, file_name: "classic.nc" },
        Source { name: "offset64", header: 0..1536.min(offset.len()), bytes: offset, file_name: "offset64.nc" },
        Source { name: "netcdf4", header: 0..8192.min(nc4.len()), bytes: nc4, file_name: "netcdf4.nc" },
        Source {
            name: "geotiff",
            header: ifd.saturating_sub(16)..(ifd + 400).min(tif_bytes.len()),
            bytes: tif_bytes,
            file_name: "201609281600_COMP.tif",
        },
        Source { name: "grib2", header: 0..grib_bytes.len(), bytes: grib_bytes, file_name: "run.grib2" },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_variants_are_clean_rejections_or_successes_in_bounded_memory() {
    let Some(root) = Backend::File.root().await else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let limits = DecodeLimits { max_decoded_bytes: 256 << 20, max_grid_cells: 1 << 24, ..DecodeLimits::default() };
    let sandbox = SandboxLimits { memory_bytes: 1 << 30, cpu_seconds: 60, timeout: Duration::from_secs(30) };
    let t = TestHub::with_sandbox(root.url.clone(), IngestSettings { limits, ..IngestSettings::default() }, sandbox);

    // A dataset nothing here touches, and one base dataset per source.
    let reference = fixture(Fixture::Netcdf4NoLeapFill);
    let r = t.ingest("reference", &reference, "incoming/reference/pr.nc").await;
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    let sources = sources(dir.path());
    for s in &sources {
        let path = dir.path().join(s.file_name);
        std::fs::write(&path, &s.bytes).unwrap_or_else(|e| panic!("{e}"));
        let r = t.ingest(&format!("base-{}", s.name), &path, &format!("incoming/base/{}", s.file_name)).await;
        assert_eq!(r.status, IngestStatus::Committed, "{}: {:?}", s.name, r.error);
    }

    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let mut count = 0;
    for (k, s) in sources.iter().enumerate() {
        let base = id(&format!("base-{}", s.name));
        let variants = hostile::mutations(&s.bytes, s.header.clone(), 10, 36, 14, 1000 + k as u64);
        for (i, v) in variants.iter().enumerate() {
            count += 1;
            let vdir = dir.path().join(format!("{}-{i}", s.name));
            std::fs::create_dir_all(&vdir).unwrap_or_else(|e| panic!("{e}"));
            let path = vdir.join(s.file_name);
            std::fs::write(&path, &v.bytes).unwrap_or_else(|e| panic!("{e}"));
            let what = format!("{} {i} ({})", s.name, v.what);

            // Into a new dataset.
            let fresh = format!("v-{}-{i}", s.name);
            let r = t.ingest(&fresh, &path, &format!("incoming/{fresh}/{}", s.file_name)).await;
            let kind = match (&r.status, &r.error) {
                (IngestStatus::Committed, _) => "committed".to_string(),
                (IngestStatus::Rejected, Some(e)) => {
                    assert!(e.message.len() > 20, "{what}: {}", e.message);
                    assert!(
                        !e.message.contains("/tmp/") && !e.message.contains("hub-upload-"),
                        "{what}: {}",
                        e.message
                    );
                    let opened = t.hub.open(&id(&fresh), &Version::Latest).await.map(|r| r.snapshot_id().to_string());
                    assert!(matches!(opened, Err(RepoError::NotFound(_))), "{what}: {opened:?}");
                    examples.entry(e.kind.clone()).or_insert_with(|| format!("{what}: {}", e.message));
                    e.kind.clone()
                }
                other => panic!("{what}: {other:?}"),
            };
            *outcomes.entry(format!("{} {kind}", s.name)).or_default() += 1;

            // As an append to the base dataset.
            let before =
                t.hub.open(&base, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}")).snapshot_id().to_string();
            let r = t.ingest(base.as_str(), &path, &format!("incoming/base/{i}/{}", s.file_name)).await;
            let after =
                t.hub.open(&base, &Version::Latest).await.unwrap_or_else(|e| panic!("{e}")).snapshot_id().to_string();
            match r.status {
                IngestStatus::Rejected => assert_eq!(before, after, "{what}: a rejected append changed the dataset"),
                IngestStatus::Committed => assert_ne!(before, after, "{what}"),
                IngestStatus::Duplicate => panic!("{what}: a new key cannot be a duplicate"),
            }
        }
    }
    // Nothing left behind by rejected first uploads; the untouched dataset
    // is what it was.
    let left = t.hub.unfinished().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(left.is_empty(), "{left:?}");
    assert_same_as_source(t.hub.as_ref(), "reference", &reference).await;

    let parent = hub_sandbox::peak_rss_of_self().unwrap_or(0);
    let stats = hub_sandbox::stats();
    eprintln!("{count} damaged variants, each as a new dataset and as an append:");
    for (k, n) in &outcomes {
        eprintln!("  {k}: {n}");
    }
    for (k, m) in &examples {
        eprintln!("  e.g. {k}: {m}");
    }
    eprintln!(
        "decoder children: {} started, {} crashed or killed, {} timed out; peak RSS: this process {} MiB, a child {} MiB",
        stats.started,
        stats.crashed,
        stats.timed_out,
        parent >> 20,
        stats.peak_rss_bytes >> 20
    );
    assert!(count >= 250, "{count} variants");
    // Two slabs (96 MiB each) and the repository's buffers, with room: far
    // below what the damaged headers declare (up to 2^32 cells).
    assert!(parent < 1536 << 20, "this process peaked at {} MiB", parent >> 20);
    assert!(
        stats.peak_rss_bytes < sandbox.memory_bytes,
        "a decoder child peaked at {} MiB",
        stats.peak_rss_bytes >> 20
    );
}
