//! The hub's HTTP API: OGC API - Environmental Data Retrieval 1.1 over the
//! repository, with CoverageJSON as the primary format. One axum [`Router`]
//! serves Lambda (through `lambda_http`) and `hub serve` on one machine, so
//! what is tested locally is what runs in the cloud.
//!
//! Requests plan before they read: the parameters, axes and grid cells a
//! query needs become read plans whose cost (values, decoded bytes, chunks)
//! is checked against a [`Budget`]; a request over it gets 413 with how to
//! narrow it. Dataset views (metadata and coordinates) are cached across
//! requests and warm invocations, and rebuilt only when the dataset moves.

pub mod catalog;
pub mod covjson;
pub mod error;
pub mod extract;
pub mod instances;
pub mod netcdf;
pub mod openapi;
pub mod projection;
pub mod queries;
pub mod resources;
pub mod tabular;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hub_core::ports::{LargeAnswers, Repository};
pub use hub_core::query::Budget;

use crate::catalog::Catalog;
use crate::error::ApiError;

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What one request may read.
    pub budget: Budget,
    /// Region reads in flight per request.
    pub concurrency: usize,
    /// How long a dataset view is trusted before the branch tip is checked again.
    pub view_ttl: Duration,
    /// The largest answer returned in the response itself, in bytes as the
    /// platform carries it (binary bodies base64-encoded, text JSON-escaped
    /// by Lambda); larger answers go to [`AppState::large_answers`] and the
    /// client is redirected, or get 413 when there is nowhere to put them.
    /// `None`: no limit (one machine).
    pub inline_limit: Option<u64>,
    /// The API's public base URL (`HUB_PUBLIC_URL`, e.g.
    /// `https://data.example.org/hub`): links use it instead of what the
    /// request's `Host` and `X-Forwarded-Proto` headers say.
    pub public_url: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            budget: Budget::default(),
            concurrency: 16,
            view_ttl: Duration::from_secs(5),
            inline_limit: None,
            public_url: None,
        }
    }
}

impl ServeConfig {
    /// The defaults, overridden by `HUB_MAX_CELLS`, `HUB_MAX_BYTES`,
    /// `HUB_MAX_CHUNKS`, `HUB_MAX_ANSWER_BYTES`, `HUB_READ_CONCURRENCY`,
    /// `HUB_VIEW_TTL_SECS`, `HUB_INLINE_LIMIT_BYTES` and `HUB_PUBLIC_URL`
    /// (ignored, with a warning, unless it is an `http://` or `https://` URL).
    pub fn from_env() -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let mut c = Self::default();
        if let Some(v) = num("HUB_MAX_CELLS") {
            c.budget.max_cells = v;
        }
        if let Some(v) = num("HUB_MAX_BYTES") {
            c.budget.max_bytes = v;
        }
        if let Some(v) = num("HUB_MAX_CHUNKS") {
            c.budget.max_chunks = v;
        }
        if let Some(v) = num("HUB_MAX_ANSWER_BYTES") {
            c.budget.max_answer_bytes = v;
        }
        if let Some(v) = num("HUB_READ_CONCURRENCY") {
            c.concurrency = usize::try_from(v).unwrap_or(16).max(1);
        }
        if let Some(v) = num("HUB_VIEW_TTL_SECS") {
            c.view_ttl = Duration::from_secs(v);
        }
        if let Some(v) = num("HUB_INLINE_LIMIT_BYTES") {
            c.inline_limit = Some(v);
        }
        if let Ok(url) = std::env::var("HUB_PUBLIC_URL") {
            match resources::public_base(&url) {
                Some(base) => c.public_url = Some(base),
                None => tracing::warn!(url, "HUB_PUBLIC_URL is not an http(s) URL: ignored"),
            }
        }
        c
    }
}

/// What the handlers share.
pub struct AppState {
    /// Dataset views.
    pub catalog: Catalog,
    /// Tunables.
    pub config: ServeConfig,
    /// Where answers over [`ServeConfig::inline_limit`] go.
    pub large_answers: Option<Arc<dyn LargeAnswers>>,
}

impl AppState {
    /// The state over a repository, with PROJ-string projections for projected grids.
    pub fn new(repo: Arc<dyn Repository>, config: ServeConfig) -> Self {
        let catalog = Catalog::new(repo, Arc::new(projection::Proj4Projections), config.view_ttl);
        Self { catalog, config, large_answers: None }
    }

    /// Answers over the inline limit are stored there and redirected to.
    #[must_use]
    pub fn with_large_answers(mut self, store: Arc<dyn LargeAnswers>) -> Self {
        self.large_answers = Some(store);
        self
    }
}

/// The API's router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(resources::landing))
        .route("/conformance", get(resources::conformance))
        .route("/api", get(resources::api))
        .route("/collections", get(resources::collections))
        .route("/collections/{id}", get(resources::collection))
        .route("/collections/{id}/position", get(queries::position))
        .route("/collections/{id}/radius", get(queries::radius))
        .route("/collections/{id}/area", get(queries::area))
        .route("/collections/{id}/cube", get(queries::cube))
        .route("/collections/{id}/trajectory", get(queries::trajectory))
        .route("/collections/{id}/instances", get(instances::list))
        .route("/collections/{id}/instances/{run}", get(instances::instance))
        .route("/collections/{id}/instances/{run}/{query}", get(instances::query))
        .fallback(|| async { ApiError::NotFound("no such resource: see /api".into()) })
        .with_state(state)
}
