//! The ingest service: open -> plan -> write slab by slab -> commit ->
//! report, retried on a fresh transaction when another writer commits first.
//! Memory is bounded by two slabs (one being read, one being written),
//! whatever the file's size.
//!
//! Each step returns what it found (the opened file's notes, the write's
//! statistics, the commit's snapshot); the report is assembled from those
//! once, at the end, for committed, duplicate and rejected ingests alike.
//! Rejections are recorded here and only here, including those decided
//! before the service saw the file ([`IngestService::record_rejection`]).
//!
//! Longer than the house's ~500 lines because the slab copy (the bounded
//! channel between the decoder thread and the writer) and the report's
//! assembly sit with the loop whose steps they serve.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::failure::{Failure, IngestError, RejectionKind, worker_died};
use super::open::Opened;
use super::placement::{apply_move, place_block, put_region};
use super::write_plan::WritePlan;
use super::{ChunkPolicy, IngestOptions};
use crate::derived::{Derivations, NoDerivations, update_all};
use crate::model::{
    AxisReport, FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, VariableReport, now_rfc3339,
};
use crate::model::{Block, BlockData, DatasetId, DatasetSchema, Hyperslab};
use crate::ports::{
    ArrayInfo, CommitRequest, DecodeError, DecodeLimits, DecoderRegistry, RepoError, ReportSink, Repository,
    SourceDataset, SourceMarker, Transaction, WriteStats,
};

/// Receives progress of long ingests (bytes read from the source).
pub trait Progress: Send + Sync {
    /// An ingest of `total_bytes` uncompressed bytes starts.
    fn begin(&self, _label: &str, _total_bytes: u64) {}
    /// `bytes` more were written.
    fn advance(&self, _bytes: u64) {}
    /// The ingest ended.
    fn finish(&self) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Tunables of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// Chunking and compression.
    pub policy: ChunkPolicy,
    /// Largest slab read at once, in bytes. Peak memory is about twice this.
    pub slab_budget_bytes: u64,
    /// What one file may declare (checked before anything is decoded).
    pub limits: DecodeLimits,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self { policy: ChunkPolicy::default(), slab_budget_bytes: 96 << 20, limits: DecodeLimits::default() }
    }
}

/// An uploaded object, already copied to a local file.
#[derive(Debug, Clone)]
pub struct StagedUpload {
    /// What was uploaded.
    pub source: SourceInfo,
    /// Where the bytes are now.
    pub path: PathBuf,
    /// How long the copy took.
    pub fetch_ms: u64,
}

/// Turns uploaded files into committed datasets.
pub struct IngestService {
    decoders: DecoderRegistry,
    repository: Arc<dyn Repository>,
    reports: Arc<dyn ReportSink>,
    settings: IngestSettings,
    derivations: Arc<dyn Derivations>,
}

/// What opening the file found, for the report.
struct OpenedInfo {
    format: String,
    warnings: Vec<String>,
    time: Option<TimeRange>,
    open_ms: u64,
}

/// What the plan decided, before anything is written.
struct Planned {
    /// Warnings of the plan (a replaced delivery, a sorted first file).
    warnings: Vec<String>,
    /// The earlier ingest of the same key, when this delivery replaces it.
    previous: Option<SourceMarker>,
    /// What happens along each growing axis.
    axes: Vec<AxisReport>,
}

/// What the writes did.
struct Written {
    variables: Vec<VariableReport>,
    write_ms: u64,
    derived: Vec<String>,
}

/// What one attempt found, step by step (a step that did not run left `None`).
#[derive(Default)]
struct Attempt {
    opened: Option<OpenedInfo>,
    duplicate_of: Option<SourceMarker>,
    planned: Option<Planned>,
    written: Option<Written>,
    committed: Option<(String, u64)>,
}

/// The plan step's outcome.
enum PlanStep {
    /// The same object was ingested before: nothing to do.
    Duplicate(SourceMarker),
    /// The writes to make, into a dataset holding `existing`.
    Writes(WritePlan, Vec<ArrayInfo>, Planned),
}

impl IngestService {
    /// A service over the given decoders, repository and report sink.
    pub fn new(
        decoders: DecoderRegistry,
        repository: Arc<dyn Repository>,
        reports: Arc<dyn ReportSink>,
        settings: IngestSettings,
    ) -> Self {
        Self { decoders, repository, reports, settings, derivations: Arc::new(NoDerivations) }
    }

