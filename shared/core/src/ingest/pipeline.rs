//! The ingest service: detect -> open -> plan -> write slab by slab -> commit ->
//! report. Memory is bounded by two slabs (one being read, one being written),
//! whatever the file's size.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::report::{
    AxisReport, FailureInfo, IngestReport, IngestStatus, SourceInfo, TimeRange, VariableReport, now_rfc3339,
};
use super::{
    AppendError, AxisEncoding, AxisMerge, ChunkPolicy, IngestOptions, ShapedSource, SlabPlan, StepMove, TimePattern,
    growing_dims, kept_variables, target_runs,
};
use crate::cf::{self, VariableKind};
use crate::model::{
    Block, BlockData, DataType, DatasetId, DatasetSchema, Region, attr_text, copy_subregion, paste_subregion,
};
use crate::ports::{
    ArrayInfo, ArraySpec, CommitRequest, DecodeError, DecodeHints, DecodeLimits, DecoderRegistry, HEAD_BYTES,
    RepoError, ReportError, ReportSink, Repository, SourceDataset, SourceMarker, Transaction, WriteStats,
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
        let mut report = IngestReport::start(dataset.as_str(), upload.source.clone());
        report.timings.fetch_ms = upload.fetch_ms;
        // Another writer may commit first (on object storage, where commits are
        // conditional writes): redo the whole ingest on a fresh session, with
        // a growing, jittered pause, a bounded number of times. Each attempt
        // starts from the new tip, so nothing the other writer did is lost.
        let mut result = self.run(dataset, upload, options, &mut report, Arc::clone(&progress)).await;
        while let Err(Failure::Transient(IngestError::Repository(RepoError::Conflict(why)))) = &result {
            if report.attempts >= MAX_ATTEMPTS {
                break;
            }
            tracing::info!(dataset = %dataset, key = %upload.source.key, attempt = report.attempts, %why, "commit conflict: redoing the ingest");
            tokio::time::sleep(backoff(report.attempts)).await;
            let attempts = report.attempts + 1;
            report = IngestReport::start(dataset.as_str(), upload.source.clone());
            report.timings.fetch_ms = upload.fetch_ms;
            report.attempts = attempts;
            result = self.run(dataset, upload, options, &mut report, Arc::clone(&progress)).await;
        }
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
        options: &IngestOptions,
        report: &mut IngestReport,
        progress: Arc<dyn Progress>,
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
            .map_err(|e| decoder_died("opening the file", e))??;
        let Opened { source, schema, coords, time, notes } = opened;
        report.warnings.extend(notes);
        report.format = Some(source.format().to_string());
        report.warnings.extend(schema.warnings.iter().cloned());
        if schema.variables.is_empty() {
            return Err(Failure::permanent("unsupported", "the file holds no variable the hub can store"));
        }
        match time {
            Ok(t) => report.time = t,
            Err(w) => report.warnings.push(w),
        }
        report.timings.open_ms = elapsed_ms(t_open);

        let tx = self.repository.begin(dataset).await?;
        let mut fresh = false;
        let filled =
            self.fill(tx.as_ref(), source, &schema, &coords, upload, options, report, progress, &mut fresh).await;
        match filled {
            Ok(Some(request)) => {
                let t_commit = Instant::now();
                let snapshot = tx.commit(request).await?;
                report.timings.commit_ms = elapsed_ms(t_commit);
                report.snapshot_id = Some(snapshot);
                report.status = IngestStatus::Committed;
                Ok(())
            }
            Ok(None) => Ok(()), // a duplicate
            Err(failure) => {
                // A first upload that will not commit leaves no repository
                // behind where the repository can tell (see `abandon`).
                if fresh && let Err(e) = self.repository.abandon(dataset, tx).await {
                    tracing::warn!(dataset = %dataset, error = %e, "the unfinished dataset was not removed");
                }
                Err(failure)
            }
        }
    }

    /// Everything of an ingest between the transaction's start and its
    /// commit: the duplicate check, the plan, the writes. Returns the commit
    /// to make (`None` for a duplicate); `fresh` says whether the dataset held
    /// nothing before.
    #[allow(clippy::too_many_arguments)]
    async fn fill(
        &self,
        tx: &dyn Transaction,
        mut source: Box<dyn SourceDataset>,
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        upload: &StagedUpload,
        options: &IngestOptions,
        report: &mut IngestReport,
        progress: Arc<dyn Progress>,
        fresh: &mut bool,
    ) -> Result<Option<CommitRequest>, Failure> {
        if let Some(marker) = tx.source_marker(&upload.source.key).await? {
            let same = match (&marker.etag, &upload.source.etag) {
                (Some(a), Some(b)) => a == b,
                _ => marker.size == upload.source.size,
            };
            if same {
                report.status = IngestStatus::Duplicate;
                report.previous = Some(marker);
                return Ok(None);
            }
            report.warnings.push(format!(
                "{} was ingested before (ETag {}): this delivery replaces its steps",
                marker.key,
                marker.etag.as_deref().unwrap_or("?")
            ));
            report.previous = Some(marker);
        }
        let existing = tx.arrays().await?;
        *fresh = existing.is_empty();
        let mut settings = self.settings.clone();
        settings.policy.overrides.extend(options.chunks.iter().map(|(k, v)| (k.clone(), v.clone())));
        let plan = if existing.is_empty() {
            WritePlan::fresh(schema, coords, &settings, &mut report.warnings)?
        } else {
            WritePlan::append(tx, &existing, schema, coords, &settings).await?
        };
        report.axes = plan.axes.clone();

        let t_write = Instant::now();
        if existing.is_empty() {
            for group in &schema.groups {
                tx.put_group(&group.path, &group.attrs).await?;
            }
        }
        for moves in &plan.moves {
            apply_move(tx, moves, &existing, self.settings.slab_budget_bytes).await?;
        }
        for job in &plan.jobs {
            if let Some(spec) = &job.create {
                tx.create_array(spec).await?;
            }
        }
        let total: u64 = plan.jobs.iter().map(|j| j.source_bytes).sum();
        progress.begin(&upload.source.key, total);

        // Reader: one blocking thread walks the slabs; it reserves a place in the
        // channel before reading, so at most one slab waits while one is
        // written. Slab buffers go back to the reader once written: two large
        // buffers serve the whole file, nothing is allocated per slab.
        let (sender, mut receiver) = mpsc::channel::<Result<(usize, Block), DecodeError>>(1);
        let (recycle, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let regions: Vec<Vec<Region>> = plan.jobs.iter().map(|j| j.slabs.regions().collect()).collect();
        let paths: Vec<String> = plan.jobs.iter().map(|j| j.path.clone()).collect();
        let handle = tokio::runtime::Handle::current();
        let reader = tokio::task::spawn_blocking(move || {
            let reads = paths.iter().zip(&regions).flat_map(|(p, rs)| rs.iter().map(|r| (p.clone(), r.clone())));
            source.read_ahead(reads.collect());
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
        read.map_err(|e| decoder_died("reading the file", e))?;
        for axis in &plan.axis_values {
            let block = Block {
                region: Region::full(&[axis.values.len() as u64]),
                data: BlockData::Numeric(axis.bytes.clone()),
            };
            put_region(tx, &axis.target, block).await?;
        }
        report.timings.write_ms = elapsed_ms(t_write);

        for (job, s) in plan.jobs.iter().zip(&stats) {
            report.variables.push(VariableReport {
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
            });
            report.bytes_in += s.bytes_in;
            report.bytes_stored += s.bytes_stored;
        }

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
        if let Some(t) = &report.time {
            properties.insert("hub.time_start".into(), t.start.clone().into());
            properties.insert("hub.time_end".into(), t.end.clone().into());
        }
        let verb = if existing.is_empty() { "ingest" } else { "append" };
        Ok(Some(CommitRequest { message: format!("{verb} {}", upload.source.key), marker, properties }))
    }
}

/// A decoded file, before the transaction starts.
struct Opened {
    source: Box<dyn SourceDataset>,
    schema: DatasetSchema,
    /// Values of the growing axes' coordinates and of the other 1-D coordinates, by path.
    coords: HashMap<String, Vec<f64>>,
    time: Result<Option<TimeRange>, String>,
    /// What was decided about the file, for the report.
    notes: Vec<String>,
}

/// 1-D coordinates longer than this are not compared between files.
const MAX_COMPARED_COORD: u64 = 1 << 20;

/// A decoder thread that panicked (a binding's own `unwrap` on a damaged
/// file): the file fails the same way every time, so it is a permanent,
/// reported rejection, never a retry.
fn decoder_died(doing: &str, e: tokio::task::JoinError) -> Failure {
    if e.is_panic() {
        let payload = e.into_panic();
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Failure::from(DecodeError::Crashed(format!(
            "the decoder panicked {doing} ({why}); the file is damaged or uses something its library cannot read"
        )))
    } else {
        Failure::Transient(IngestError::Internal(format!("{doing}: {e}")))
    }
}

impl Opened {
    fn open(
        decoders: &DecoderRegistry,
        path: &Path,
        key: &str,
        options: &IngestOptions,
        limits: &DecodeLimits,
        slab_budget: u64,
    ) -> Result<Self, Failure> {
        let hints = DecodeHints { crs: options.crs.clone(), limits: *limits };
        let source = open_source(decoders, path, &hints)?;
        super::screen(source.schema(), limits)?;
        let mut notes = Vec::new();
        let keep = match &options.variables {
            Some(names) => {
                Some(kept_variables(source.schema(), names).map_err(|m| Failure::permanent("unsupported", m))?)
            }
            None => None,
        };
        // A file without a time axis of its own gets the time its key or its
        // metadata gives, so it can be appended along time.
        let stamp = if growing_dims(source.schema()).is_empty() {
            let file_name = key.rsplit('/').next().unwrap_or(key);
            let from_meta = source
                .schema()
                .global_attrs()
                .and_then(|a| attr_text(a, "tifftag_datetime"))
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y:%m:%d %H:%M:%S").ok());
            let from_name = || TimePattern::new(TimePattern::DEFAULT).ok().and_then(|p| p.find(file_name));
            let chosen = options
                .valid_time
                .map(|t| (t, "the dataset configuration's key pattern"))
                .or_else(|| from_meta.map(|t| (t, "TIFFTAG_DATETIME")))
                .or_else(|| {
                    // By default only for GeoTIFF rasters: other formats carry
                    // their time inside, and a stamp in a name is no promise of one.
                    let raster = source.format() == "GeoTIFF";
                    (options.time_from_key_default && raster)
                        .then(from_name)
                        .flatten()
                        .map(|t| (t, "the stamp in the file name"))
                });
            if let Some((t, from)) = chosen {
                notes.push(format!("valid time {t} (UTC) from {from}"));
            }
            chosen.map(|(t, _)| t)
        } else {
            if options.valid_time.is_some() {
                notes.push("the file has its own time axis: the time in its key is not used".into());
            }
            None
        };
        let mut source: Box<dyn SourceDataset> = if keep.is_some() || stamp.is_some() {
            Box::new(ShapedSource::new(source, keep.as_ref(), stamp))
        } else {
            source
        };
        let mut schema = source.schema().clone();
        notes.extend(cf::drop_unmatchable_fills(&mut schema));
        let growing = growing_dims(&schema);
        let mut coords = HashMap::new();
        for var in &schema.variables {
            let is_coord = var.dims.len() == 1 && var.name() == var.dims[0] && var.dtype != DataType::String;
            // A growing axis' values decide where every step lands: they are
            // read whole, so they must fit the memory a slab may take.
            let grows = growing.contains(&var.path);
            if is_coord && grows && var.nbytes() > slab_budget {
                return Err(Failure::from(DecodeError::TooLarge(format!(
                    "{}: {} values along a growing axis in one file, over the {} a file may hold (a slab, {} bytes); split the file along {}",
                    var.path,
                    var.len(),
                    slab_budget / 8,
                    slab_budget,
                    var.path
                ))));
            }
            if is_coord
                && (grows || var.len() <= MAX_COMPARED_COORD)
                && let BlockData::Numeric(bytes) = source.read(&var.path, &Region::full(&var.shape))?
            {
                coords.insert(var.path.clone(), var.dtype.to_f64_vec(&bytes));
            }
        }
        let time = time_range(&schema, &coords);
        Ok(Self { source, schema, coords, time, notes })
    }
}

/// Where a variable's values go in the dataset.
#[derive(Debug, Clone)]
struct Target {
    path: String,
    dims: Vec<String>,
    shape: Vec<u64>,
    dtype: DataType,
    chunks: Vec<u64>,
    shard: Option<Vec<u64>>,
}

impl Target {
    fn unit(&self) -> &[u64] {
        self.shard.as_deref().unwrap_or(&self.chunks)
    }

    fn of_info(info: &ArrayInfo) -> Self {
        Self {
            path: info.path.clone(),
            dims: info.dims.clone(),
            shape: info.shape.clone(),
            dtype: info.dtype,
            chunks: info.chunks.clone(),
            shard: info.shard.clone(),
        }
    }
}

/// One source variable to write.
struct ArrayJob {
    path: String,
    /// The array to create first, when the dataset does not hold it yet.
    create: Option<ArraySpec>,
    target: Target,
    compression: String,
    slabs: SlabPlan,
    source_bytes: u64,
    /// Per dimension: where each source index lands (growing axes of an append).
    maps: Vec<Option<Arc<Vec<u64>>>>,
    /// Time values written in another encoding than the dataset's: (file's, dataset's).
    recode: Option<(AxisEncoding, AxisEncoding)>,
}

/// Stored steps to move up along one axis, in every array that has it.
struct AxisMove {
    dim: String,
    new_len: u64,
    new_to_old: Vec<Option<u64>>,
    /// First stored index that moves; `None` when the axis only grows at its end.
    first_moved: Option<u64>,
}

/// The merged values of a growing axis, written over its coordinate.
struct AxisValues {
    target: Target,
    values: Vec<f64>,
    bytes: Vec<u8>,
}

/// Everything an ingest writes, decided before the first write.
struct WritePlan {
    jobs: Vec<ArrayJob>,
    moves: Vec<AxisMove>,
    axis_values: Vec<AxisValues>,
    axes: Vec<AxisReport>,
}

impl WritePlan {
    /// A dataset's first file: every variable is created as the file has it,
    /// its growing axes checked as an append checks them (finite, no repeats)
    /// and, when the file lists them out of order, its steps placed sorted, so
    /// the dataset can take appends.
    fn fresh(
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        settings: &IngestSettings,
        warnings: &mut Vec<String>,
    ) -> Result<Self, Failure> {
        let growing = growing_dims(schema);
        let mut sorting: HashMap<&str, Arc<Vec<u64>>> = HashMap::new();
        for dim in &growing {
            let Some(values) = coords.get(dim) else { continue };
            let merge = AxisMerge::plan(dim, &[], values).map_err(axis_failure)?;
            let identity = merge.incoming_to_new.iter().enumerate().all(|(i, &j)| i as u64 == j);
            if !identity {
                warnings.push(format!("{dim}: the file lists its values out of order; its steps are stored sorted"));
                sorting.insert(dim.as_str(), Arc::new(merge.incoming_to_new));
            }
        }
        let kinds: HashMap<String, VariableKind> = cf::variable_kinds(schema).into_iter().collect();
        let jobs = schema
            .variables
            .iter()
            .map(|var| {
                let kind = kinds.get(&var.path).copied().unwrap_or(VariableKind::Data);
                let roles = cf::dim_roles(schema, var);
                let mut layout = settings.policy.layout(var, kind, &roles);
                // A growing axis' coordinate gets room to grow in one chunk, so
                // a long series' time axis stays a handful of objects.
                if growing.contains(&var.path) && var.dims.len() == 1 {
                    layout.chunks = vec![var.shape[0].max(GROWING_COORD_CHUNK)];
                    layout.shard = None;
                }
                let elem = var.dtype.size().unwrap_or(64) as u64;
                let slabs = SlabPlan::new(
                    &var.shape,
                    layout.write_unit(),
                    var.source_chunks.as_deref(),
                    elem,
                    settings.slab_budget_bytes,
                );
                if slabs.source_reread > 1 {
                    warnings.push(format!(
                        "{}: the source's chunks are larger than the memory budget allows to read at once; each is decoded {} times",
                        var.path, slabs.source_reread
                    ));
                }
                let spec = ArraySpec {
                    path: var.path.clone(),
                    dims: var.dims.clone(),
                    shape: var.shape.clone(),
                    dtype: var.dtype,
                    fill_value: cf::storage_fill(var),
                    layout: layout.clone(),
                    attrs: var.attrs.clone(),
                };
                ArrayJob {
                    path: var.path.clone(),
                    target: Target {
                        path: var.path.clone(),
                        dims: var.dims.clone(),
                        shape: var.shape.clone(),
                        dtype: var.dtype,
                        chunks: layout.chunks.clone(),
                        shard: layout.shard.clone(),
                    },
                    compression: layout.compression.to_string(),
                    source_bytes: var.len() * elem,
                    create: Some(spec),
                    slabs,
                    maps: var.dims.iter().map(|d| sorting.get(d.as_str()).cloned()).collect(),
                    recode: None,
                }
            })
            .collect();
        Ok(Self { jobs, moves: Vec::new(), axis_values: Vec::new(), axes: Vec::new() })
    }

    /// A file for a dataset that holds data: its steps are merged along the
    /// growing axes; everything else must match what is stored.
    async fn append(
        tx: &dyn Transaction,
        existing: &[ArrayInfo],
        schema: &DatasetSchema,
        coords: &HashMap<String, Vec<f64>>,
        settings: &IngestSettings,
    ) -> Result<Self, Failure> {
        let stored: HashMap<&str, &ArrayInfo> = existing.iter().map(|a| (a.path.as_str(), a)).collect();
        let mismatch = mismatch;
        let mut merges: HashMap<String, (AxisMerge, AxisEncoding, AxisEncoding)> = HashMap::new();
        let mut axes = Vec::new();
        let mut moves = Vec::new();
        let mut axis_values = Vec::new();
        for dim in growing_dims(schema) {
            let Some(info) = stored.get(dim.as_str()).filter(|a| a.dims == [dim.clone()]) else {
                return Err(mismatch(format!(
                    "the file has a {dim} axis the dataset does not have: it belongs to another dataset"
                )));
            };
            let Some(var) = schema.variable(&dim) else { continue };
            let incoming = coords.get(&dim).cloned().unwrap_or_default();
            let to = AxisEncoding::from_attrs(&dim, &info.attrs).map_err(|e| mismatch(e.to_string()))?;
            let from = AxisEncoding::from_attrs(&dim, &var.attrs).map_err(|e| mismatch(e.to_string()))?;
            let incoming = to.convert(&dim, &from, &incoming).map_err(|e| mismatch(e.to_string()))?;
            let data = tx.read(&dim, &Region::full(&info.shape)).await?;
            let BlockData::Numeric(bytes) = data else {
                return Err(mismatch(format!("the stored {dim} axis is not numeric")));
            };
            let merge = AxisMerge::plan(&dim, &info.dtype.to_f64_vec(&bytes), &incoming).map_err(axis_failure)?;
            let encoded = info.dtype.encode_f64s(&merge.merged).ok_or_else(|| {
                mismatch(format!(
                    "{dim}: the file's values cannot be stored as {} in {to} (a step between whole units?)",
                    info.dtype
                ))
            })?;
            let first_moved = merge.first_moved();
            axes.push(AxisReport {
                dim: dim.clone(),
                before: merge.old_to_new.len() as u64,
                inserted: merge.inserted() as u64,
                replaced: merge.replaced as u64,
                moved: first_moved.map_or(0, |f| merge.old_to_new.len() as u64 - f),
            });
            if merge.inserted() > 0 {
                moves.push(AxisMove {
                    dim: dim.clone(),
                    new_len: merge.merged.len() as u64,
                    new_to_old: merge.new_to_old(),
                    first_moved,
                });
                let mut target = Target::of_info(info);
                target.shape = vec![merge.merged.len() as u64];
                axis_values.push(AxisValues { target, values: merge.merged.clone(), bytes: encoded });
            }
            merges.insert(dim.clone(), (merge, from, to));
        }
        // The stored shape of every array once the axes have grown.
        let grown = |info: &ArrayInfo| -> Vec<u64> {
            info.dims
                .iter()
                .zip(&info.shape)
                .map(|(d, &n)| merges.get(d).map_or(n, |(m, _, _)| m.merged.len() as u64))
                .collect()
        };
        let kinds: HashMap<String, VariableKind> = cf::variable_kinds(schema).into_iter().collect();
        let mut jobs = Vec::new();
        for var in &schema.variables {
            if merges.contains_key(&var.path) {
                continue; // written from the merged values
            }
            let grows = var.dims.iter().any(|d| merges.contains_key(d));
            let elem = var.dtype.size().unwrap_or(64) as u64;
            let maps: Vec<Option<Arc<Vec<u64>>>> =
                var.dims.iter().map(|d| merges.get(d).map(|(m, _, _)| Arc::new(m.incoming_to_new.clone()))).collect();
            let (target, create, compression) = match stored.get(var.path.as_str()) {
                Some(info) => {
                    check_fits(var, info, &merges)?;
                    if !grows {
                        // A static variable (grid, grid mapping, station names):
                        // 1-D coordinates must be the same, the rest stays.
                        if let (Some(mine), true) = (coords.get(&var.path), var.dims.len() == 1) {
                            let data = tx.read(&var.path, &Region::full(&info.shape)).await?;
                            if let BlockData::Numeric(bytes) = data {
                                let theirs = info.dtype.to_f64_vec(&bytes);
                                if !same_values(mine, &theirs) {
                                    return Err(mismatch(format!(
                                        "{}: the file's coordinate values differ from the dataset's (another grid or levels)",
                                        var.path
                                    )));
                                }
                            }
                        }
                        continue;
                    }
                    let mut target = Target::of_info(info);
                    target.shape = grown(info);
                    (target, None, info.codecs.clone())
                }
                None => {
                    let kind = kinds.get(&var.path).copied().unwrap_or(VariableKind::Data);
                    let roles = cf::dim_roles(schema, var);
                    let layout = settings.policy.layout(var, kind, &roles);
                    let shape: Vec<u64> = var
                        .dims
                        .iter()
                        .zip(&var.shape)
                        .map(|(d, &n)| merges.get(d).map_or(n, |(m, _, _)| m.merged.len() as u64))
                        .collect();
                    let spec = ArraySpec {
                        path: var.path.clone(),
                        dims: var.dims.clone(),
                        shape: shape.clone(),
                        dtype: var.dtype,
                        fill_value: cf::storage_fill(var),
                        layout: layout.clone(),
                        attrs: var.attrs.clone(),
                    };
                    let target = Target {
                        path: var.path.clone(),
                        dims: var.dims.clone(),
                        shape,
                        dtype: var.dtype,
                        chunks: layout.chunks.clone(),
                        shard: layout.shard.clone(),
                    };
                    (target, Some(spec), layout.compression.to_string())
                }
            };
            // Time-valued variables (bounds of the time axis) follow the axis' encoding.
            let recode = var.dims.iter().find_map(|d| merges.get(d)).and_then(|(_, from, to)| {
                let mine = AxisEncoding::from_attrs(&var.path, &var.attrs).ok()?;
                (matches!(mine, AxisEncoding::Time(_)) && from != to).then(|| (from.clone(), to.clone()))
            });
            let slabs = SlabPlan::new(
                &var.shape,
                target.unit(),
                var.source_chunks.as_deref(),
                elem,
                settings.slab_budget_bytes,
            );
            jobs.push(ArrayJob {
                path: var.path.clone(),
                create,
                target,
                compression,
                slabs,
                source_bytes: var.len() * elem,
                maps,
                recode,
            });
        }
        if jobs.is_empty() && axis_values.is_empty() {
            return Err(mismatch(
                "the file adds nothing to the dataset: it has no time axis to append along (give its valid time in the dataset configuration: a key pattern, or TIFFTAG_DATETIME in the file)".into(),
            ));
        }
        Ok(Self { jobs, moves, axis_values, axes })
    }
}

/// A growing axis that cannot be merged: the file's own values are wrong
/// (not finite, repeated: the same for a first file and an append), or they
/// do not fit the dataset's.
fn axis_failure(e: AppendError) -> Failure {
    match e {
        AppendError::NotFinite { .. } | AppendError::Repeated { .. } => Failure::permanent(
            "invalid",
            format!(
                "{e}; a growing axis must hold finite values without repeats: fix the file's coordinate and upload it again"
            ),
        ),
        other => mismatch(other.to_string()),
    }
}

/// A file that does not fit its dataset, with what to do about it.
fn mismatch(message: String) -> Failure {
    Failure::permanent(
        "mismatch",
        format!("{message}; to keep it, ingest it into a dataset of its own (a dataset rule or --dataset)"),
    )
}

/// A growing coordinate's first chunk: room for this many steps.
const GROWING_COORD_CHUNK: u64 = 4096;

fn same_values(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| super::append::same(*x, *y) || (x.is_nan() && y.is_nan()))
}

/// Whether a file's variable can be written into the stored array.
fn check_fits(
    var: &crate::model::VariableSchema,
    info: &ArrayInfo,
    merges: &HashMap<String, (AxisMerge, AxisEncoding, AxisEncoding)>,
) -> Result<(), Failure> {
    if var.dims != info.dims {
        return Err(mismatch(format!(
            "{}: the file has dimensions {:?}, the dataset {:?}",
            var.path, var.dims, info.dims
        )));
    }
    if var.dtype != info.dtype {
        return Err(mismatch(format!("{}: the file stores {}, the dataset {}", var.path, var.dtype, info.dtype)));
    }
    for ((d, &n), &m) in var.dims.iter().zip(&var.shape).zip(&info.shape) {
        if !merges.contains_key(d) && n != m {
            return Err(mismatch(format!(
                "{}: {d} has {n} values in the file and {m} in the dataset (another grid?)",
                var.path
            )));
        }
    }
    // Packed values only mean the same with the same packing.
    for name in ["scale_factor", "add_offset", "_FillValue", "missing_value"] {
        let (a, b) = (var.attrs.get(name).and_then(|v| v.as_f64s()), info.attrs.get(name).and_then(|v| v.as_f64s()));
        if a.is_some() && !matches!((&a, &b), (Some(x), Some(y)) if same_values(x, y)) {
            return Err(mismatch(format!(
                "{}: {name} is {:?} in the file and {:?} in the dataset: values would be misread",
                var.path, a, b
            )));
        }
    }
    Ok(())
}

/// Grows every stored array that has the axis and moves its stored steps up
/// to make room for late ones, unit by unit from the end backwards.
async fn apply_move(tx: &dyn Transaction, axis: &AxisMove, existing: &[ArrayInfo], budget: u64) -> Result<(), Failure> {
    // Shapes as they are now: another axis may have grown an array already.
    let current: HashMap<String, Vec<u64>> = tx.arrays().await?.into_iter().map(|a| (a.path, a.shape)).collect();
    for info in existing {
        let Some(dim) = info.dims.iter().position(|d| *d == axis.dim) else { continue };
        let mut shape = current.get(&info.path).cloned().unwrap_or_else(|| info.shape.clone());
        shape[dim] = axis.new_len;
        tx.resize(&info.path, &shape).await?;
        let Some(first) = axis.first_moved else { continue };
        if info.dtype == DataType::String {
            return Err(Failure::permanent(
                "unsupported",
                format!("{}: text arrays cannot make room for a late step", info.path),
            ));
        }
        let elem = info.dtype.size().unwrap_or(1);
        let unit: Vec<u64> = info.shard.clone().unwrap_or_else(|| info.chunks.clone());
        let fill = info.fill_value.to_le_bytes(info.dtype);
        let mv = StepMove { dim, new_to_old: &axis.new_to_old, first_moved: first };
        // Whole units move by relabelling where the store can: no copy.
        if let Some((first_unit, moves)) = mv.unit_relabel(unit[dim], axis.new_len)
            && tx.relabel(&info.path, dim, first_unit, &moves).await?
        {
            continue;
        }
        // Windows along the axis, whole write units, from the end down to the first moved step.
        let u = unit[dim].max(1);
        let mut w_end = axis.new_len;
        let w_floor = first / u * u;
        while w_end > w_floor {
            let w_start = ((w_end - 1) / u * u).max(w_floor);
            let mut window_shape = shape.clone();
            window_shape[dim] = w_end - w_start;
            let tiles = SlabPlan::new(&window_shape, &unit, None, elem as u64, budget);
            for tile in tiles.regions() {
                let mut dst = tile.clone();
                dst.start[dim] += w_start;
                let mut out: Vec<u8> =
                    fill.iter().copied().cycle().take(usize::try_from(dst.len()).unwrap_or(0) * elem).collect();
                if let Some(src) = mv.source(&dst) {
                    let BlockData::Numeric(buf) = tx.read(&info.path, &src).await? else {
                        return Err(Failure::permanent("repository", format!("{}: expected numbers", info.path)));
                    };
                    mv.compose(&mut out, &dst, &buf, &src, elem).ok_or_else(|| {
                        Failure::permanent("repository", format!("{}: moved steps do not fit {dst:?}", info.path))
                    })?;
                }
                tx.write_block(&info.path, Arc::new(Block { region: dst, data: BlockData::Numeric(out) })).await?;
            }
            w_end = w_start;
        }
    }
    Ok(())
}

/// Writes one slab of a source variable at its place in the dataset. Returns
/// the slab's buffer when it can be reused.
async fn place_block(
    tx: &dyn Transaction,
    job: &ArrayJob,
    mut block: Block,
) -> Result<(WriteStats, Option<Vec<u8>>), Failure> {
    if let (Some((from, to)), BlockData::Numeric(bytes)) = (&job.recode, &mut block.data) {
        let values = job.target.dtype.to_f64_vec(bytes);
        let values = to.convert(&job.path, from, &values).map_err(|e| Failure::permanent("mismatch", e.to_string()))?;
        *bytes = job.target.dtype.encode_f64s(&values).ok_or_else(|| {
            Failure::permanent(
                "mismatch",
                format!("{}: values do not fit {} after conversion", job.path, job.target.dtype),
            )
        })?;
    }
    let pieces = pieces(&block.region, &job.maps);
    let elem = job.target.dtype.size().unwrap_or(1);
    let mut stats = WriteStats::default();
    if let [(src, dst)] = pieces.as_slice()
        && *src == block.region
    {
        let block = Arc::new(Block { region: dst.clone(), data: block.data });
        stats += put_region(tx, &job.target, Arc::clone(&block)).await?;
        let spare = match Arc::try_unwrap(block) {
            Ok(Block { data: BlockData::Numeric(buffer), .. }) => Some(buffer),
            _ => None,
        };
        return Ok((stats, spare));
    }
    for (src, dst) in pieces {
        let data = match &block.data {
            BlockData::Numeric(bytes) => BlockData::Numeric(
                copy_subregion(bytes, &block.region, &src, elem)
                    .ok_or_else(|| Failure::permanent("internal", format!("{}: piece outside slab", job.path)))?,
            ),
            BlockData::Strings(values) => {
                let mut out = Vec::new();
                for (offset, len) in crate::model::runs(&block.region, &src).unwrap_or_default() {
                    out.extend(values.iter().skip(offset).take(len).cloned());
                }
                BlockData::Strings(out)
            }
        };
        stats += put_region(tx, &job.target, Arc::new(Block { region: dst, data })).await?;
    }
    Ok((stats, None))
}

/// The pieces of a source region that land on consecutive target indices:
/// (region in the file, region in the dataset).
fn pieces(region: &Region, maps: &[Option<Arc<Vec<u64>>>]) -> Vec<(Region, Region)> {
    let mut out = vec![(region.clone(), region.clone())];
    for (d, map) in maps.iter().enumerate() {
        let Some(map) = map else { continue };
        let runs = target_runs(map, region.start[d], region.shape[d]);
        out = out
            .into_iter()
            .flat_map(|(src, dst)| {
                runs.iter().map(move |&(s, t, n)| {
                    let (mut a, mut b) = (src.clone(), dst.clone());
                    a.start[d] = s;
                    a.shape[d] = n;
                    b.start[d] = t;
                    b.shape[d] = n;
                    (a, b)
                })
            })
            .collect();
    }
    out
}

/// Writes a block anywhere in an array: whole write units are written as
/// they are; a unit the block covers only in part is read, patched and
/// written whole (the transaction sees its own writes).
async fn put_region(
    tx: &dyn Transaction,
    target: &Target,
    block: impl Into<Arc<Block>>,
) -> Result<WriteStats, Failure> {
    let block: Arc<Block> = block.into();
    let unit = target.unit();
    let region = &block.region;
    let hull = Region {
        start: region.start.iter().zip(unit).map(|(s, u)| s / u.max(&1) * u.max(&1)).collect(),
        shape: region
            .start
            .iter()
            .zip(&region.shape)
            .zip(unit)
            .zip(&target.shape)
            .map(|(((s, n), u), len)| {
                let u = (*u).max(1);
                let lo = s / u * u;
                ((s + n).div_ceil(u) * u).min(*len) - lo
            })
            .collect(),
    };
    if hull == *region || matches!(block.data, BlockData::Strings(_)) {
        return tx.write_block(&target.path, block).await.map_err(Failure::from);
    }
    let elem = target.dtype.size().unwrap_or(1);
    let BlockData::Numeric(mut whole) = tx.read(&target.path, &hull).await? else {
        return Err(Failure::permanent("repository", "expected numbers".to_string()));
    };
    let BlockData::Numeric(part) = &block.data else {
        return Err(Failure::permanent("internal", "text block in the numeric path".to_string()));
    };
    paste_subregion(&mut whole, &hull, part, region, elem)
        .ok_or_else(|| Failure::permanent("internal", format!("block {region:?} outside {hull:?}")))?;
    Ok(tx.write_block(&target.path, Arc::new(Block { region: hull, data: BlockData::Numeric(whole) })).await?)
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
        if e.is_transient() {
            return Self::Transient(e.into());
        }
        // Every rejection says what to do; a damaged file whose decoder's
        // words do not, gets the one thing there is to do.
        let mut message = e.to_string();
        if matches!(e, DecodeError::Corrupt(_)) && !message.contains("upload it again") {
            message.push_str(
                "; the file is damaged: check it with its format's tools (ncdump -h, gdalinfo, grib_ls) and upload it again",
            );
        }
        Self::permanent(e.kind(), message)
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

fn open_source(
    decoders: &DecoderRegistry,
    path: &Path,
    hints: &DecodeHints,
) -> Result<Box<dyn SourceDataset>, Failure> {
    let mut head = [0u8; HEAD_BYTES];
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
    Ok(decoder.open_with(path, hints)?)
}

/// The span of the first time coordinate, in its calendar.
fn time_range(schema: &DatasetSchema, coords: &HashMap<String, Vec<f64>>) -> Result<Option<TimeRange>, String> {
    let Some(var) = schema.variables.iter().find(|v| cf::is_time_coordinate(v.name(), &v.dims, &v.attrs)) else {
        return Ok(None);
    };
    let Some(values) = coords.get(&var.path) else { return Ok(None) };
    TimeRange::from_values(&var.path, &var.attrs, values)
}
