//! Composition root of the ingest function.

use aws_lambda_events::event::s3::S3Event;
use ingest_fn::{Config, Handler};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .init();
    let handler = Handler::new(Config::from_env()?)?;
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<S3Event>| async move { handler.handle(event.payload).await },
    ))
    .await
}
