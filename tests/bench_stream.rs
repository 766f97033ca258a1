//! The real-time ingest benchmark's measuring side (run by
//! `scripts/bench/stream.sh`):
//!
//! - `append STEPS RUNS DIR`: a radar dataset that already holds STEPS
//!   five-minute composites (1 km Finland-sized grid, one map per chunk as a
//!   composite stream lays it out), then RUNS new composites appended one at
//!   a time; each is timed from the start of its ingest (the upload is
//!   complete and staged) to the moment a reader sees the new step (commit
//!   plus a read of the step from a fresh reader). The base dataset is
//!   written in one commit by a synthetic source that repeats a real
//!   composite's schema and values along time, so building 10,000 steps does
//!   not take 10,000 ingests.
//! - `grib FILE RUNS DIR`: one multi-message GRIB2 file ingested into a fresh
//!   dataset, RUNS times: seconds, fields and MB per second.
//!
//! - `gc STEPS RUNS DIR [PYTHON]`: storage upkeep with a history retention
//!   (expiry + garbage collection) of a dataset of STEPS one-chunk steps that
//!   were all corrected, so STEPS chunks go; the peer is Python icechunk on a
//!   copy of the same repository.
//! - `cold RUNS`: the ingest, route and maintain Lambda binaries (`target/release`),
//!   each started fresh on the Lambda Runtime API emulator and given an S3
//!   event they acknowledge without work (an object removal): process start
//!   to first answer, i.e. the runtime's own cold start (dynamic GDAL/netCDF
//!   loading for ingest, the AWS SDK configuration for route).
//!
//! Prints one line per measurement in the bench kit's format:
//! `name<TAB>median_s<TAB>min_s<TAB>runs=N<TAB>key=value;...`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDateTime;
use hub_core::ingest::{IngestOptions, IngestService, IngestSettings, IngestStatus, NoProgress, ShapedSource};
use hub_core::model::{BlockData, DatasetId, DatasetSchema, Hyperslab};
use hub_core::ports::{DecodeError, DecoderRegistry, Repository, SourceDataset, SourceDecoder, Version};
use hub_e2e::emit;
use hub_gdal::GdalDecoder;
use hub_gdal::fixtures::{Composite, write_composite};
use hub_store::{ObjectStoreReports, StoreUrl};
use hub_zarr::{HubSettings, IcechunkHub};

/// FMI's 1 km composite grid size (columns, rows).
const GRID: (usize, usize) = (760, 1226);
const STEP_S: i64 = 300;
const T0: &str = "2024-06-01 00:00:00";

fn t0() -> NaiveDateTime {
    NaiveDateTime::parse_from_str(T0, "%Y-%m-%d %H:%M:%S").unwrap()
}

/// A file whose content is `HUBSTEPS <steps> <template.tif>`: the template
/// composite repeated along time, `steps` five-minute steps from T0.
struct RepeatedSteps;

struct Repeated {
    schema: DatasetSchema,
    inner: Box<dyn SourceDataset>,
    steps: u64,
}

impl SourceDecoder for RepeatedSteps {
    fn name(&self) -> &'static str {
        "bench steps"
    }
    fn can_decode(&self, head: &[u8]) -> bool {
        head.starts_with(b"HUBSTEPS")
    }
    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let text = std::fs::read_to_string(path)?;
        let mut words = text.split_whitespace().skip(1);
        let steps: u64 = words.next().and_then(|s| s.parse().ok()).unwrap();
        let template = PathBuf::from(words.next().unwrap());
        let inner: Box<dyn SourceDataset> = Box::new(ShapedSource::new(GdalDecoder.open(&template)?, None, Some(t0())));
        let mut schema = inner.schema().clone();
        for var in &mut schema.variables {
            if var.dims.first().map(String::as_str) == Some("time") {
                var.shape[0] = steps;
            }
        }
        Ok(Box::new(Repeated { schema, inner, steps }))
    }
}

impl SourceDataset for Repeated {
    fn format(&self) -> &str {
        "bench steps"
    }
    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }
    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        if path == "time" {
            let t0 = t0().and_utc().timestamp();
            let (a, n) = (region.start[0] as i64, region.shape[0] as i64);
            return Ok(BlockData::Numeric((a..a + n).flat_map(|i| (t0 + i * STEP_S).to_le_bytes()).collect()));
        }
        let timed = self.schema.variable(path).is_some_and(|v| v.dims.first().map(String::as_str) == Some("time"));
        if !timed {
            return self.inner.read(path, region);
        }
        assert!(region.start[0] + region.shape[0] <= self.steps);
        let mut one = region.clone();
        one.start[0] = 0;
        one.shape[0] = 1;
        let BlockData::Numeric(map) = self.inner.read(path, &one)? else { unreachable!() };
        Ok(BlockData::Numeric(map.repeat(region.shape[0] as usize)))
    }
}

