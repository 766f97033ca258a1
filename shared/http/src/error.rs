//! API errors and their HTTP status. Every failure a user can cause is a 4xx
//! with a message naming the parameter and what is wrong; 5xx is kept for the
//! hub's own failures (storage unreachable: 503; corrupt data: 500).
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
//! | stored data unreadable | 500 |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hub_core::ports::RepoError;
use hub_core::query::OverBudget;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
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
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The hub failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A bad parameter.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        Self::BadParameter { param, message: message.into() }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) | Self::AnswerTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(m) => Self::NotFound(m),
            RepoError::Invalid(m) => Self::bad("request", m),
            e if e.is_transient() => Self::Unavailable(e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl From<OverBudget> for ApiError {
    fn from(e: OverBudget) -> Self {
        Self::TooLarge(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let code = match &self {
            Self::BadParameter { .. } => "InvalidParameterValue",
            Self::NotFound(_) => "NotFound",
            Self::TooLarge(_) | Self::AnswerTooLarge { .. } => "RequestTooLarge",
            Self::Unavailable(_) => "ServiceUnavailable",
            Self::Internal(_) => "InternalError",
        };
        // A 500 says what failed in general terms; the details (paths, codec
        // messages) go to the log, not to whoever asked.
        let description = match &self {
            Self::Internal(_) => {
                "the hub could not read the stored data this request needs (it may be damaged); the error was logged for the operators".to_string()
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({"code": code, "description": description});
        if let Self::BadParameter { param, .. } = &self {
            body["parameter"] = serde_json::json!(param);
        }
        (status, Json(body)).into_response()
    }
}
