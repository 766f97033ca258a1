//! Answers pinned byte for byte: a fixed set of data and error queries over
//! the hub's own fixtures (three CF NetCDF files and six GRIB2 forecast
//! steps), served by `hub serve`, compared with `golden/answers.json`.
//!
//! The file holds, per query, the status, the body's length and SHA-256 and
//! its first bytes (to see what changed). A change to an encoder, the
//! planner or an error message shows here first; when the change is meant,
//! record the file again and say why in the commit:
//! `HUB_GOLDEN_RECORD=1 cargo test -p hub --test golden` (with
//! `HUB_GOLDEN_HUB=path/to/hub` to record with another build).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{http_get_bytes, serve, text};
use hub_gdal::fixtures::{Forecast, write_forecast};
use hub_netcdf::fixtures::Fixture;
use hub_testkit::fixture;
use sha2::{Digest, Sha256};

const RUN0: i64 = 1_704_067_200; // 2024-01-01T00:00Z
const RUN1: i64 = RUN0 + 6 * 3600;

/// The queries: data in every format, instances, and the errors users meet.
const QUERIES: &[&str] = &[
    "/collections/monthly/position?coords=POINT(10%2050)&datetime=1860-01-16",
    "/collections/monthly/position?coords=POINT(10%2050)&datetime=1860-02-30T00:00:00Z/1860-12-30",
    "/collections/monthly/position?coords=POINT(12.5%2047.3)&method=linear&datetime=1859-12-16",
    "/collections/monthly/position?coords=MULTIPOINT((10%2050),(-70%20-20))&datetime=1860-01-16&f=csv",
    "/collections/monthly/position?coords=POINT(10%2050)&datetime=1860-01-16/1860-06-16&f=geojson",
    "/collections/monthly/position?coords=POINT(10%2050)&f=netcdf",
    "/collections/monthly/cube?bbox=-20,30,40,60&datetime=1860-06-16",
    "/collections/monthly/cube?bbox=-20,30,40,60&datetime=1860-03-16/1860-08-16&f=netcdf",
    "/collections/monthly/cube?bbox=170,-10,-170,10&datetime=1860-06-16",
    "/collections/monthly/area?coords=POLYGON((-15%2047,10%2072,35%2047,10%2022,-15%2047))&datetime=1860-06-16",
    "/collections/monthly/radius?coords=POINT(10%2050)&within=600&within-units=km&datetime=1860-06-16",
    "/collections/monthly/radius?coords=POINT(10%2050)&within=300&within-units=mi&datetime=1860-06-16&f=csv",
    "/collections/daily/position?coords=POINT(10%2050)&parameter-name=pr&datetime=2046-07-01/2046-07-31",
    "/collections/daily/position?coords=POINT(23.9%2061.4)&datetime=../2046-01-03",
    "/collections/daily/trajectory?coords=LINESTRINGM(23.9%2061.4%202397548800,10%2050%202398412800,-70%20-20%202399276800)",
    "/collections/daily/trajectory?coords=LINESTRING(23.9%2061.4,10%2050)&datetime=2046-03-01/2046-03-10&f=csv",
    "/collections/daily/cube?bbox=0,0,40,40&datetime=2046-07-01&f=netcdf",
    "/collections/rotated/position?coords=POINT(10%2048)",
    "/collections/rotated/area?coords=POLYGON((5%2045,15%2045,10%2052,5%2045))&f=netcdf",
    "/collections/rotated/area?coords=POLYGON((5%2045,15%2045,10%2052,5%2045))",
    "/collections/nwp/instances/2024-01-01T00:00:00Z/position?coords=POINT(-179%2089)&parameter-name=tmp_height_above_ground",
    "/collections/nwp/instances/2024-01-01T00:00:00Z/position?coords=POINT(-179%2089)&parameter-name=tmp_height_above_ground&datetime=2024-01-01T03:00:00Z",
    "/collections/nwp/instances/latest/cube?bbox=0,0,10,10&parameter-name=tmp_height_above_ground",
    "/collections/nwp/instances/best/position?coords=POINT(-179%2089)&parameter-name=tmp_height_above_ground",
    "/collections/nwp/instances/best/position?coords=POINT(-179%2089)&parameter-name=tmp_height_above_ground&datetime=2024-01-01T05:00:00Z/2024-01-01T10:00:00Z&f=csv",
    // Errors.
    "/collections/nope/position?coords=POINT(0%200)",
    "/collections/daily/position?coords=POINT(0%200)&parameter-name=rain",
    "/collections/daily/position",
    "/collections/daily/position?coords=POINT(0)",
    "/collections/daily/position?coords=POINT(0%20100)",
    "/collections/daily/position?coords=POLYGON((0%200,1%200,1%201,0%200))",
    "/collections/daily/position?coords=POINT(0%200)&datetime=yesterday",
    "/collections/daily/position?coords=POINT(0%200)&datetime=2047-01-01/2046-01-01",
    "/collections/daily/position?coords=POINT(0%200)&z=10",
    "/collections/daily/position?coords=POINT(0%200)&method=cubic",
    "/collections/daily/position?coords=POINT(0%200)&f=xml",
    "/collections/daily/position?coords=POINT(0%200)&colour=red",
    "/collections/daily/position?coords=POINT(0%200)&crs=EPSG:3857",
    "/collections/daily/position?coords=POINT(10%2050)&lat=60&lon=25",
    "/collections/daily/cube?bbox=1,2,3",
    "/collections/daily/cube?bbox=0,50,10,40",
    "/collections/daily/cube?bbox=0,0,10,10&f=csv",
    "/collections/daily/cube?bbox=-180,-90,180,90",
    "/collections/daily/radius?coords=POINT(0%200)",
    "/collections/daily/radius?coords=POINT(0%200)&within=-3",
    "/collections/daily/radius?coords=POINT(0%200)&within=3&within-units=parsec",
    "/collections/daily/area?coords=POINT(0%200)",
    "/collections/daily/trajectory?coords=POINT(0%200)",
    "/collections/daily/nothing",
    "/collections/rotated/position?coords=POINT(-120%20-40)",
    "/collections/monthly/instances",
    "/collections/nwp/instances/2023-01-01T00:00:00Z",
    "/collections/nwp/instances/best/cube?bbox=0,0,10,10",
    "/collections/nwp/instances/latest/position?coords=POINT(-179%2089)&reference_time=2024-01-01T00:00:00Z",
];

