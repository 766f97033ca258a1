//! The EDR data queries on `/collections/{id}/…` (position, radius, area,
//! cube, trajectory) and on a forecast run's instance: each handler reads
//! its request into a typed query, runs it through the core's query
//! service, and encodes the answer with the format's encoder.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_core::query::{Extraction, Instance, Limits, Opened, Place, execute};

use crate::AppState;
use crate::encode::Encoder;
use crate::error::ApiError;
use crate::params::{DataRequest, data_request, is_query};

/// `/collections/{id}/{query}`
pub async fn collection_query(
    State(state): State<Arc<AppState>>,
    Path((id, query)): Path<(String, String)>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    if !is_query(&query) {
        return Err(ApiError::NotFound("no such resource: see /api".into()));
    }
    if let Some(ensemble) = crate::ensembles::find(&state, &id).await? {
        return crate::ensembles::query(&state, &ensemble, &query, pairs, &headers).await;
    }
    let opened = state.catalog.open(&id).await?;
    if let Some(r) = crate::ensembles::member_dimension_query(&state, &opened, &query, &pairs, &headers, None).await? {
        return Ok(r);
    }
    let request = data_request(&opened.view, &query, pairs, &headers, None)?;
    if let (Some(_), Place::Area { polygons, .. }) = (&request.statistics, &request.query.place) {
        let rings =
            polygons.iter().map(|p| p.iter().map(|r| r.iter().map(|q| [q.lon, q.lat]).collect()).collect()).collect();
        return crate::regions::adhoc(&state, &opened, &request, rings).await;
    }
    answer(&state, &opened, &request).await
}

/// `/collections/{id}/instances/{run}/{query}`: any query on one run
/// (`datetime` then selects valid times within it), or on `best`, the best
/// estimate (position queries).
pub async fn instance_query(
    State(state): State<Arc<AppState>>,
    Path((id, run, query)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let opened = state.catalog.open(&id).await?;
    let forecast = opened.view.forecast_axes()?;
    let instance =
        if run == "best" { Instance::Best } else { Instance::Run(crate::instances::find_run(&forecast, &run)?) };
    if let Some(r) =
        crate::ensembles::member_dimension_query(&state, &opened, &query, &pairs, &headers, Some(instance)).await?
    {
        return Ok(r);
    }
    let request = data_request(&opened.view, &query, pairs, &headers, Some(instance))?;
    answer(&state, &opened, &request).await
}

/// Plans, reads within the state's budget, and encodes: the end of every query.
pub async fn answer(state: &AppState, opened: &Opened, request: &DataRequest) -> Result<Response, ApiError> {
    let encoder = request.format.encoder();
    let limits = Limits {
        budget: &state.config.budget,
        concurrency: state.config.concurrency,
        answer_bytes_per_value: encoder.bytes_per_value,
    };
    let x = execute(&opened.view, opened.reader.as_ref(), &request.query, &limits).await?;
    deliver(state, &x, encoder).await
}

/// The size of a body as Lambda carries it in a buffered response: binary
/// bodies base64-encoded, text bodies as a JSON string (quotes, backslashes
/// and control characters escaped).
fn carried_size(body: &[u8], encoder: &Encoder) -> u64 {
    let n = body.len() as u64;
    if encoder.binary {
        return n.div_ceil(3) * 4;
    }
    n + body.iter().filter(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r' | b'\t')).count() as u64
}

/// The response: the encoded body itself when it fits the inline limit;
/// otherwise a 303 redirect to a presigned URL of the stored body, or 413
/// when no store is configured. An encoder's failure is the hub's: 500.
pub async fn deliver(state: &AppState, x: &Extraction, encoder: &Encoder) -> Result<Response, ApiError> {
    let body = (encoder.encode)(x)?;
    send(state, body, encoder, &x.collection).await
}

/// Sends an encoded answer (inline, 303 to a stored copy, or 413); binary
/// answers are attachments named after `collection`.
pub async fn send(state: &AppState, body: Vec<u8>, encoder: &Encoder, collection: &str) -> Result<Response, ApiError> {
    let media = [(header::CONTENT_TYPE, encoder.media_type)];
    if let Some(limit) = state.config.inline_limit {
        let size = carried_size(&body, encoder);
        if size > limit {
            let Some(store) = &state.large_answers else {
                return Err(ApiError::AnswerTooLarge { size, limit });
            };
            let bytes = body.len();
            let url = store.publish(body, encoder.media_type, encoder.extension).await?;
            let location = HeaderValue::from_str(&url).map_err(|e| ApiError::internal("the large-answer URL", e))?;
            let note = serde_json::json!({
                "description": "the answer is larger than a response may carry: fetch it from href (the link expires)",
                "href": url,
                "type": encoder.media_type,
                "size": bytes,
            });
            return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)], axum::Json(note)).into_response());
        }
    }
    if encoder.binary {
        let name = format!("attachment; filename=\"{}.{}\"", collection, encoder.extension);
        // Collection ids are header-safe by construction; the fallback is for safety.
        let disposition = HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("attachment"));
        return Ok((media, [(header::CONTENT_DISPOSITION, disposition)], body).into_response());
    }
    Ok((media, body).into_response())
}

/// `/collections/{id}/area`: the cells inside a polygon, or with
/// `statistic` the polygon's area-weighted statistics.
pub async fn area(
    state: State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    pairs: Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    collection_query(state, Path((id, "area".to_string())), headers, pairs).await
}
