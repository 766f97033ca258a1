//! `hub regions`: register, list, show, remove region sets, and attach them
//! to datasets. A set is read by OGR (any CRS, transformed by PROJ), checked
//! by the core ([`RegionSet::build`]: every refusal names the feature) and
//! stored as one document under `_regions/` in the hub.

use std::sync::Arc;

use anyhow::Context;
use hub_core::ingest::{CONFIG_KEY, DatasetConfig};
use hub_core::model::DatasetId;
use hub_core::ports::RegionStore;
use hub_core::regions::{RegionSet, RegionSetId};
use hub_gdal::regions::{RegionFileOptions, read_region_file};
use hub_store::ObjectStoreRegions;
use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};

use crate::app;
use crate::cli::{RegionsAction, RegionsArgs};

/// Backfills the series of `set` in `datasets`, one commit each.
async fn refresh(hub: &Arc<hub_zarr::IcechunkHub>, set: &RegionSetId, datasets: &[DatasetId]) -> anyhow::Result<()> {
    let store = Arc::new(ObjectStoreRegions::new(hub.root_store()));
    let projections = Arc::new(hub_http::projection::Proj4Projections);
    for b in hub_core::regions::series::backfill_set(store, hub.as_ref(), projections, set, datasets).await? {
        match b.snapshot {
            Some(snapshot) => println!("{}: {} (snapshot {snapshot})", b.dataset, b.done.join("; ")),
            None => println!("{}: no data yet (its series start with its first ingest)", b.dataset),
        }
    }
    Ok(())
}

/// Runs `hub regions`.
pub async fn run(args: RegionsArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let root = hub.root_store();
    let store = ObjectStoreRegions::new(Arc::clone(&root));
    match args.action {
        None => {
            let ids = store.list().await?;
            if ids.is_empty() {
                println!("no region sets in {} (add one with `hub regions add FILE --set ID`)", hub.root());
            }
            let config = hub_store::load_dataset_config(&root).await?;
            for id in ids {
                let Some(s) = store.get(&id).await? else { continue };
                let attached: Vec<String> = config.attached_to(&id).iter().map(ToString::to_string).collect();
                let area: f64 = s.set.regions.iter().map(|r| r.area_km2).sum();
                println!(
                    "{id}  {} regions, {:.0} km²{}",
                    s.set.regions.len(),
                    area,
                    if attached.is_empty() { String::new() } else { format!(", attached to {}", attached.join(", ")) }
                );
            }
        }
        Some(RegionsAction::Add { file, set, id_field, name_field, crs }) => {
            let id: RegionSetId = set.parse()?;
            let hint = id_field.as_ref().map(|f| format!(" in field {f:?}"));
            let options = RegionFileOptions { id_field, name_field, crs };
            let path = file.clone();
            let features = tokio::task::spawn_blocking(move || read_region_file(&path, &options))
                .await
                .context("reading the file")??;
            let set = RegionSet::build(id, features, hint.as_deref())
                .with_context(|| format!("{} was not registered", file.display()))?;
            for w in &set.warnings {
                eprintln!("warning: {w}");
            }
            store.put(&set).await?;
            let area: f64 = set.regions.iter().map(|r| r.area_km2).sum();
            println!("registered {} ({} regions, {:.0} km²) in {}", set.id, set.regions.len(), area, hub.root());
            // A changed set: the series of the datasets it is attached to follow.
            let config = hub_store::load_dataset_config(&root).await?;
            refresh(&hub, &set.id, &config.attached_to(&set.id)).await?;
        }
        Some(RegionsAction::Show { set }) => {
            let id: RegionSetId = set.parse()?;
            let s = store.get(&id).await?.with_context(|| format!("no region set {id} (see `hub regions`)"))?;
            // A reader that closes the pipe (`| head`) ends the listing, quietly.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let mut lines = vec![format!("{:<24} {:<32} {:>14}  bbox", "id", "name", "area km²")];
            for r in &s.set.regions {
                let b = r.bbox();
                lines.push(format!(
                    "{:<24} {:<32} {:>14.1}  {:.3},{:.3},{:.3},{:.3}",
                    r.id, r.name, r.area_km2, b[0], b[1], b[2], b[3]
                ));
            }
            lines.extend(s.set.warnings.iter().map(|w| format!("warning: {w}")));
            for line in lines {
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
        }
        Some(RegionsAction::Remove { set }) => {
            let id: RegionSetId = set.parse()?;
            if store.remove(&id).await? {
                println!("removed {id}");
            } else {
                anyhow::bail!("no region set {id} (see `hub regions`)");
            }
        }
        Some(RegionsAction::Attach { set, datasets }) => {
            let id: RegionSetId = set.parse()?;
            store.get(&id).await?.with_context(|| format!("no region set {id} (see `hub regions`)"))?;
            let datasets = datasets.iter().map(|d| d.parse::<DatasetId>()).collect::<Result<Vec<_>, _>>()?;
            let key = ObjectPath::from(CONFIG_KEY);
            let current = match root.get(&key).await {
                Ok(got) => String::from_utf8_lossy(&got.bytes().await?).into_owned(),
                Err(object_store::Error::NotFound { .. }) => String::new(),
                Err(e) => return Err(e.into()),
            };
            let updated = DatasetConfig::attach(&current, &id, &datasets)?;
            root.put(&key, PutPayload::from(updated.into_bytes())).await?;
            let names: Vec<&str> = datasets.iter().map(DatasetId::as_str).collect();
            println!("attached {id} to {}", names.join(", "));
            refresh(&hub, &id, &datasets).await?;
        }
        Some(RegionsAction::Refresh { set }) => {
            let config = hub_store::load_dataset_config(&root).await?;
            let sets = match set {
                Some(s) => vec![s.parse::<RegionSetId>()?],
                None => store.list().await?,
            };
            for id in sets {
                refresh(&hub, &id, &config.attached_to(&id)).await?;
            }
        }
    }
    Ok(())
}