    /// Derived products (region series…) updated by each ingest's commit.
    #[must_use]
    pub fn with_derivations(mut self, derivations: Arc<dyn Derivations>) -> Self {
        self.derivations = derivations;
        self
    }

    /// The repository the service writes to.
    pub fn repository(&self) -> &Arc<dyn Repository> {
        &self.repository
    }

    /// Ingests one staged upload into `dataset` and records the report.
    ///
    /// Returns the report for committed, duplicate and rejected ingests; an
    /// error only when trying again may succeed (and then nothing was committed).
    pub async fn ingest(
        &self,
        dataset: &DatasetId,
        upload: &StagedUpload,
        progress: Arc<dyn Progress>,
    ) -> Result<IngestReport, IngestError> {
        let options = IngestOptions { time_from_key_default: true, ..IngestOptions::default() };
        self.ingest_with(dataset, upload, &options, progress).await
    }

    /// Like [`ingest`](Self::ingest), with the options the dataset
    /// configuration gives for the upload's key.
    pub async fn ingest_with(
        &self,
        dataset: &DatasetId,
        upload: &StagedUpload,
        options: &IngestOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<IngestReport, IngestError> {
        let t0 = Instant::now();
        let started_at = now_rfc3339();
        // Another writer may commit first (on object storage, where commits are
        // conditional writes): redo the whole ingest on a fresh session, with
        // a growing, jittered pause, a bounded number of times. Each attempt
        // starts from the new tip, so nothing the other writer did is lost.
        let mut attempts = 1;
        let (mut attempt, mut result) = self.run(dataset, upload, options, Arc::clone(&progress)).await;
        while let Err(Failure::Transient(IngestError::Repository(RepoError::Conflict(why)))) = &result {
            if attempts >= MAX_ATTEMPTS {
                break;
            }
            tracing::info!(dataset = %dataset, key = %upload.source.key, attempt = attempts, %why, "commit conflict: redoing the ingest");
            tokio::time::sleep(backoff(attempts)).await;
            attempts += 1;
            (attempt, result) = self.run(dataset, upload, options, Arc::clone(&progress)).await;
        }
        let rejection = match result {
            Ok(()) => None,
            Err(Failure::Permanent { kind, message }) => Some((kind, message)),
            Err(Failure::Transient(e)) => return Err(e),
        };
        let mut report = assemble(dataset, upload, attempt, rejection);
        report.attempts = attempts;
        report.started_at = started_at;
        report.timings.total_ms = elapsed_ms(t0) + upload.fetch_ms;
        match self.reports.record(&report).await {
            Ok(location) => {
                tracing::info!(status = ?report.status, dataset = %dataset, key = %report.source.key, report = %location, "ingest finished")
            }
            // A committed ingest stands even if its report is lost; a rejection
            // must be recorded, so it is retried.
            Err(e) if report.status == IngestStatus::Rejected => return Err(e.into()),
            Err(e) => tracing::warn!(error = %e, "ingest report not stored"),
        }
        Ok(report)
    }

    /// Records a rejection decided before the service saw the file (the
    /// object vanished or was replaced before it could be fetched, an
    /// earlier attempt died on it, no dataset rule matched).
    pub async fn record_rejection(
        &self,
        dataset: &str,
        source: SourceInfo,
        kind: RejectionKind,
        message: impl Into<String>,
    ) -> Result<IngestReport, IngestError> {
        let report = IngestReport::rejection(dataset, source, kind.as_str(), message);
        self.reports.record(&report).await?;
        Ok(report)
    }

    /// One attempt: what each step found, and how it ended.
    async fn run(
        &self,
        dataset: &DatasetId,
        upload: &StagedUpload,
        options: &IngestOptions,
        progress: Arc<dyn Progress>,
    ) -> (Attempt, Result<(), Failure>) {
        let mut attempt = Attempt::default();
        let result = self.attempt(dataset, upload, options, progress, &mut attempt).await;
        (attempt, result)
    }

    async fn attempt(
        &self,
        dataset: &DatasetId,
        upload: &StagedUpload,
        options: &IngestOptions,
        progress: Arc<dyn Progress>,
        attempt: &mut Attempt,
    ) -> Result<(), Failure> {
        // Detect and open on a blocking thread: C libraries. The small 1-D
        // coordinates are read now: they decide where the file's steps land.
        let t_open = Instant::now();
        let path = upload.path.clone();
        let decoders = self.decoders.clone();
        let (key, opts) = (upload.source.key.clone(), options.clone());
        let (limits, budget) = (self.settings.limits, self.settings.slab_budget_bytes);
        let opened = tokio::task::spawn_blocking(move || Opened::open(&decoders, &path, &key, &opts, &limits, budget))
            .await
            .map_err(|e| worker_died("opening the file", e))??;
        let Opened { source, schema, coords, time, mut notes } = opened;
        notes.extend(schema.warnings.iter().cloned());
        let time = time.unwrap_or_else(|w| {
            notes.push(w.to_string());
            None
        });
        attempt.opened = Some(OpenedInfo {
            format: source.format().to_string(),
            warnings: notes,
            time: time.clone(),
            open_ms: elapsed_ms(t_open),
        });
        if schema.variables.is_empty() {
            return Err(Failure::permanent(RejectionKind::Unsupported, "the file holds no variable the hub can store"));
        }

        let tx = self.repository.begin(dataset).await?;
        let planned = self.plan(tx.as_ref(), &schema, &coords, upload, options).await;
        let (plan, existing) = match planned {
            Ok(PlanStep::Duplicate(previous)) => {
                attempt.duplicate_of = Some(previous);
                return Ok(());
            }
            Ok(PlanStep::Writes(plan, existing, planned)) => {
                attempt.planned = Some(planned);
                (plan, existing)
            }
            Err((failure, fresh)) => return Err(self.abandon_if_fresh(dataset, tx, fresh, failure).await),
        };
        let fresh = existing.is_empty();
        let written = self.write(tx.as_ref(), source, &schema, &existing, &plan, upload, time.as_ref(), progress).await;
        // What derives from the written steps is updated in the same transaction.
        let written = match written {
            Ok((request, mut written)) => {
                match update_all(self.derivations.as_ref(), dataset, tx.as_ref(), &plan.changes(fresh)).await {
                    Ok(derived) => {
                        written.derived = derived;
                        Ok((request, written))
                    }
                    Err(e) => Err(Failure::from(e)),
                }
            }
            Err(f) => Err(f),
        };
        match written {
            Ok((request, written)) => {
                attempt.written = Some(written);
                let t_commit = Instant::now();
                // A commit that fails consumes the transaction: nothing of it
                // is visible, and a conflict is redone on a fresh one.
                let snapshot = tx.commit(request).await?;
                attempt.committed = Some((snapshot, elapsed_ms(t_commit)));
                Ok(())
            }
            Err(failure) => Err(self.abandon_if_fresh(dataset, tx, fresh, failure).await),
        }
    }

    /// A first upload that will not commit leaves no repository behind where
    /// the repository can tell (see `abandon`); returns the failure.
    async fn abandon_if_fresh(
        &self,
        dataset: &DatasetId,
        tx: Box<dyn Transaction>,
        fresh: bool,
        failure: Failure,
    ) -> Failure {
        if fresh && let Err(e) = self.repository.abandon(dataset, tx).await {
            tracing::warn!(dataset = %dataset, error = %e, "the unfinished dataset was not removed");
        }
        failure
    }

    /// The duplicate check and the write plan.
    async fn plan(
        &self,
        tx: &dyn Transaction,
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        upload: &StagedUpload,
        options: &IngestOptions,
    ) -> Result<PlanStep, (Failure, bool)> {
        // Failures before the dataset's arrays are known leave nothing to abandon.
        let early = |e: RepoError| (Failure::from(e), false);
        let mut warnings = Vec::new();
        let previous = tx.source_marker(&upload.source.key).await.map_err(early)?;
        if let Some(marker) = &previous {
            let same = match (&marker.etag, &upload.source.etag) {
                (Some(a), Some(b)) => a == b,
                _ => marker.size == upload.source.size,
            };
            if same {
                return Ok(PlanStep::Duplicate(marker.clone()));
            }
            warnings.push(format!(
                "{} was ingested before (ETag {}): this delivery replaces its steps",
                marker.key,
                marker.etag.as_deref().unwrap_or("?")
            ));
        }
        let existing = tx.arrays().await.map_err(early)?;
        let mut settings = self.settings.clone();
        settings.policy.overrides.extend(options.chunks.iter().map(|(k, v)| (k.clone(), v.clone())));
        let fresh = existing.is_empty();
        let plan = WritePlan::new(tx, &existing, schema, coords, &settings).await.map_err(|f| (f, fresh))?;
        warnings.extend(plan.warnings.iter().cloned());
        let planned = Planned { warnings, previous, axes: plan.axes.clone() };
        Ok(PlanStep::Writes(plan, existing, planned))
    }

    /// The writes of a plan, and the commit that will make them visible.
    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        tx: &dyn Transaction,
        source: Box<dyn SourceDataset>,
        schema: &DatasetSchema,
        existing: &[ArrayInfo],
        plan: &WritePlan,
        upload: &StagedUpload,
        time: Option<&TimeRange>,
        progress: Arc<dyn Progress>,
    ) -> Result<(CommitRequest, Written), Failure> {
        let t_write = Instant::now();
        if existing.is_empty() {
            for group in &schema.groups {
                tx.put_group(&group.path, &group.attrs).await?;
            }
        }
        for moves in &plan.moves {
            apply_move(tx, moves, existing, self.settings.slab_budget_bytes).await?;
        }
        for job in &plan.jobs {
            if let Some(spec) = &job.create {
                tx.create_array(spec).await?;
            }
        }
        let stats = copy_slabs(tx, source, plan, &upload.source.key, progress).await?;
        for axis in &plan.merged_axes {
            let len = axis.target.shape.first().copied().unwrap_or(0);
            let block = Block { region: Hyperslab::full(&[len]), data: BlockData::Numeric(axis.bytes.clone()) };
            put_region(tx, &axis.target, block).await?;
        }
        let write_ms = elapsed_ms(t_write);
        let variables = plan
            .jobs
            .iter()
            .zip(&stats)
            .map(|(job, s)| VariableReport {
                path: job.path.clone(),
                dims: job.target.dims.clone(),
                shape: job.target.shape.clone(),
                dtype: job.target.dtype.to_string(),
                chunks: job.target.chunks.clone(),
                shard: job.target.shard.clone(),
                compression: job.compression.clone(),
                bytes_in: s.bytes_in,
                bytes_stored: s.bytes_stored,
                chunks_written: s.chunks_written,
                chunks_skipped: s.chunks_skipped,
            })
            .collect();
        let marker = SourceMarker {
            key: upload.source.key.clone(),
            etag: upload.source.etag.clone(),
            size: upload.source.size,
            ingested_at: now_rfc3339(),
        };
        let mut properties = serde_json::Map::new();
        properties.insert("hub.source_key".into(), upload.source.key.clone().into());
        properties.insert("hub.source_etag".into(), upload.source.etag.clone().into());
        properties.insert("hub.source_size".into(), upload.source.size.into());
        if let Some(b) = &upload.source.bucket {
            properties.insert("hub.source_bucket".into(), b.clone().into());
        }
        if let Some(t) = time {
            properties.insert("hub.time_start".into(), t.start.clone().into());
            properties.insert("hub.time_end".into(), t.end.clone().into());
        }
        let verb = if existing.is_empty() { "ingest" } else { "append" };
        let request = CommitRequest { message: format!("{verb} {}", upload.source.key), marker, properties };
        Ok((request, Written { variables, write_ms, derived: Vec::new() }))
    }
}

