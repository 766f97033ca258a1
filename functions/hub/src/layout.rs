//! `hub layout`: the time-major copy of each dataset (see
//! [`hub_core::time_major`]): what it holds, and `build` for data stored
//! before the copy was switched on. Ingests keep it in step themselves.

use hub_core::ports::{RegionStore, Repository, Version};
use hub_core::time_major::{BLOCK_ATTR, DIM_ATTR, OF_ATTR, build, is_copy};
use hub_store::ObjectStoreRegions;

use crate::app;
use crate::cli::{LayoutAction, LayoutArgs};

/// Runs `hub layout`.
pub async fn run(args: LayoutArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    match args.action {
        None => {
            for id in hub.datasets().await? {
                let reader = hub.open(&id, &Version::Latest).await?;
                let arrays = reader.arrays().await?;
                let copies: Vec<_> = arrays.iter().filter(|a| is_copy(&a.path)).collect();
                let of = |a: &hub_core::ports::ArrayInfo, k: &str| {
                    hub_core::model::attr_text(&a.attrs, k).map(str::to_string).unwrap_or_default()
                };
                let mut shown = false;
                for c in copies.iter().filter(|c| !of(c, OF_ATTR).is_empty()) {
                    let (source, dim) = (of(c, OF_ATTR), of(c, DIM_ATTR));
                    let Some(src) = arrays.iter().find(|a| a.path == source) else { continue };
                    let d = src.dims.iter().position(|x| *x == dim).unwrap_or(0);
                    let block = c.attrs.get(BLOCK_ATTR).and_then(hub_core::model::AttrValue::as_f64).unwrap_or(0.0);
                    println!(
                        "{id}/{source}: {} of {} steps along {dim} in the copy (blocks of {block}, chunks {:?}; map chunks {:?})",
                        c.shape[d], src.shape[d], c.chunks, src.chunks
                    );
                    shown = true;
                }
                if !shown {
                    println!("{id}: no time-major copy");
                }
            }
        }
        Some(LayoutAction::Build { dataset, blocks_per_commit }) => {
            let id: hub_core::model::DatasetId = dataset.parse()?;
            let settings = ObjectStoreRegions::new(hub.root_store()).attached(&id).await?.time_major;
            if settings.enabled == Some(false) {
                anyhow::bail!(
                    "the datasets' configuration turns {id}'s time-major copy off (datasets.{id}.time_major.enabled): \
                     the next ingest would empty it; switch it on first (`hub config`)"
                );
            }
            let run = build(hub.as_ref(), &id, settings, blocks_per_commit, None).await?;
            for (snapshot, done) in &run.commits {
                println!("{id}: {done} (snapshot {snapshot})");
            }
            if run.commits.is_empty() {
                println!("{id}: the time-major copy is in step; nothing to build");
            }
        }
    }
    Ok(())
}