fn service(hub: &Arc<IcechunkHub>) -> IngestService {
    let decoders = DecoderRegistry::new().with(Arc::new(RepeatedSteps)).with(Arc::new(GdalDecoder));
    let reports = Arc::new(ObjectStoreReports::new(hub.root_store()));
    IngestService::new(decoders, hub.clone(), reports, IngestSettings::default())
}

/// The service as the binaries run it: derived products (the time-major
/// copy, on by default for one map per chunk) kept in step by each commit.
fn service_with_derivations(hub: &Arc<IcechunkHub>) -> IngestService {
    service(hub).with_derivations(Arc::new(hub_core::derived::Configured {
        store: Arc::new(hub_store::ObjectStoreRegions::new(hub.root_store())),
        projections: Arc::new(hub_http::projection::Proj4Projections),
    }))
}

fn options(valid: Option<NaiveDateTime>) -> IngestOptions {
    IngestOptions {
        valid_time: valid,
        chunks: [("band1".to_string(), vec![1, GRID.1 as u64, GRID.0 as u64])].into_iter().collect(),
        ..IngestOptions::default()
    }
}

fn composite(step: u32) -> Composite {
    Composite { size: GRID, step, version: 0, with_crs: true, datetime: None }
}

/// A dataset of `steps` composites written by `svc` in one commit; seconds taken.
async fn base(svc: &IngestService, root: &Path, id: &DatasetId, steps: u64) -> f64 {
    let template = root.join("template.tif");
    write_composite(&template, &composite(0)).unwrap();
    let marker = root.join(format!("{id}.steps"));
    std::fs::write(&marker, format!("HUBSTEPS {steps} {}", template.display())).unwrap();
    let t = Instant::now();
    let upload = hub_store::local_upload(&marker, "base.steps").unwrap();
    let r = svc.ingest_with(id, &upload, &options(None), Arc::new(NoProgress)).await.unwrap();
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    t.elapsed().as_secs_f64()
}

/// Appends composite `i` with `svc` and waits until a fresh reader sees it:
/// seconds from the start of the ingest, and the report.
async fn append_one(
    svc: &IngestService,
    hub: &IcechunkHub,
    root: &Path,
    id: &DatasetId,
    i: u64,
) -> (f64, hub_core::ingest::IngestReport) {
    let valid = t0() + chrono::Duration::seconds(i as i64 * STEP_S);
    let name = format!("{}_COMP.tif", valid.format("%Y%m%d%H%M"));
    let path = root.join(&name);
    write_composite(&path, &composite(i as u32)).unwrap();
    let upload = hub_store::local_upload(&path, &format!("radar/{name}")).unwrap();
    let start = Instant::now();
    let r = svc.ingest_with(id, &upload, &options(Some(valid)), Arc::new(NoProgress)).await.unwrap();
    assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
    // Queryable: a fresh reader (as a serve function would open) sees the step.
    let reader = hub.open(id, &Version::Latest).await.unwrap();
    let BlockData::Numeric(v) =
        reader.read("band1", &Hyperslab { start: vec![i, 600, 400], shape: vec![1, 1, 1] }).await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!(v[0], composite(i as u32).code(600, 400), "the new step is readable");
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    (secs, r)
}

/// The time-major copy's block for five-minute composites (a day).
const BLOCK: u64 = 288;

