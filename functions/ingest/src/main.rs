//! Composition root of the ingest function.

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use ingest_fn::{Config, Handler};
use lambda_runtime::{LambdaEvent, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    // Started as a decoder child: decode one file and exit.
    hub_sandbox::run_if_child(ingest_fn::decoders);
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    hub_store::init_lambda_logging();
    let handler = Handler::new(Config::from_env()?)?;
    let handler = &handler;
    // S3 notifications directly (small deployments) or the ingest queue (SQS
    // FIFO fed by the route function): told apart by the records' source.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let from_queue = event.payload.pointer("/Records/0/eventSource").and_then(|v| v.as_str()) == Some("aws:sqs");
        if from_queue {
            let batch: SqsEvent = serde_json::from_value(event.payload)?;
            return Ok::<_, lambda_runtime::Error>(serde_json::to_value(handler.handle_queue(batch).await)?);
        }
        let s3: S3Event = serde_json::from_value(event.payload)?;
        Ok(serde_json::to_value(handler.handle(s3).await?)?)
    }))
    .await
}
