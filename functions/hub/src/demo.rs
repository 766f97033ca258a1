//! `hub demo`: writes a sample CF NetCDF file with the hub's own code, ingests
//! it into the hub, and shows what landed and how to look at it; then a
//! stream: radar composites (GeoTIFF) arriving out of order into
//! `demo-radar`, and two model runs (GRIB2) step by step into `demo-nwp`.

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
    // The sample files live with the hub they were made for (under `_samples`,
    // a name the hub keeps for itself), not in whatever folder the demo ran
    // from; a hub that is not a folder gets them in the temp dir.
    let samples = match hub.root() {
        hub_store::StoreUrl::File(dir) => dir.join("_samples"),
        _ => std::env::temp_dir().join("hub-samples"),
    };
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
    let service = app::ingest_service(&hub, ChunkPolicy::default())?;
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
    streams(&service, &samples).await?;
    let root = hub.root().to_string();
    let folder = root.strip_prefix("file://").unwrap_or(&root);
    println!();
    println!("Where to look:");
    println!("  repository:  {folder}/{dataset}   (Icechunk, Zarr v3)");
    println!("  reports:     {folder}/_reports/ok/{dataset}/");
    println!(
        "  streams:     {folder}/demo-radar (composites appended as they came), {folder}/demo-nwp (two model runs)"
    );
    println!("  sample file: {}", sample.display());
    println!("  again:       cargo run -p hub -- info --repo {folder}");
    println!("  in Python (3.12, pip install icechunk xarray):");
    println!("    import icechunk, xarray as xr");
    println!("    repo = icechunk.Repository.open(icechunk.local_filesystem_storage('{folder}/{dataset}'))");
    println!("    ds = xr.open_zarr(repo.readonly_session('main').store, consolidated=False); print(ds)");
    Ok(())
}

/// Six five-minute composites (newest first, one twice) and two model runs of
/// three steps each, as a real-time feed would deliver them.
async fn streams(service: &hub_core::ingest::IngestService, samples: &std::path::Path) -> anyhow::Result<()> {
    use hub_gdal::fixtures::{Composite, Forecast, write_composite, write_forecast};
    let radar = DatasetId::new("demo-radar")?;
    let nwp = DatasetId::new("demo-nwp")?;
    let (mut committed, mut duplicates) = (0, 0);
    let mut count = |r: &hub_core::ingest::IngestReport| -> anyhow::Result<()> {
        match r.status {
            IngestStatus::Committed => committed += 1,
            IngestStatus::Duplicate => duplicates += 1,
            IngestStatus::Rejected => anyhow::bail!("{}", crate::ingest::summary(r)),
        }
        Ok(())
    };
    for step in [5u32, 4, 3, 0, 1, 2, 5] {
        let name = format!("2024060112{:02}_COMP.tif", step * 5);
        let path = samples.join(&name);
        if !path.exists() {
            let c = Composite { size: (380, 613), step, version: 0, with_crs: true, datetime: None };
            write_composite(&path, &c).context("writing a sample composite")?;
        }
        let upload = hub_store::local_upload(&path, &format!("incoming/{radar}/{name}"))?;
        count(&service.ingest(&radar, &upload, Arc::new(hub_core::ingest::NoProgress)).await?)?;
    }
    let run0 = 1_717_200_000; // 2024-06-01T00:00Z
    for (reference, lead) in
        [(run0, 0u32), (run0, 6), (run0, 3), (run0 + 21_600, 0), (run0 + 21_600, 3), (run0 + 21_600, 6)]
    {
        let name = format!("model_{reference}_{lead:03}.grib2");
        let path = samples.join(&name);
        if !path.exists() {
            write_forecast(&path, &Forecast { reference, lead_hours: lead, version: 0.0 })
                .context("writing a sample GRIB2 file")?;
        }
        let upload = hub_store::local_upload(&path, &format!("incoming/{nwp}/{name}"))?;
        count(&service.ingest(&nwp, &upload, Arc::new(hub_core::ingest::NoProgress)).await?)?;
    }
    println!();
    println!("Streams: {committed} files appended, {duplicates} re-deliveries recognised");
    println!("  demo-radar: 6 composites in time order (they arrived newest first)");
    println!("  demo-nwp:   2 model runs x 3 lead times; runs are API instances");
    Ok(())
}
