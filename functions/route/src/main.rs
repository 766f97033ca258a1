//! Composition root of the route function.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use route_fn::{Config, Handler, SqsQueue};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    hub_store::init_lambda_logging();
    let config = Config::from_env()?;
    let queue = Arc::new(SqsQueue::from_env(config.queue_url.clone()).await);
    let handler = Handler::new(&config.repo, config.rule, queue)?;
    let handler = &handler;
    // S3 notifications (the hub's own upload bucket) or EventBridge `Object
    // Created` events (any bucket with EventBridge notifications on).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let routed = match hub_store::events::from_eventbridge(&event.payload) {
            Some(upload) => handler.route(vec![upload]).await,
            None => handler.handle(serde_json::from_value::<S3Event>(event.payload)?).await,
        };
        // A failure to queue fails the invocation: Lambda retries the event.
        let routed = routed.map_err(|e| -> lambda_runtime::Error { Box::new(e) })?;
        Ok::<_, lambda_runtime::Error>(serde_json::to_value(routed)?)
    }))
    .await
}
