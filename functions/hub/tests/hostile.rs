//! The `hub` binary against hostile input and clients: slow requests are cut
//! off and never starve normal ones, unreachable storage is a 503, `--json`
//! is pure JSON whatever the libraries print, folders with links and pipes
//! are walked safely, and a same-size correction is told from a duplicate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{http_get, hub, serve, text};
use hub_netcdf::fixtures::Fixture;
use hub_testkit::fixture;

#[test]
fn slow_requests_are_cut_off_and_do_not_starve_the_others() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server =
        serve(dir.path(), &["--repo", "hub-data", "--header-timeout-secs", "1", "--max-connections", "8"], &[]);
    let addr = server.addr.clone();
    // 40 clients that send half a request and then nothing (bounded: 40, on
    // 127.0.0.1, for seconds).
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{e}"));
            let _ = s.write_all(b"GET /collections HTTP/1.1\r\nHost: slow\r\nX-Slow: ");
            s
        })
        .collect();
    // A normal request still gets its answer, within a few header timeouts.
    let (status, body) = http_get(&addr, "/conformance");
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    // Every slow connection is closed by the server (EOF, or a 408 first).
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = Vec::new();
        let r = s.read_to_end(&mut buf);
        assert!(r.is_ok(), "a slow connection was left open: {r:?}");
        let said = String::from_utf8_lossy(&buf);
        assert!(buf.is_empty() || said.starts_with("HTTP/1.1 408"), "{said}");
    }
    drop(server);
}

#[test]
fn unreachable_storage_answers_503() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let endpoint = format!("http://127.0.0.1:{}", closed.local_addr().map(|a| a.port()).unwrap_or(1));
    drop(closed); // nothing listens there now
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let server = serve(dir.path(), &["--repo", "s3://hub-nowhere/hub"], &env);
    let started = Instant::now();
    let (status, body) = http_get(&server.addr, "/collections");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ServiceUnavailable"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(25), "within the HTTP API's time: {:?}", started.elapsed());
}

#[test]
fn json_output_is_pure_json_whatever_the_libraries_print() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let grib = dir.path().join("run.grib2");
    let f = hub_gdal::fixtures::Forecast { reference: 1_700_000_000 / 3600 * 3600, lead_hours: 6, version: 0.0 };
    hub_gdal::fixtures::write_forecast(&grib, &f).unwrap_or_else(|e| panic!("{e}"));
    // Trailing bytes make GDAL's GRIB reader talk ("Couldn't find 'GRIB'").
    let mut bytes = std::fs::read(&grib).unwrap_or_default();
    bytes.extend(b"trailing bytes that are no GRIB message");
    std::fs::write(&grib, bytes).unwrap_or_else(|e| panic!("{e}"));
    let classic = fixture(Fixture::ClassicPacked360Day);
    let o = hub(
        &["ingest", "--repo", "hub-data", "--json", grib.to_str().unwrap_or(""), classic.to_str().unwrap_or("")],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in lines {
        let report: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert_eq!(report["status"], "committed", "{report}");
    }
}

#[test]
fn folders_are_walked_without_following_links_or_reading_pipes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(fixture(Fixture::ClassicPacked360Day), data.join("tas.nc")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(".", data.join("loop")).unwrap_or_else(|e| panic!("{e}"));
    let fifo = data.join("pipe.nc");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["ingest", "--repo", "hub-data", "--dataset", "walked", data.to_str().unwrap_or("")])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "hub ingest hangs on a folder with a pipe");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("committed").count(), 1, "the file once, not once per loop: {out}");
    assert!(out.contains("loop: a symbolic link") && out.contains("pipe.nc: not a regular file"), "{out}");
    // A pipe named on the command line is refused, not read.
    let o = hub(&["ingest", "--repo", "hub-data", fifo.to_str().unwrap_or("")], dir.path());
    assert!(!o.status.success() && text(&o).contains("not a regular file"), "{}", text(&o));
}

#[test]
fn a_same_size_correction_copied_with_its_times_is_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let original = dir.path().join("tas.nc");
    std::fs::copy(fixture(Fixture::ClassicPacked360Day), &original).unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        let s = Command::new(args[0]).args(&args[1..]).current_dir(dir.path()).status();
        assert!(s.is_ok_and(|s| s.success()), "{args:?}");
    };
    run(&["cp", "-p", "tas.nc", "times.ref"]); // the original's times
    let o = hub(&["ingest", "--repo", "hub-data", "--dataset", "monthly", "tas.nc"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    // The correction: one packed value changed, same size, and the original's
    // modification time put back (as `cp -p` of a corrected copy does).
    let mut bytes = std::fs::read(&original).unwrap_or_default();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&original, bytes).unwrap_or_else(|e| panic!("{e}"));
    run(&["touch", "-r", "times.ref", "tas.nc"]);
    let o = hub(&["ingest", "--repo", "hub-data", "--dataset", "monthly", "tas.nc"], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("committed tas.nc") && !out.contains("duplicate"), "{out}");
    // The same bytes again are a duplicate.
    let o = hub(&["ingest", "--repo", "hub-data", "--dataset", "monthly", "tas.nc"], dir.path());
    assert!(text(&o).contains("duplicate tas.nc"), "{}", text(&o));
}

#[test]
fn an_unusable_setting_stops_the_start_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, value) in [("HUB_MAX_CELLS", "abc"), ("HUB_READ_CONCURRENCY", "0"), ("HUB_PUBLIC_URL", "ftp://x")] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
            .args(["serve", "--addr", "127.0.0.1:0", "--repo", "hub-data"])
            .env(name, value)
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("hub serve: {e}"));
        assert!(!o.status.success(), "{name}={value} was accepted: {}", text(&o));
        let out = text(&o);
        assert!(out.contains(name) && out.contains(value), "{name}={value}: {out}");
        assert!(!out.contains("listening on"), "it started anyway: {out}");
    }
}
