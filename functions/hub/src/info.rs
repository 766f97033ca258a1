//! `hub info`: what the hub holds.

use anyhow::Context;
use hub_core::cf;
use hub_core::ingest::TimeRange;
use hub_core::model::{BlockData, DatasetId, Hyperslab};
use hub_core::ports::{ArrayInfo, CommitInfo, Repository, Version};
use serde::Serialize;

use crate::app;
use crate::cli::InfoArgs;

/// One array, with its sizes.
#[derive(Debug, Serialize)]
pub struct ArraySummary {
    #[serde(flatten)]
    info: ArrayInfo,
    uncompressed_bytes: u64,
    stored_bytes: u64,
}

/// One dataset.
#[derive(Debug, Serialize)]
pub struct DatasetSummary {
    id: String,
    snapshot: String,
    arrays: Vec<ArraySummary>,
    uncompressed_bytes: u64,
    stored_bytes: u64,
    compression_ratio: Option<f64>,
    time: Vec<TimeRange>,
    warnings: Vec<String>,
    history: Vec<CommitInfo>,
}

/// Summarises one dataset.
pub async fn summarise(hub: &dyn Repository, id: &DatasetId, history: usize) -> anyhow::Result<DatasetSummary> {
    let reader = hub.open(id, &Version::Latest).await.with_context(|| format!("opening {id}"))?;
    let mut arrays = Vec::new();
    let mut time = Vec::new();
    let mut warnings = Vec::new();
    for info in reader.arrays().await? {
        let stored = reader.stored_bytes(&info.path).await?;
        let uncompressed = info.shape.iter().product::<u64>() * info.dtype.size().unwrap_or(8) as u64;
        let name = info.path.rsplit('/').next().unwrap_or(&info.path);
        if cf::is_time_coordinate(name, &info.dims, &info.attrs)
            && let BlockData::Numeric(bytes) = reader.read(&info.path, &Hyperslab::full(&info.shape)).await?
        {
            match TimeRange::from_values(&info.path, &info.attrs, &info.dtype.to_f64_vec(&bytes)) {
                Ok(Some(t)) => time.push(t),
                Ok(None) => {}
                Err(w) => warnings.push(w.to_string()),
            }
        }
        arrays.push(ArraySummary { info, uncompressed_bytes: uncompressed, stored_bytes: stored });
    }
    let uncompressed_bytes = arrays.iter().map(|a| a.uncompressed_bytes).sum();
    let stored_bytes: u64 = arrays.iter().map(|a| a.stored_bytes).sum();
    Ok(DatasetSummary {
        id: id.to_string(),
        snapshot: reader.snapshot_id().to_string(),
        compression_ratio: (stored_bytes > 0).then(|| uncompressed_bytes as f64 / stored_bytes as f64),
        uncompressed_bytes,
        stored_bytes,
        arrays,
        time,
        warnings,
        history: hub.history(id, history).await?,
    })
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// Prints a summary for people.
pub fn print(s: &DatasetSummary) {
    println!("dataset {}  (snapshot {})", s.id, s.snapshot);
    println!(
        "  size: {} uncompressed, {} stored, ratio {}",
        human(s.uncompressed_bytes),
        human(s.stored_bytes),
        s.compression_ratio.map_or("-".into(), |r| format!("{r:.1}"))
    );
    for t in &s.time {
        println!("  time ({}): {} .. {}  {} steps, calendar {}", t.variable, t.start, t.end, t.steps, t.calendar);
    }
    println!("  arrays:");
    for a in &s.arrays {
        let i = &a.info;
        let shard = i.shard.as_ref().map(|s| format!(" shard {s:?}")).unwrap_or_default();
        println!(
            "    {:<24} {:<8} ({}) shape {:?} chunks {:?}{shard} {}  {} -> {}",
            i.path,
            i.dtype.to_string(),
            i.dims.join(", "),
            i.shape,
            i.chunks,
            i.codecs,
            human(a.uncompressed_bytes),
            human(a.stored_bytes)
        );
    }
    for w in &s.warnings {
        println!("  warning: {w}");
    }
    println!("  history:");
    for c in &s.history {
        println!("    {}  {}  {}", c.snapshot_id, c.committed_at, c.message);
    }
}

/// Runs `hub info`.
pub async fn run(args: InfoArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let ids = match &args.dataset {
        Some(d) => vec![DatasetId::new(d.as_str())?],
        None => hub.datasets().await?,
    };
    let mut all = Vec::new();
    for id in &ids {
        all.push(summarise(hub.as_ref(), id, args.history).await?);
    }
    // Repositories no commit reached: not datasets, but they hold storage.
    let unfinished = if args.dataset.is_none() { hub.unfinished().await? } else { Vec::new() };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "repo": hub.root().to_string(), "datasets": all, "unfinished": unfinished })
            )?
        );
    } else {
        if all.is_empty() {
            println!("no datasets in {}", hub.root());
        } else {
            println!("hub {}", hub.root());
            for s in &all {
                print(s);
            }
        }
        for u in &unfinished {
            println!(
                "unfinished: {} ({} objects, {:.1} MB, last written {}): a first upload that never committed; hub gc removes it after the grace period",
                u.dataset,
                u.objects,
                u.bytes as f64 / 1e6,
                u.last_written.as_deref().unwrap_or("?")
            );
        }
    }
    Ok(())
}
