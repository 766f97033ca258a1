//! The ingest service: detect -> open -> plan -> write slab by slab -> commit ->
//! report. Memory is bounded by two slabs (one being read, one being written),
//! whatever the file's size.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::report::{FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, VariableReport, now_rfc3339};
use super::{ChunkPolicy, SlabPlan};
use crate::cf::{self, VariableKind};
use crate::model::{Block, BlockData, DatasetId, DatasetSchema, Region};
use crate::ports::{
    ArraySpec, CommitRequest, DecodeError, DecoderRegistry, RepoError, ReportError, ReportSink, Repository,
    SourceDataset, SourceMarker, WriteStats,
};

/// A failure that may go away if the ingest is tried again (storage
/// unavailable, commit conflict, local disk trouble). Permanent failures are not
/// errors: they end in a `Rejected` report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The repository failed transiently.
    #[error(transparent)]
    Repository(#[from] RepoError),
    /// Reading the staged file failed transiently.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The failure report could not be stored.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
}

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
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self { policy: ChunkPolicy::default(), slab_budget_bytes: 96 << 20 }
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
}

/// One array to write: its spec, its slabs, and where it comes from.
struct ArrayJob {
    spec: ArraySpec,
    slabs: SlabPlan,
}

impl IngestService {
    /// A service over the given decoders, repository and report sink.
    pub fn new(
        decoders: DecoderRegistry,
        repository: Arc<dyn Repository>,
        reports: Arc<dyn ReportSink>,
        settings: IngestSettings,
    ) -> Self {
        Self { decoders, repository, reports, settings }
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
        let t0 = Instant::now();
        let mut report = IngestReport::start(dataset.as_str(), upload.source.clone());
        report.timings.fetch_ms = upload.fetch_ms;
        let result = self.run(dataset, upload, &mut report, progress).await;
        report.finished_at = now_rfc3339();
        report.timings.total_ms = elapsed_ms(t0) + upload.fetch_ms;
        match result {
            Ok(()) => {}
            Err(Failure::Permanent { kind, message }) => {
                report.status = IngestStatus::Rejected;
                report.snapshot_id = None;
                report.error = Some(FailureInfo { kind, message });
            }
            Err(Failure::Transient(e)) => return Err(e),
        }
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

    /// Records a rejection that happened before the service saw the file (the
    /// object vanished or was replaced before it could be fetched).
    pub async fn record_rejection(
        &self,
        dataset: &str,
        source: SourceInfo,
        kind: &str,
        message: impl Into<String>,
    ) -> Result<IngestReport, IngestError> {
        let mut report = IngestReport::start(dataset, source);
        report.error = Some(FailureInfo { kind: kind.to_string(), message: message.into() });
        report.finished_at = now_rfc3339();
        self.reports.record(&report).await?;
        Ok(report)
    }

    async fn run(
        &self,
        dataset: &DatasetId,
        upload: &StagedUpload,
        report: &mut IngestReport,
        progress: Arc<dyn Progress>,
    ) -> Result<(), Failure> {
        // Detect and open on a blocking thread: C libraries.
        let t_open = Instant::now();
        let path = upload.path.clone();
        let decoders = self.decoders.clone();
        let mut source = tokio::task::spawn_blocking(move || open_source(&decoders, &path))
            .await
            .map_err(|e| Failure::Transient(IngestError::Internal(e.to_string())))??;
        let schema = source.schema().clone();
        report.format = Some(source.format().to_string());
        report.warnings.extend(schema.warnings.iter().cloned());
        if schema.variables.is_empty() {
            return Err(Failure::permanent("unsupported", "the file holds no variable the hub can store"));
        }
        let jobs = plan_arrays(&schema, &self.settings, &mut report.warnings);
        // The time span, from the (small) time coordinate.
        let (time, source_back) = tokio::task::spawn_blocking(move || {
            let time = time_range(&schema, source.as_mut());
            (time, source)
        })
        .await
        .map_err(|e| Failure::Transient(IngestError::Internal(e.to_string())))?;
        source = source_back;
        match time {
            Ok(t) => report.time = t,
            Err(w) => report.warnings.push(w),
        }
        report.timings.open_ms = elapsed_ms(t_open);

        let tx = self.repository.begin(dataset).await?;
        if let Some(marker) = tx.source_marker(&upload.source.key).await? {
            let same = match (&marker.etag, &upload.source.etag) {
                (Some(a), Some(b)) => a == b,
                _ => marker.size == upload.source.size,
            };
            if same {
                report.status = IngestStatus::Duplicate;
                report.previous = Some(marker);
                return Ok(());
            }
            return Err(Failure::permanent(
                "conflict",
                format!(
                    "dataset {dataset} already holds {} (ETag {}); replacing a source with a corrected version is not supported yet: ingest it into a new dataset",
                    marker.key,
                    marker.etag.as_deref().unwrap_or("?")
                ),
            ));
        }
        let existing = tx.arrays().await?;
        if !existing.is_empty() {
            return Err(Failure::permanent(
                "conflict",
                format!(
                    "dataset {dataset} already holds data from another source; extending a dataset with a second file is not supported yet: ingest it into its own dataset (--dataset)"
                ),
            ));
        }

        let t_write = Instant::now();
        for group in &source.schema().groups {
            tx.put_group(&group.path, &group.attrs).await?;
        }
        for job in &jobs {
            tx.create_array(&job.spec).await?;
        }
        let total: u64 =
            jobs.iter().map(|j| j.spec.shape.iter().product::<u64>() * j.spec.dtype.size().unwrap_or(8) as u64).sum();
        progress.begin(&upload.source.key, total);

        // Reader: one blocking thread walks the slabs; it reserves a place in the
        // channel before reading, so at most one slab waits while one is
        // written. Slab buffers go back to the reader once written: two large
        // buffers serve the whole file, nothing is allocated per slab.
        let (sender, mut receiver) = mpsc::channel::<Result<(usize, Block), DecodeError>>(1);
        let (recycle, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let regions: Vec<Vec<Region>> = jobs.iter().map(|j| j.slabs.regions().collect()).collect();
        let paths: Vec<String> = jobs.iter().map(|j| j.spec.path.clone()).collect();
        let handle = tokio::runtime::Handle::current();
        let reader = tokio::task::spawn_blocking(move || {
            for (i, (path, regions)) in paths.iter().zip(regions).enumerate() {
                for region in regions {
                    let Ok(permit) = handle.block_on(sender.reserve()) else {
                        return; // the writer stopped
                    };
                    let buffer = spare.try_recv().unwrap_or_default();
                    let item = source.read_into(path, &region, buffer).map(|data| (i, Block { region, data }));
                    let failed = item.is_err();
                    permit.send(item);
                    if failed {
                        return;
                    }
                }
            }
        });
        let mut stats = vec![WriteStats::default(); jobs.len()];
        let mut failure = None;
        while let Some(item) = receiver.recv().await {
            match item {
                Ok((i, block)) => {
                    let n = block.data.nbytes() as u64;
                    let block = Arc::new(block);
                    match tx.write_block(&jobs[i].spec.path, Arc::clone(&block)).await {
                        Ok(s) => stats[i] += s,
                        Err(e) => {
                            failure = Some(Failure::from(e));
                            break;
                        }
                    }
                    if let Ok(Block { data: BlockData::Numeric(buffer), .. }) = Arc::try_unwrap(block) {
                        let _ = recycle.send(buffer);
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
        let _ = reader.await;
        progress.finish();
        if let Some(f) = failure {
            return Err(f);
        }
        report.timings.write_ms = elapsed_ms(t_write);

        for (job, s) in jobs.iter().zip(&stats) {
            report.variables.push(VariableReport {
                path: job.spec.path.clone(),
                dims: job.spec.dims.clone(),
                shape: job.spec.shape.clone(),
                dtype: job.spec.dtype.to_string(),
                chunks: job.spec.layout.chunks.clone(),
                shard: job.spec.layout.shard.clone(),
                compression: job.spec.layout.compression.to_string(),
                bytes_in: s.bytes_in,
                bytes_stored: s.bytes_stored,
                chunks_written: s.chunks_written,
                chunks_skipped: s.chunks_skipped,
            });
            report.bytes_in += s.bytes_in;
            report.bytes_stored += s.bytes_stored;
        }

        let t_commit = Instant::now();
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
        let snapshot =
            tx.commit(CommitRequest { message: format!("ingest {}", upload.source.key), marker, properties }).await?;
        report.timings.commit_ms = elapsed_ms(t_commit);
        report.snapshot_id = Some(snapshot);
        report.status = IngestStatus::Committed;
        Ok(())
    }
}

/// How a run ended when it did not commit.
enum Failure {
    Permanent { kind: String, message: String },
    Transient(IngestError),
}

impl Failure {
    fn permanent(kind: &str, message: impl Into<String>) -> Self {
        Self::Permanent { kind: kind.to_string(), message: message.into() }
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        if e.is_transient() { Self::Transient(e.into()) } else { Self::permanent(e.kind(), e.to_string()) }
    }
}

impl From<RepoError> for Failure {
    fn from(e: RepoError) -> Self {
        if e.is_transient() {
            Self::Transient(e.into())
        } else {
            let kind = match e {
                RepoError::Invalid(_) => "invalid",
                RepoError::Corrupt(_) => "repository_corrupt",
                _ => "repository",
            };
            Self::permanent(kind, e.to_string())
        }
    }
}

fn elapsed_ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn open_source(decoders: &DecoderRegistry, path: &Path) -> Result<Box<dyn SourceDataset>, Failure> {
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(DecodeError::Io)?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(DecodeError::Io)? {
            0 => break,
            k => n += k,
        }
    }
    if n == 0 {
        return Err(Failure::permanent("corrupt", "the file is empty"));
    }
    let decoder = decoders.detect(&head[..n])?;
    Ok(decoder.open(path)?)
}

/// Chooses the layout and the slabs of every variable.
fn plan_arrays(schema: &DatasetSchema, settings: &IngestSettings, warnings: &mut Vec<String>) -> Vec<ArrayJob> {
    let kinds: std::collections::HashMap<String, VariableKind> = cf::variable_kinds(schema).into_iter().collect();
    schema
        .variables
        .iter()
        .map(|var| {
            let kind = kinds.get(&var.path).copied().unwrap_or(VariableKind::Data);
            let roles = cf::dim_roles(schema, var);
            let layout = settings.policy.layout(var, kind, &roles);
            let elem = var.dtype.size().unwrap_or(64) as u64;
            let slabs =
                SlabPlan::new(&var.shape, layout.write_unit(), var.source_chunks.as_deref(), elem, settings.slab_budget_bytes);
            if slabs.source_reread > 1 {
                warnings.push(format!(
                    "{}: the source's chunks are larger than the memory budget allows to read at once; each is decoded {} times",
                    var.path, slabs.source_reread
                ));
            }
            ArrayJob {
                spec: ArraySpec {
                    path: var.path.clone(),
                    dims: var.dims.clone(),
                    shape: var.shape.clone(),
                    dtype: var.dtype,
                    fill_value: cf::storage_fill(var),
                    layout,
                    attrs: var.attrs.clone(),
                },
                slabs,
            }
        })
        .collect()
}

/// Decodes the first time coordinate of the schema: its span in its calendar.
fn time_range(schema: &DatasetSchema, source: &mut dyn SourceDataset) -> Result<Option<TimeRange>, String> {
    let Some(var) = schema.variables.iter().find(|v| cf::is_time_coordinate(v.name(), &v.dims, &v.attrs)) else {
        return Ok(None);
    };
    let data = source.read(&var.path, &Region::full(&var.shape)).map_err(|e| format!("{}: {e}", var.path))?;
    let BlockData::Numeric(bytes) = data else {
        return Ok(None);
    };
    TimeRange::from_values(&var.path, &var.attrs, &var.dtype.to_f64_vec(&bytes))
}
