//! Composition root of the maintenance function.

use lambda_runtime::{LambdaEvent, service_fn};
use maintain_fn::{Config, Request, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_store::init_lambda_logging();
    let config = Config::from_env()?;
    let hub = hub_zarr::IcechunkHub::new(config.repo.clone(), hub_zarr::HubSettings::default())?;
    let (hub, config) = (&hub, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // A scheduled event carries none of the request's fields: everything, for real.
        let request: Request = serde_json::from_value(event.payload)?;
        let run = handle(hub, config, request).await.map_err(|e| -> lambda_runtime::Error { Box::new(e) })?;
        Ok::<_, lambda_runtime::Error>(run)
    }))
    .await
}
