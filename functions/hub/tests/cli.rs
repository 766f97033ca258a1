//! The `hub` binary as a user runs it: ingest files and folders, inspect the
//! hub, re-run an ingest, and fail clearly on a bad file.

use crate::common::{http_get, hub, serve, text};
use hub_netcdf::fixtures::Fixture;
use hub_testkit::fixture;

#[test]
fn ingest_then_info_then_reingest() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let incoming = dir.path().join("incoming/monthly");
    std::fs::create_dir_all(&incoming).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(fixture(Fixture::ClassicPacked360Day), incoming.join("tas.nc")).unwrap_or_else(|e| panic!("{e}"));
    let single = fixture(Fixture::Offset64RotatedPole);

    // A folder (dataset from the incoming/<dataset>/ rule) and a file (dataset from its name).
    let o = hub(
        &["ingest", "--repo", "hub-data", dir.path().to_str().unwrap_or("."), single.to_str().unwrap_or("")],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("committed incoming/monthly/tas.nc -> monthly"), "{out}");
    assert!(out.contains("-> offset64_rotated_pole"), "{out}");

    let o = hub(&["info", "--repo", "hub-data", "--json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let datasets = info["datasets"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = datasets.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, vec!["monthly", "offset64_rotated_pole"]);
    let monthly = &datasets[0];
    assert_eq!(monthly["time"][0]["calendar"], "360_day");
    assert_eq!(monthly["time"][0]["start"], "1859-12-16T00:00:00Z");
    assert!(monthly["compression_ratio"].as_f64().unwrap_or(0.0) > 1.0);
    assert_eq!(monthly["history"].as_array().map(Vec::len), Some(2));
    let tas =
        monthly["arrays"].as_array().and_then(|a| a.iter().find(|x| x["path"] == "tas")).cloned().unwrap_or_default();
    assert_eq!(tas["dtype"], "int16");
    assert_eq!(tas["codecs"], "bytes + zstd(3)");

    // Same files again: duplicates, nothing new.
    let o = hub(&["ingest", "--repo", "hub-data", dir.path().to_str().unwrap_or(".")], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("duplicate incoming/monthly/tas.nc"), "{}", text(&o));
    let o = hub(&["info", "monthly", "--repo", "hub-data"], dir.path());
    assert!(text(&o).contains("360_day"), "{}", text(&o));
}

#[test]
fn a_bad_file_fails_the_command_with_the_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(fixture(Fixture::ClassicPacked360Day)).unwrap_or_default();
    let bad = dir.path().join("half.nc");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let o = hub(&["ingest", "--repo", "hub-data", bad.to_str().unwrap_or("")], dir.path());
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains("REJECTED half.nc") && out.contains("truncated"), "{out}");
    assert!(out.contains("_reports/failed"), "{out}");
    let o = hub(&["ingest", "--repo", "hub-data", "--compression", "gzip", bad.to_str().unwrap_or("")], dir.path());
    assert!(!o.status.success() && text(&o).contains("invalid compression"), "{}", text(&o));
}

#[test]
fn serve_answers_over_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = fixture(Fixture::ClassicPacked360Day);
    let o = hub(&["ingest", "--repo", "hub-data", "--dataset", "monthly", file.to_str().unwrap_or("")], dir.path());
    assert!(o.status.success(), "{}", text(&o));

    let server = serve(dir.path(), &["--repo", "hub-data"], &[]);
    let addr = server.addr.clone();

    let (status, body) = http_get(&addr, "/collections");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"monthly\""), "{body}");
    let (status, body) = http_get(&addr, "/collections/monthly/position?coords=POINT(10%2050)&datetime=1860-01-16");
    assert_eq!(status, 200, "{body}");
    let cov: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(cov["domain"]["axes"]["t"]["values"][0], "1860-01-16T00:00:00Z");
    assert!(cov["ranges"]["tas"]["values"][0].as_f64().is_some_and(|v| (200.0..330.0).contains(&v)), "{cov}");
    let (status, body) = http_get(&addr, "/collections/monthly/position?coords=POINT(500%2050)");
    assert_eq!(status, 400, "{body}");
    let (status, _) = http_get(&addr, "/collections/elsewhere");
    assert_eq!(status, 404);
    drop(server);
}

#[test]
fn layout_build_makes_the_time_major_copy_of_stored_data() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let incoming = dir.path().join("incoming/monthly");
    std::fs::create_dir_all(&incoming).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(fixture(Fixture::ClassicPacked360Day), incoming.join("tas.nc")).unwrap_or_else(|e| panic!("{e}"));
    let o = hub(&["ingest", "--repo", "hub-data", dir.path().to_str().unwrap_or(".")], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let o = hub(&["layout", "--repo", "hub-data"], dir.path());
    assert!(text(&o).contains("monthly: no time-major copy"), "{}", text(&o));
    // Switched on with a block of 4 months, built 2 blocks per commit.
    let config = dir.path().join("datasets.json");
    std::fs::write(&config, r#"{"datasets": {"monthly": {"time_major": {"block": 4, "tile": 8}}}}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let o = hub(&["config", "--repo", "hub-data", config.to_str().unwrap_or("")], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let o = hub(&["layout", "build", "monthly", "--repo", "hub-data", "--blocks-per-commit", "2"], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.lines().filter(|l| l.contains("(snapshot ")).count() >= 2, "{out}");
    let o = hub(&["layout", "--repo", "hub-data"], dir.path());
    let shown = text(&o);
    assert!(shown.contains("monthly/tas: ") && shown.contains("in the copy (blocks of 4"), "{shown}");
    // Built already: nothing to do; a dataset that does not exist: the reason.
    let o = hub(&["layout", "build", "monthly", "--repo", "hub-data"], dir.path());
    assert!(text(&o).contains("nothing to build"), "{}", text(&o));
    let o = hub(&["layout", "build", "nowhere", "--repo", "hub-data"], dir.path());
    assert!(!o.status.success() && text(&o).contains("not found"), "{}", text(&o));
}
