//! API errors and their HTTP status, in one table. Every failure a user can
//! cause is a 4xx with a message naming the parameter and what is wrong; 5xx
//! is kept for the hub's own failures, and their bodies say only that and an
//! id: the log line with the same id carries the whole cause chain (paths,
//! chunk keys, codec messages stay out of answers).
//!
//! | error | status |
//! |---|---|
//! | a query parameter is malformed or does not fit the collection | 400 |
//! | unknown collection, parameter or path | 404 |
//! | the request would read more than the budget | 413 |
//! | the answer is over the inline limit and no large-answer store is set | 413 |
//! | the answer is over the inline limit (large-answer store set) | 303 to a presigned URL |
//! | an `f` the resource cannot produce | 400 |
//! | storage unavailable (transient) | 503 |
//! | stored data unreadable, an answer that cannot be encoded | 500 |
//!
//! The core's errors arrive typed ([`QueryError`], and inside it
//! [`RepoError`] with its cause): which status a failure gets is decided by
//! its variant here, never by its text.

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hub_core::ports::{AnswerStoreError, RegionStoreError, RepoError};
use hub_core::query::{OverBudget, QueryError};

use crate::encode::EncodeError;

/// A cause kept for the log.
pub type Cause = Box<dyn Error + Send + Sync>;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A parameter is wrong: which one, and why.
    #[error("{param}: {message}")]
    BadParameter {
        /// The query parameter.
        param: &'static str,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is too large to answer at once.
    #[error("{0}; narrow it with a smaller bbox or datetime interval, fewer parameter-name values or points")]
    TooLarge(OverBudget),
    /// The answer is larger than the deployment returns in a response, and
    /// there is nowhere to leave it.
    #[error(
        "the answer is {size} bytes, over the {limit} bytes this deployment returns in a response; narrow it with a smaller bbox or datetime interval, or fewer parameter-name values"
    )]
    AnswerTooLarge {
        /// Answer size as carried.
        size: u64,
        /// The inline limit.
        limit: u64,
    },
    /// Storage is unavailable for now.
    #[error("storage unavailable")]
    Unavailable(#[source] Cause),
    /// The hub failed.
    #[error("internal error: {what}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
}

impl ApiError {
    /// A bad parameter.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        Self::BadParameter { param, message: message.into() }
    }

    /// The hub failed doing `what`.
    pub fn internal(what: &'static str, source: impl Into<Cause>) -> Self {
        Self::Internal { what, source: source.into() }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) | Self::AnswerTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadParameter { .. } => "InvalidParameterValue",
            Self::NotFound(_) => "NotFound",
            Self::TooLarge(_) | Self::AnswerTooLarge { .. } => "RequestTooLarge",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::Internal { .. } => "InternalError",
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(m) => Self::NotFound(m),
            RepoError::Invalid(m) => Self::bad("request", m),
            e if e.is_transient() => Self::Unavailable(Box::new(e)),
            e => Self::internal("reading the stored data", e),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadParameter { param, message } => Self::BadParameter { param, message },
            QueryError::NotFound(m) => Self::NotFound(m),
            QueryError::OverBudget(o) => Self::TooLarge(o),
            QueryError::Repository(e) => e.into(),
            QueryError::Regions(e @ RegionStoreError::Storage { .. }) => Self::Unavailable(Box::new(e)),
            e => Self::internal("answering the query", e),
        }
    }
}

impl From<EncodeError> for ApiError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::NotOffered { format, what } => Self::bad("f", format!("{format} answers are for {what}")),
            e => Self::internal("encoding the answer", e),
        }
    }
}

impl From<AnswerStoreError> for ApiError {
    fn from(e: AnswerStoreError) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// The error and its sources, `: `-separated, for the log.
pub fn chain(e: &dyn Error) -> String {
    hub_core::error_chain(e)
}

/// An id for a failed request: unique within the process and across
/// processes with overwhelming odds (time, process id and a counter mixed).
fn error_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    #[allow(clippy::cast_possible_truncation)]
    let seed = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = serde_json::json!({"code": self.code()});
        if status.is_server_error() {
            let id = error_id();
            tracing::error!(error_id = %id, status = status.as_u16(), error = %chain(&self), "request failed");
            let description = match &self {
                Self::Unavailable(_) => "the hub's storage is unavailable for now; try again later",
                _ => {
                    "internal error: the hub could not answer this request (the stored data it needs may be damaged); the error was logged for the operators"
                }
            };
            body["description"] = serde_json::json!(format!("{description} (error id {id})"));
            body["id"] = serde_json::json!(id);
        } else {
            body["description"] = serde_json::json!(self.to_string());
        }
        if let Self::BadParameter { param, .. } = &self {
            body["parameter"] = serde_json::json!(param);
        }
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_500_says_internal_error_and_an_id_never_the_cause() {
        let cause = RepoError::corrupt_because(
            "daily/chunks/ABC123: zstd frame",
            std::io::Error::other("/srv/hub/daily/chunks/ABC123: unknown frame descriptor"),
        );
        let e = ApiError::from(QueryError::Repository(cause));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(chain(&e).contains("unknown frame descriptor"), "the log keeps the cause: {}", chain(&e));
        let b = body(e.into_response()).await;
        assert_eq!(b["code"], "InternalError");
        let id = b["id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 16, "{b}");
        let text = b["description"].as_str().unwrap_or_default();
        assert!(text.contains(id), "{text}");
        assert!(!text.contains("/srv") && !text.contains("ABC123") && !text.contains("frame"), "{text}");
    }

    #[tokio::test]
    async fn an_encoding_failure_is_a_500() {
        let e = ApiError::from(EncodeError::failed("NetCDF", std::io::Error::other("too many dimensions")));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let b = body(e.into_response()).await;
        assert!(!b["description"].as_str().unwrap_or_default().contains("dimensions"), "{b}");
    }

    #[test]
    fn transient_storage_is_503_and_kinds_never_depend_on_text() {
        let e = ApiError::from(RepoError::unavailable("s3 GET", std::io::Error::other("connection refused")));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        // A corrupt error whose words say "unavailable" stays a 500.
        let e = ApiError::from(RepoError::corrupt("storage unavailable, timeout"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ApiError::from(RepoError::NotFound("x".into())).status(), StatusCode::NOT_FOUND);
    }
}