fn golden_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/answers.json")
}

fn ingest(hub: &Path, dir: &Path, dataset: &str, file: &Path) {
    let o = Command::new(hub)
        .args(["ingest", "--repo", "hub-data", "--dataset", dataset])
        .arg(file)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("hub ingest: {e}"));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn answers_are_byte_identical_to_the_recorded_ones() {
    let hub =
        std::env::var_os("HUB_GOLDEN_HUB").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hub")), PathBuf::from);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    ingest(&hub, dir.path(), "monthly", &fixture(Fixture::ClassicPacked360Day));
    ingest(&hub, dir.path(), "daily", &fixture(Fixture::Netcdf4NoLeapFill));
    ingest(&hub, dir.path(), "rotated", &fixture(Fixture::Offset64RotatedPole));
    for (r, lead) in [(RUN0, 0u32), (RUN0, 3), (RUN0, 6), (RUN1, 6), (RUN1, 0), (RUN1, 3)] {
        let path = dir.path().join(format!("{r}_{lead}.grib2"));
        write_forecast(&path, &Forecast { reference: r, lead_hours: lead, version: 0.0 })
            .unwrap_or_else(|e| panic!("{e}"));
        ingest(&hub, dir.path(), "nwp", &path);
    }
    let server = serve_with(&hub, dir.path());
    let mut answers = BTreeMap::new();
    for q in QUERIES {
        let (status, body) = http_get_bytes(&server.addr, q);
        let head: String = String::from_utf8_lossy(&body[..body.len().min(160)]).into_owned();
        let digest = hex(&Sha256::digest(&body));
        answers.insert(
            q.to_string(),
            serde_json::json!({"status": status, "len": body.len(), "sha256": digest, "head": head}),
        );
    }
    let got = serde_json::to_string_pretty(&answers).unwrap_or_default() + "\n";
    if std::env::var_os("HUB_GOLDEN_RECORD").is_some() {
        std::fs::create_dir_all(golden_file().parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(golden_file(), &got).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let want: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(golden_file()).unwrap_or_else(|e| panic!("golden file: {e}")))
            .unwrap_or_else(|e| panic!("golden file: {e}"));
    let mut changed = Vec::new();
    for (q, a) in &answers {
        match want.get(q) {
            Some(w) if w == a => {}
            Some(w) => changed.push(format!("{q}\n  was {w}\n  now {a}")),
            None => changed.push(format!("{q}: not recorded (record the file again)")),
        }
    }
    assert!(changed.is_empty(), "{} answers changed:\n{}", changed.len(), changed.join("\n"));
    assert_eq!(want.len(), answers.len(), "the golden file holds queries this test no longer asks");
}

/// `hub serve` of the given binary (the test's own unless recording with another).
fn serve_with(hub: &Path, dir: &Path) -> crate::common::Server {
    if hub == Path::new(env!("CARGO_BIN_EXE_hub")) {
        return serve(dir, &["--repo", "hub-data"], &[]);
    }
    crate::common::serve_binary(hub, dir, &["--repo", "hub-data"], &[])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
