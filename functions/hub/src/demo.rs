//! `hub demo`: writes a sample CF NetCDF file with the hub's own code, ingests
//! it into the hub, and shows what landed and how to look at it.

use std::sync::Arc;

use anyhow::Context;
use hub_core::ingest::{ChunkPolicy, IngestStatus};
use hub_core::model::DatasetId;

use crate::app;
use crate::cli::DemoArgs;
use crate::progress::Bar;

/// Runs `hub demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let samples = std::env::current_dir()?.join("hub-samples");
    std::fs::create_dir_all(&samples)?;
    let sample = samples.join(format!("demo_daily_{}d.nc", args.days));
    if !sample.exists() {
        println!("writing sample {} ({} days, 1° global, NetCDF-4)", sample.display(), args.days);
        let tmp = sample.with_extension("nc.part");
        let (path, days) = (tmp.clone(), args.days);
        tokio::task::spawn_blocking(move || hub_netcdf::fixtures::write_demo(&path, days))
            .await?
            .context("writing the sample file")?;
        std::fs::rename(&tmp, &sample)?;
    }
    let dataset = DatasetId::new("demo-daily")?;
    let service = app::ingest_service(&hub, ChunkPolicy::default());
    let upload = hub_store::local_upload(
        &sample,
        &format!("incoming/{dataset}/{}", sample.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
    )?;
    let report = service.ingest(&dataset, &upload, Arc::new(Bar::new())).await?;
    println!("{}", crate::ingest::summary(&report));
    if report.status == IngestStatus::Rejected {
        anyhow::bail!("the demo ingest was rejected");
    }
    let summary = crate::info::summarise(hub.as_ref(), &dataset, 5).await?;
    crate::info::print(&summary);
    let root = hub.root().to_string();
    let folder = root.strip_prefix("file://").unwrap_or(&root);
    println!();
    println!("Where to look:");
    println!("  repository:  {folder}/{dataset}   (Icechunk, Zarr v3)");
    println!("  reports:     {folder}/_reports/ok/{dataset}/");
    println!("  sample file: {}", sample.display());
    println!("  again:       cargo run -p hub -- info --repo {folder}");
    println!("  in Python (3.12, pip install icechunk xarray):");
    println!("    import icechunk, xarray as xr");
    println!("    repo = icechunk.Repository.open(icechunk.local_filesystem_storage('{folder}/{dataset}'))");
    println!("    ds = xr.open_zarr(repo.readonly_session('main').store, consolidated=False); print(ds)");
    Ok(())
}