async fn append(steps: u64, runs: usize, dir: &Path) {
    let root = dir.join(format!("append-{steps}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let hub =
        Arc::new(IcechunkHub::new(StoreUrl::from_path(&root.join("hub")).unwrap(), HubSettings::default()).unwrap());
    let plain = DatasetId::new("radar").unwrap();
    let svc = service(&hub);
    let base_s = base(&svc, &root, &plain, steps).await;
    // In this process, and as the binaries decode (a child process per file)
    // when HUB_BENCH_DECODER names a hub binary to start; then with the
    // time-major copy kept in step, into a dataset of its own.
    let mut modes = vec![("", svc, plain.clone(), base_s)];
    if let Ok(program) = std::env::var("HUB_BENCH_DECODER") {
        let decoders = hub_sandbox::Sandbox::new(program, hub_sandbox::SandboxLimits::default())
            .wrap(&DecoderRegistry::new().with(Arc::new(GdalDecoder)));
        let reports = Arc::new(ObjectStoreReports::new(hub.root_store()));
        let isolated = IngestService::new(decoders, hub.clone(), reports, IngestSettings::default());
        modes.push(("_isolated", isolated, plain, base_s));
    }
    let copied = DatasetId::new("radar-tm").unwrap();
    let svc = service_with_derivations(&hub);
    let copied_s = base(&svc, &root, &copied, steps).await;
    modes.push(("_time_major", svc, copied.clone(), copied_s));
    let mut next_of = std::collections::HashMap::new();
    let mb = (GRID.0 * GRID.1) as f64 / 1e6;
    for (suffix, svc, id, base_s) in &modes {
        let next = next_of.entry(id.to_string()).or_insert(steps);
        let mut secs = Vec::new();
        let mut commit = Vec::new();
        let mut parts = Vec::new();
        for _ in 0..runs {
            // Appends that complete no block of the copy (those are timed
            // on their own below).
            if *suffix == "_time_major" && (*next + 1) % BLOCK == 0 {
                append_one(svc, &hub, &root, id, *next).await;
                *next += 1;
            }
            let (s, r) = append_one(svc, &hub, &root, id, *next).await;
            *next += 1;
            if *suffix == "_time_major" {
                assert!(r.derived.iter().any(|d| d == "time_major: nothing to do"), "{:?}", r.derived);
            }
            secs.push(s);
            commit.push(r.timings.commit_ms as f64 / 1000.0);
            parts.push((r.timings.open_ms, r.timings.write_ms, r.timings.total_ms));
        }
        emit(
            &format!("append_one_composite_{steps}_steps{suffix}"),
            &secs,
            &format!(
                "grid={}x{};raw_mb={mb:.2};base_build_s={base_s:.1};open_write_total_ms={:?}",
                GRID.0,
                GRID.1,
                parts.get(parts.len() / 2)
            ),
        );
        emit(&format!("append_commit_only_{steps}_steps{suffix}"), &commit, "");
    }
    // The append that completes a block writes a day of the copy (every
    // tile): once per run, after untimed appends up to the step before.
    let next = next_of.get(copied.as_str()).copied().unwrap_or(steps);
    let (_, svc, _, _) = &modes[modes.len() - 1];
    let mut secs = Vec::new();
    let mut next = next;
    for _ in 0..runs.min(3) {
        while (next + 1) % BLOCK != 0 {
            append_one(svc, &hub, &root, &copied, next).await;
            next += 1;
        }
        let (s, r) = append_one(svc, &hub, &root, &copied, next).await;
        assert!(r.derived.iter().any(|d| d.contains("(1 written)")), "{:?}", r.derived);
        secs.push(s);
        next += 1;
    }
    emit(
        &format!("append_completing_a_block_{steps}_steps_time_major"),
        &secs,
        &format!("block={BLOCK};raw_mb={mb:.2}"),
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Storage upkeep with a history retention: a dataset of `steps` composites
/// (one chunk each) whose every step was then corrected; expiring the first
/// version and collecting deletes `steps` chunks. With `peer` (a Python with
/// icechunk), Python icechunk's `expire_snapshots` + `garbage_collect` run on
/// an identical copy of the repository, made before the hub's run.
async fn gc(steps: u64, runs: usize, dir: &Path, peer: Option<&str>) {
    use hub_core::upkeep::{GcPolicy, collect_garbage};
    let (mut secs, mut peer_secs) = (Vec::new(), Vec::new());
    let mut deleted = 0;
    for _ in 0..runs {
        let root = dir.join(format!("gc-{steps}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let hub = Arc::new(
            IcechunkHub::new(StoreUrl::from_path(&root.join("hub")).unwrap(), HubSettings::default()).unwrap(),
        );
        let svc = service(&hub);
        let id = DatasetId::new("radar").unwrap();
        let template = root.join("template.tif");
        write_composite(&template, &Composite { size: GRID, step: 0, version: 0, with_crs: true, datetime: None })
            .unwrap();
        let marker = root.join("base.steps");
        std::fs::write(&marker, format!("HUBSTEPS {steps} {}", template.display())).unwrap();
        for key in ["first.steps", "corrected.steps"] {
            let upload = hub_store::local_upload(&marker, key).unwrap();
            let r = svc.ingest_with(&id, &upload, &options(None), Arc::new(NoProgress)).await.unwrap();
            assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
        }
        // Objects are dated to the second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let copy = root.join("peer");
        if peer.is_some() {
            let ok = std::process::Command::new("cp").arg("-a").arg(root.join("hub/radar")).arg(&copy).status();
            assert!(ok.is_ok_and(|s| s.success()), "copying the repository for the peer");
        }
        let mut policy = GcPolicy::from_now(0, None, false);
        policy.expire_history_before = Some(policy.unreferenced_before);
        let t = Instant::now();
        let run = collect_garbage(hub.as_ref(), Some(&id), &policy).await.unwrap();
        secs.push(t.elapsed().as_secs_f64());
        deleted = run.reports[0].chunks_deleted;
        assert_eq!(deleted, steps, "{:?}", run.reports);
        if let Some(python) = peer {
            let script = hub_testkit::workspace_root().join("scripts/bench/gc_peer.py");
            let out = std::process::Command::new(python).arg(script).arg(&copy).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout);
            let mut words = text.split_whitespace();
            let (s, chunks): (f64, u64) =
                (words.next().unwrap().parse().unwrap(), words.next().unwrap().parse().unwrap());
            assert_eq!(chunks, steps, "the peer deletes the same chunks");
            peer_secs.push(s);
        }
        let _ = std::fs::remove_dir_all(&root);
    }
    emit(&format!("gc_expire_and_collect_{steps}_chunks"), &secs, &format!("chunks_deleted={deleted}"));
    if !peer_secs.is_empty() {
        emit(&format!("peer_python_icechunk_gc_{steps}_chunks"), &peer_secs, "expire_snapshots+garbage_collect");
    }
}

async fn grib(file: &Path, runs: usize, dir: &Path) {
    let mut secs = Vec::new();
    let mut fields = 0;
    let mut raw = 0;
    for k in 0..runs {
        let root = dir.join(format!("grib-{k}"));
        let _ = std::fs::remove_dir_all(&root);
        let hub = Arc::new(IcechunkHub::new(StoreUrl::from_path(&root).unwrap(), HubSettings::default()).unwrap());
        let svc = service(&hub);
        let upload = hub_store::local_upload(file, "nwp/run.grib2").unwrap();
        let t = Instant::now();
        let r = svc.ingest(&DatasetId::new("nwp").unwrap(), &upload, Arc::new(NoProgress)).await.unwrap();
        secs.push(t.elapsed().as_secs_f64());
        assert_eq!(r.status, IngestStatus::Committed, "{:?}", r.error);
        fields = r.variables.len();
        raw = r.bytes_in;
        let _ = std::fs::remove_dir_all(&root);
    }
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    emit(
        "grib2_ingest",
        &secs,
        &format!("file_mb={:.2};variables={fields};decoded_mb={:.1}", size as f64 / 1e6, raw as f64 / 1e6),
    );
}

async fn cold(runs: usize, dir: &Path) {
    use hub_testkit::lambda::{Outcome, RuntimeApi};
    let repo = dir.join("cold-hub");
    std::fs::create_dir_all(&repo).unwrap();
    for (bin, event) in
        [("ingest", "s3-delete.json"), ("route", "s3-delete.json"), ("maintain", "scheduled-maintenance.json")]
    {
        let event = std::fs::read(hub_testkit::workspace_root().join("events").join(event)).unwrap();
        let path = hub_testkit::workspace_root().join("target/release").join(bin);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut secs = Vec::new();
        for _ in 0..runs {
            let api = RuntimeApi::start().await;
            let t = Instant::now();
            let mut child = std::process::Command::new(&path)
                .envs(api.env(bin))
                .env("HUB_REPO", &repo)
                .env("HUB_INGEST_QUEUE_URL", "http://127.0.0.1:9/queue.fifo")
                .env("AWS_REGION", "us-east-1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let outcome = api.invoke(&event, std::time::Duration::from_secs(60)).await.unwrap();
            secs.push(t.elapsed().as_secs_f64());
            let _ = child.kill();
            let _ = child.wait();
            assert!(matches!(outcome, Outcome::Response(_)), "{bin} failed");
        }
        emit(&format!("{bin}.lambda.runtime_api.cold_process_to_first_answer"), &secs, &format!("binary_bytes={size}"));
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let usage = "usage: bench stream -- append STEPS RUNS DIR | grib FILE RUNS DIR | cold RUNS DIR | gc STEPS RUNS DIR [PYTHON]";
    match args.first().map(String::as_str) {
        Some("append") => {
            let steps = args.get(1).and_then(|s| s.parse().ok()).expect(usage);
            let runs = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
            append(steps, runs, Path::new(args.get(3).expect(usage))).await;
        }
        Some("grib") => {
            let runs = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
            grib(Path::new(args.get(1).expect(usage)), runs, Path::new(args.get(3).expect(usage))).await;
        }
        Some("gc") => {
            let steps = args.get(1).and_then(|s| s.parse().ok()).expect(usage);
            let runs = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
            gc(steps, runs, Path::new(args.get(3).expect(usage)), args.get(4).map(String::as_str)).await;
        }
        Some("cold") => {
            let runs = args.get(1).and_then(|s| s.parse().ok()).expect(usage);
            cold(runs, Path::new(args.get(2).expect(usage))).await;
        }
        _ => eprintln!("{usage}"),
    }
}