/// Copies every job's slabs from the source into the transaction.
///
/// One blocking thread walks the slabs; it reserves a place in the channel
/// before reading, so at most one slab waits while one is written. Slab
/// buffers go back to the reader once written: two large buffers serve the
/// whole file, nothing is allocated per slab.
async fn copy_slabs(
    tx: &dyn Transaction,
    mut source: Box<dyn SourceDataset>,
    plan: &WritePlan,
    label: &str,
    progress: Arc<dyn Progress>,
) -> Result<Vec<WriteStats>, Failure> {
    let total: u64 = plan.jobs.iter().map(|j| j.source_bytes).sum();
    progress.begin(label, total);
    let (sender, mut receiver) = mpsc::channel::<Result<(usize, Block), DecodeError>>(1);
    let (recycle, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    let slabs: Vec<Vec<Hyperslab>> = plan.jobs.iter().map(|j| j.slabs.regions().collect()).collect();
    let paths: Vec<String> = plan.jobs.iter().map(|j| j.path.clone()).collect();
    let handle = tokio::runtime::Handle::current();
    let reader = tokio::task::spawn_blocking(move || {
        let reads = paths.iter().zip(&slabs).flat_map(|(p, rs)| rs.iter().map(|r| (p.clone(), r.clone())));
        source.read_ahead(reads.collect());
        for (i, (path, slabs)) in paths.iter().zip(slabs).enumerate() {
            for slab in slabs {
                let Ok(permit) = handle.block_on(sender.reserve()) else {
                    return; // the writer stopped
                };
                let buffer = spare.try_recv().unwrap_or_default();
                let item = source.read_into(path, &slab, buffer).map(|data| (i, Block { region: slab, data }));
                let failed = item.is_err();
                permit.send(item);
                if failed {
                    return;
                }
            }
        }
    });
    let mut stats = vec![WriteStats::default(); plan.jobs.len()];
    let mut failure = None;
    while let Some(item) = receiver.recv().await {
        match item {
            Ok((i, block)) => {
                let n = block.data.nbytes() as u64;
                match place_block(tx, &plan.jobs[i], block).await {
                    Ok((s, spare)) => {
                        stats[i] += s;
                        if let Some(buffer) = spare {
                            // The reader may have finished and dropped its end: the buffer is freed.
                            let _ = recycle.send(buffer);
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
                progress.advance(n);
            }
            Err(e) => {
                failure = Some(Failure::from(e));
                break;
            }
        }
    }
    drop(receiver);
    // A reader that panicked stopped early: what it did not send must not
    // be committed as if the file ended there.
    let read = reader.await;
    progress.finish();
    if let Some(f) = failure {
        return Err(f);
    }
    read.map_err(|e| worker_died("reading the file", e))?;
    Ok(stats)
}

/// The report of an ingest, from what its last attempt's steps found.
fn assemble(
    dataset: &DatasetId,
    upload: &StagedUpload,
    attempt: Attempt,
    rejection: Option<(RejectionKind, String)>,
) -> IngestReport {
    let mut report = IngestReport::start(dataset.as_str(), upload.source.clone());
    report.timings.fetch_ms = upload.fetch_ms;
    if let Some(o) = attempt.opened {
        report.format = Some(o.format);
        report.warnings = o.warnings;
        report.time = o.time;
        report.timings.open_ms = o.open_ms;
    }
    if let Some(p) = attempt.planned {
        report.warnings.extend(p.warnings);
        report.previous = p.previous;
        report.axes = p.axes;
    }
    if let Some(previous) = attempt.duplicate_of {
        report.status = IngestStatus::Duplicate;
        report.previous = Some(previous);
    }
    if let Some(w) = attempt.written {
        report.bytes_in = w.variables.iter().map(|v| v.bytes_in).sum();
        report.bytes_stored = w.variables.iter().map(|v| v.bytes_stored).sum();
        report.timings.write_ms = w.write_ms;
        report.variables = w.variables;
        report.derived = w.derived;
    }
    if let Some((snapshot, commit_ms)) = attempt.committed {
        report.status = IngestStatus::Committed;
        report.snapshot_id = Some(snapshot);
        report.timings.commit_ms = commit_ms;
    }
    if let Some((kind, message)) = rejection {
        report.status = IngestStatus::Rejected;
        report.snapshot_id = None;
        report.error = Some(FailureInfo { kind: kind.as_str().to_string(), message });
    }
    report.finished_at = now_rfc3339();
    report
}

/// Attempts of one ingest when other writers keep committing first.
const MAX_ATTEMPTS: u32 = 12;

/// The pause before attempt `n + 1`: 50 ms doubling up to 3.2 s, times a
/// random factor in [0.5, 1.5) so racing writers spread out.
fn backoff(n: u32) -> std::time::Duration {
    let base = 50u64 << n.min(6);
    // Jitter from the clock's nanoseconds and the thread: enough to decorrelate writers.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(nanos) ^ (u64::from(std::process::id()) << 20);
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1024
    std::time::Duration::from_millis(base / 2 + base * mixed / 1024)
}

fn elapsed_ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}
