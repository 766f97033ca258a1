//! Composition root of the ingest function.

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use ingest_fn::{Config, Handler};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    // Started as a decoder child: decode one file and exit.
    hub_sandbox::run_if_child(hub_decoders::decoders);
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// An event that is not an S3 notification or an SQS batch.
fn bad_event(e: serde_json::Error) -> Diagnostic {
    Diagnostic { error_type: "hub.UnreadableEvent".into(), error_message: e.to_string() }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    hub_store::init_lambda_logging();
    let config = Config::from_env().map_err(|e| hub_core::error_chain(&e))?;
    let handler = Handler::new(config)?;
    let handler = &handler;
    // S3 notifications directly (small deployments) or the ingest queue (SQS
    // FIFO fed by the route function): told apart by the records' source.
    // Errors go to Lambda as `Diagnostic`s with their type, so a transient
    // failure is recorded as `hub.TransientIngestFailure`.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let from_queue = event.payload.pointer("/Records/0/eventSource").and_then(|v| v.as_str()) == Some("aws:sqs");
        if from_queue {
            let batch: SqsEvent = serde_json::from_value(event.payload).map_err(bad_event)?;
            return serde_json::to_value(handler.handle_queue(batch).await).map_err(bad_event);
        }
        let s3: S3Event = serde_json::from_value(event.payload).map_err(bad_event)?;
        let response = handler.handle(s3).await.map_err(Diagnostic::from)?;
        serde_json::to_value(response).map_err(bad_event)
    }))
    .await
}
