//! The Lambda functions' log format: JSON lines without timestamps
//! (CloudWatch adds its own), level from `RUST_LOG` (default `info`). One
//! place for every function, so their logs query alike in Logs Insights.

/// Installs the subscriber; a second call does nothing.
pub fn init_lambda_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).without_time().try_init();
}
