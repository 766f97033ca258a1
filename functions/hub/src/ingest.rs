//! `hub ingest`: files and folders into datasets, one commit per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use futures::StreamExt;
use hub_core::ingest::{ChunkPolicy, Compression, DatasetConfig, DatasetRule, IngestReport, IngestStatus};
use hub_core::model::DatasetId;

use crate::app;
use crate::cli::IngestArgs;
use crate::progress::Bar;

/// A file to ingest and its key (its path relative to the argument it came from).
struct Input {
    path: PathBuf,
    key: String,
}

/// Files under `arg`, with their keys. Hidden entries and the hub's own folder
/// (when it lies inside `arg`) are left out. A path given on the command line
/// is taken as it is (a link to a file is that file); inside folders,
/// symbolic links are not followed (a `loop -> .` would ingest everything
/// again and again) and only regular files are read (a named pipe would block
/// the ingest forever): what is left out is said in `notes`.
fn collect(arg: &Path, skip: Option<&Path>, out: &mut Vec<Input>, notes: &mut Vec<String>) -> anyhow::Result<()> {
    let meta = std::fs::metadata(arg).with_context(|| format!("{}", arg.display()))?;
    if meta.is_file() {
        let key = arg.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(Input { path: arg.to_path_buf(), key });
        return Ok(());
    }
    if !meta.is_dir() {
        bail!("{}: not a regular file or a folder (a pipe or a device cannot be ingested)", arg.display());
    }
    let mut stack = vec![arg.to_path_buf()];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            // The entry itself, not what a link points at.
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                notes.push(format!("skipped {}: a symbolic link (not followed inside folders)", path.display()));
            } else if kind.is_dir() {
                let is_hub = skip.is_some_and(|s| std::fs::canonicalize(&path).is_ok_and(|p| p == s));
                if !is_hub {
                    stack.push(path);
                }
            } else if kind.is_file() {
                let key = path.strip_prefix(arg).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                found.push(Input { path, key });
            } else {
                notes.push(format!("skipped {}: not a regular file (a pipe, socket or device)", path.display()));
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    out.extend(found);
    Ok(())
}

/// The chunk policy from the flags.
pub fn policy(compression: &str, chunk_mib: f64, shard_mib: Option<f64>) -> anyhow::Result<ChunkPolicy> {
    let compression: Compression = compression.parse().map_err(anyhow::Error::msg)?;
    if !(0.0625..=256.0).contains(&chunk_mib) {
        bail!("--chunk-mib must be between 0.0625 and 256");
    }
    Ok(ChunkPolicy {
        target_chunk_bytes: (chunk_mib * 1024.0 * 1024.0) as u64,
        compression,
        shard_target_bytes: shard_mib.map(|m| (m * 1024.0 * 1024.0) as u64),
        ..ChunkPolicy::default()
    })
}

/// One line about a report.
pub fn summary(r: &IngestReport) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    match r.status {
        IngestStatus::Committed => format!(
            "committed {} -> {} ({} variables, {:.1} MB -> {:.1} MB, ratio {:.1}, {} ms{}) snapshot {}",
            r.source.key,
            r.dataset,
            r.variables.len(),
            mb(r.bytes_in),
            mb(r.bytes_stored),
            r.compression_ratio().unwrap_or(0.0),
            r.timings.total_ms,
            r.time.as_ref().map(|t| format!(", {} .. {} {}", t.start, t.end, t.calendar)).unwrap_or_default(),
            r.snapshot_id.as_deref().unwrap_or("-"),
        ),
        IngestStatus::Duplicate => format!(
            "duplicate {} -> {}: already ingested {}",
            r.source.key,
            r.dataset,
            r.previous.as_ref().map(|p| p.ingested_at.as_str()).unwrap_or("earlier")
        ),
        IngestStatus::Rejected => format!(
            "REJECTED {} -> {}: {}",
            r.source.key,
            r.dataset,
            r.error.as_ref().map(|e| e.message.as_str()).unwrap_or("unknown error")
        ),
    }
}

/// Runs `hub ingest`.
pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let service = app::ingest_service(&hub, policy(&args.compression, args.chunk_mib, args.shard_mib)?)?;
    let rule = match (&args.dataset, &args.pattern) {
        (Some(id), _) => DatasetRule::fixed(DatasetId::new(id.as_str())?),
        (None, Some(p)) => DatasetRule::with_pattern(p)?,
        (None, None) => DatasetRule::default(),
    };
    // An explicit --dataset puts everything there; otherwise the hub's
    // configuration decides, then the key rule.
    let datasets = if args.dataset.is_some() {
        DatasetConfig::default()
    } else {
        hub_store::load_dataset_config(&hub.root_store()).await.context("the hub's dataset configuration")?
    };
    let hub_folder = match hub.root() {
        hub_store::StoreUrl::File(p) => std::fs::canonicalize(p).ok(),
        _ => None,
    };
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    for p in &args.paths {
        collect(p, hub_folder.as_deref(), &mut inputs, &mut notes)?;
    }
    for n in &notes {
        eprintln!("{n}");
    }
    let progress = Arc::new(Bar::new());
    // Files ingest `--jobs` at a time; commits to one dataset are serialized by
    // its lock whatever the number of jobs, so parallelism pays across datasets
    // and in decoding.
    let jobs = args.jobs.max(1);
    let service = &service;
    let (datasets, rule, progress) = (&datasets, &rule, &progress);
    let mut outcomes = futures::stream::iter(inputs.into_iter().map(|input| async move {
        let resolved = match datasets.resolve(&input.key, rule) {
            Ok(r) => r,
            Err(e) => return Ok::<_, anyhow::Error>(Err(format!("SKIPPED {}: {e}", input.key))),
        };
        // Hashing reads the whole file: off the async threads.
        let (path, key) = (input.path.clone(), input.key.clone());
        let upload = tokio::task::spawn_blocking(move || hub_store::local_upload(&path, &key))
            .await?
            .with_context(|| format!("{}", input.path.display()))?;
        let report = service
            .ingest_with(&resolved.dataset, &upload, &resolved.options, progress.clone())
            .await
            .with_context(|| format!("ingesting {}", input.key))?;
        Ok(Ok(report))
    }))
    .buffer_unordered(jobs);
    let mut rejected = 0;
    while let Some(outcome) = outcomes.next().await {
        let report = match outcome? {
            Ok(report) => report,
            Err(skipped) => {
                eprintln!("{skipped}");
                rejected += 1;
                continue;
            }
        };
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{}", summary(&report));
            for w in &report.warnings {
                println!("  warning: {w}");
            }
        }
        if report.status == IngestStatus::Rejected {
            rejected += 1;
        }
    }
    if rejected > 0 {
        bail!("{rejected} file(s) rejected; reports are under {}/_reports/failed", hub.root());
    }
    Ok(())
}
