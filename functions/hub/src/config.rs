//! `hub config`: show or replace the datasets' configuration stored in the hub.

use anyhow::Context;
use hub_core::ingest::CONFIG_KEY;

use crate::app;
use crate::cli::ConfigArgs;

/// Runs `hub config`.
pub async fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let hub = app::hub(&args.repo.repo)?;
    let store = hub.root_store();
    match args.file {
        Some(path) => {
            let json = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
            let config = hub_store::store_dataset_config(&store, &json).await?;
            println!("stored {} rule(s) in {}/{CONFIG_KEY}", config.rules().count(), hub.root());
        }
        None => {
            let config = hub_store::load_dataset_config(&store).await?;
            let rules: Vec<_> = config.rules().collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "rules": rules }))?);
        }
    }
    Ok(())
}
