//! `hub ensembles`: the ensembles the configuration declares, with their
//! members, facets and time coverage (what their EDR collections show), and
//! `hub ensembles add` to make a stored dataset a member by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use hub_core::ensembles::EnsembleSpec;
use hub_core::ensembles::period_stats::PeriodStatsDerivation;
use hub_core::ingest::CONFIG_KEY;
use hub_core::model::DatasetId;
use hub_core::regions::CellBounds;
use hub_core::regions::stored_weights::grid_fingerprint;
use hub_http::{AppState, ServeConfig};
use hub_store::ObjectStoreRegions;
use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};

use crate::app;
use crate::cli::{EnsemblesAction, EnsemblesArgs};

/// Runs `hub ensembles`.
pub async fn run(args: EnsemblesArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let root = hub.root_store();
    let state = AppState::new(hub.clone(), ServeConfig::default())
        .with_regions(Arc::new(ObjectStoreRegions::new(Arc::clone(&root))));
    match args.action {
        None => {
            let all = hub_http::ensembles::all(&state).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if all.is_empty() {
                println!("no ensembles in {} (declare one under `ensembles` with `hub config`)", hub.root());
            }
            for e in all {
                println!("{}  {} members by {}", e.spec.id, e.members.len(), e.spec.settings.facets.join(", "));
                for (m, o) in &e.members {
                    let facets: Vec<String> = m.facets.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let time = o
                        .view
                        .dims
                        .values()
                        .find(|d| d.role == hub_core::cf::DimRole::Time)
                        .and_then(|d| match &d.values {
                            hub_core::query::AxisValues::Time { values, calendar } => Some(format!(
                                "{} to {} ({} steps, {})",
                                values.first().map(ToString::to_string).unwrap_or_default(),
                                values.last().map(ToString::to_string).unwrap_or_default(),
                                values.len(),
                                calendar.name()
                            )),
                            hub_core::query::AxisValues::Numbers { .. } => None,
                        })
                        .unwrap_or_else(|| "no time axis".into());
                    println!("  {}  {}  {time}", m.dataset, facets.join(" "));
                }
                for (d, why) in &e.refused {
                    println!("  refused {d}: {why}");
                }
            }
        }
        Some(EnsemblesAction::Add { ensemble, dataset, facets }) => {
            let ensemble: DatasetId = ensemble.parse()?;
            let dataset: DatasetId = dataset.parse()?;
            let mut given = BTreeMap::new();
            for f in &facets {
                let (k, v) = f.split_once('=').with_context(|| format!("--facet {f:?}: give NAME=VALUE"))?;
                given.insert(k.trim().to_string(), v.trim().to_string());
            }
            let opened = state
                .catalog
                .open(dataset.as_str())
                .await
                .with_context(|| format!("no dataset {dataset} in {} (see `hub info`)", hub.root()))?;
            let resolved = hub_http::ensembles::find(&state, ensemble.as_str())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no ensemble {ensemble}: declare it under `ensembles` with `hub config`"))?;
            let grid = |o: &hub_core::query::Opened| {
                o.view.grids.first().map(|g| grid_fingerprint(&g.grid, &CellBounds::Midpoints))
            };
            if let Some((first, o)) = resolved.members.iter().find(|(m, _)| m.dataset != dataset)
                && grid(o) != grid(&opened)
            {
                anyhow::bail!(
                    "dataset {dataset} is on another grid than member {}: members of {ensemble} must share one grid (regridding is not offered)",
                    first.dataset
                );
            }
            let key = ObjectPath::from(CONFIG_KEY);
            let current = match root.get(&key).await {
                Ok(got) => String::from_utf8_lossy(&got.bytes().await?).into_owned(),
                Err(object_store::Error::NotFound { .. }) => String::new(),
                Err(e) => return Err(e.into()),
            };
            let updated = EnsembleSpec::add_member(&current, &ensemble, &dataset, &given)?;
            let config = hub_core::ingest::DatasetConfig::parse(&updated)?;
            if let Some(spec) = config.ensembles().get(&ensemble)
                && let Some(Err(why)) = spec.member(&dataset, &opened.view.attrs)
            {
                anyhow::bail!("{why}");
            }
            root.put(&key, PutPayload::from(updated.into_bytes())).await?;
            println!("added {dataset} to {ensemble}");
            if let Some(spec) = config.ensembles().get(&ensemble) {
                refresh(&hub, spec, &[dataset]).await?;
            }
        }
        Some(EnsemblesAction::Refresh { ensemble }) => {
            for e in hub_http::ensembles::all(&state).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                if ensemble.as_deref().is_some_and(|n| n != e.spec.id.as_str()) {
                    continue;
                }
                let members: Vec<DatasetId> = e.members.iter().map(|(m, _)| m.dataset.clone()).collect();
                refresh(&hub, &e.spec, &members).await?;
            }
        }
    }
    Ok(())
}

/// Backfills the period statistics of `spec` in `members`, one commit each.
async fn refresh(hub: &Arc<hub_zarr::IcechunkHub>, spec: &EnsembleSpec, members: &[DatasetId]) -> anyhow::Result<()> {
    let spans = spec.stored_spans();
    if spans.is_empty() {
        return Ok(());
    }
    let derivation: Arc<dyn hub_core::derived::Derivation> = Arc::new(PeriodStatsDerivation {
        ensemble: spec.clone(),
        spans,
        projections: Arc::new(hub_http::projection::Proj4Projections),
    });
    for d in members {
        let label = format!("periods/{}", spec.id);
        let (snapshot, done) =
            hub_core::derived::backfill(hub.as_ref(), d, std::slice::from_ref(&derivation), &label).await?;
        println!("{d}: {} (snapshot {snapshot})", done.join("; "));
    }
    Ok(())
}
