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

pub mod covjson;
pub mod encode;
pub mod ensembles;
pub mod error;
pub mod instances;
pub mod netcdf;
pub mod openapi;
pub mod params;
pub mod projection;
pub mod queries;
pub mod regions;
pub mod resources;
pub mod series;
pub mod tabular;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hub_core::ports::RegionStore;
use hub_core::ports::{LargeAnswers, Repository};
pub use hub_core::query::Budget;
use hub_core::query::{Catalog, RegionCatalog};
use hub_core::settings::{EnvError, checked, parsed};

use crate::error::ApiError;

/// Tunables of the API.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What one request may read.
    pub budget: Budget,
    /// Hyperslab reads in flight per request.
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
    /// (an `http://` or `https://` URL). A value that is set but unusable is
    /// an error naming the variable: the process does not start.
    pub fn from_env() -> Result<Self, EnvError> {
        const WHOLE: &str = "a whole number";
        let mut c = Self::default();
        if let Some(v) = parsed("HUB_MAX_CELLS", WHOLE)? {
            c.budget.max_cells = v;
        }
        if let Some(v) = parsed("HUB_MAX_BYTES", WHOLE)? {
            c.budget.max_bytes = v;
        }
        if let Some(v) = parsed("HUB_MAX_CHUNKS", WHOLE)? {
            c.budget.max_chunks = v;
        }
        if let Some(v) = parsed("HUB_MAX_ANSWER_BYTES", WHOLE)? {
            c.budget.max_answer_bytes = v;
        }
        if let Some(v) = checked("HUB_READ_CONCURRENCY", "a whole number from 1 to 1024", |v| {
            v.parse::<usize>().ok().filter(|n| (1..=1024).contains(n))
        })? {
            c.concurrency = v;
        }
        if let Some(v) = parsed("HUB_VIEW_TTL_SECS", WHOLE)? {
            c.view_ttl = Duration::from_secs(v);
        }
        if let Some(v) = parsed("HUB_INLINE_LIMIT_BYTES", WHOLE)? {
            c.inline_limit = Some(v);
        }
        c.public_url = checked("HUB_PUBLIC_URL", "an http:// or https:// URL", resources::public_base)?;
        Ok(c)
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
    /// Region sets and their weights, when the deployment keeps sets.
    pub regions: Option<RegionCatalog>,
}

impl AppState {
    /// The state over a repository, with PROJ-string projections for projected grids.
    pub fn new(repo: Arc<dyn Repository>, config: ServeConfig) -> Self {
        let catalog = Catalog::new(repo, Arc::new(projection::Proj4Projections), config.view_ttl);
        Self { catalog, config, large_answers: None, regions: None }
    }

    /// Region sets from `store` (`/regions`, `locations`, statistics).
    #[must_use]
    pub fn with_regions(mut self, store: Arc<dyn RegionStore>) -> Self {
        self.regions = Some(RegionCatalog::new(store, self.config.view_ttl));
        self
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
        .route("/collections/{id}/instances", get(instances::list))
        .route("/collections/{id}/instances/{run}", get(instances::instance))
        .route("/collections/{id}/instances/{run}/locations", get(regions::instance_locations))
        .route("/collections/{id}/instances/{run}/locations/{location}", get(regions::instance_location))
        .route("/collections/{id}/instances/{run}/{query}", get(queries::instance_query))
        .route("/regions", get(regions::sets))
        .route("/regions/{set}", get(regions::set))
        .route("/regions/{set}/{region}", get(regions::region))
        .route("/collections/{id}/locations", get(regions::locations))
        .route("/collections/{id}/locations/{location}", get(regions::location))
        .route("/collections/{id}/locations/{location}/weights", get(regions::location_weights))
        .route("/collections/{id}/area", get(queries::area).post(regions::area_post))
        .route("/collections/{id}/{query}", get(queries::collection_query))
        .fallback(|| async { ApiError::NotFound("no such resource: see /api".into()) })
        .with_state(state)
}
