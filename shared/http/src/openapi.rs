//! The OpenAPI 3.0 document of what the router serves. Built from the same
//! query table as the handlers, so the two cannot drift apart silently; a
//! test walks every path in it against the router. The collection ids the
//! hub holds are listed in the `collectionId` schema, and the geometry
//! parameters carry patterns and examples taken from a collection's extent,
//! so a client generated from the document (or a fuzzer) makes requests
//! that reach real data.

use serde_json::{Map, Value, json};

use crate::encode::QUERIES;

fn param(name: &str, description: &str, required: bool) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}})
}

fn error_responses() -> Value {
    let err = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}});
    let e = |d: &str| {
        let mut v = err.clone();
        v["description"] = json!(d);
        v
    };
    json!({
        "400": e("a parameter is malformed or does not fit the collection"),
        "404": e("unknown collection or parameter"),
        "413": e("the request would read more than the budget: narrow it"),
        "503": e("storage unavailable, try again"),
    })
}

fn ok(types: &[&str]) -> Value {
    let content: Map<String, Value> = types.iter().map(|t| ((*t).to_string(), json!({"schema": {}}))).collect();
    json!({"description": "OK", "content": content})
}

/// What the document says about the hub's current content.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// The collection ids (the `collectionId` enum; free text when empty).
    pub ids: Vec<String>,
    /// A collection's lon/lat extent `[w, s, e, n]`, for examples.
    pub extent: Option<[f64; 4]>,
    /// That collection's typical cell size in km (the radius example spans a few cells).
    pub cell_km: Option<f64>,
    /// The collections with forecast runs (their instance paths are listed; none when empty).
    pub forecast_ids: Vec<String>,
    /// Whether the deployment keeps region sets (the region paths are listed).
    pub regions: bool,
}

/// A number pattern: optional sign, digits, optional fraction.
const NUM: &str = r"-?[0-9]{1,3}(\.[0-9]{1,6})?";

fn geometry_param(name: &str, description: &str, pattern: Option<String>, example: String) -> Value {
    let mut schema = json!({"type": "string"});
    if let Some(p) = pattern {
        schema["pattern"] = json!(p);
    }
    json!({"name": name, "in": "query", "required": true, "description": description, "schema": schema, "example": example})
}

/// The document; `base` is the server URL.
pub fn document(base: &str, holdings: &Holdings) -> Value {
    let f_meta =
        json!({"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "html"]}});
    let mut id_schema = json!({"type": "string"});
    if !holdings.ids.is_empty() {
        id_schema["enum"] = json!(holdings.ids);
    }
    let id = json!({"name": "collectionId", "in": "path", "required": true, "schema": id_schema});
    let forecast_id = json!({"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": holdings.forecast_ids}});
    let instance_id = json!({"name": "instanceId", "in": "path", "required": true, "description": "a run's reference time (e.g. 2024-01-01T06:00:00Z), latest, or best (the best estimate; position only)", "schema": {"type": "string"}, "example": "latest"});
    // Examples inside the first collection's extent (a quarter of it around the centre).
    let [w, s, e, n] = holdings.extent.unwrap_or([-10.0, 40.0, 10.0, 60.0]);
    let (cx, cy) = ((w + e) / 2.0, (s + n) / 2.0);
    let (dx, dy) = (((e - w) / 8.0).max(0.01), ((n - s) / 8.0).max(0.01));
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    let (x0, x1, y0, y1, cx, cy) = (r(cx - dx), r(cx + dx), r(cy - dy), r(cy + dy), r(cx), r(cy));
    let within = format!("{:.0}", (3.0 * holdings.cell_km.unwrap_or(30.0)).ceil().max(1.0));
    let point = format!(r"POINT\({NUM} {NUM}\)");
    let points = format!(r"^({point}|MULTIPOINT\(\({NUM} {NUM}\)(,\({NUM} {NUM}\)){{0,3}}\))$");
    let mut paths = Map::new();
    let meta = |summary: &str, op: &str, with_f: bool| {
        let mut params = vec![];
        if with_f {
            params.push(f_meta.clone());
        }
        let mut responses = json!({"200": ok(&["application/json", "text/html"])});
        if with_f {
            responses["400"] = error_responses()["400"].clone();
        }
        json!({"get": {"summary": summary, "operationId": op, "parameters": params, "responses": responses}})
    };
    paths.insert("/".into(), meta("Landing page", "getLandingPage", true));
    paths.insert("/conformance".into(), meta("Conformance classes", "getConformance", true));
    paths.insert(
        "/api".into(),
        json!({"get": {"summary": "This document", "operationId": "getApi", "responses": {"200": ok(&["application/vnd.oai.openapi+json;version=3.0"])}}}),
    );
    let mut collections = meta("The collections", "getCollections", true);
    collections["get"]["responses"]["503"] = error_responses()["503"].clone();
    paths.insert("/collections".into(), collections);
    let mut one = meta("A collection", "getCollection", true);
    if let Some(p) = one["get"]["parameters"].as_array_mut() {
        p.insert(0, id.clone())
    }
    one["get"]["responses"]["404"] = error_responses()["404"].clone();
    paths.insert("/collections/{collectionId}".into(), one);
    for (q, formats) in QUERIES {
        if *q == "locations" {
            continue; // the region paths below
        }
        let mut params = vec![id.clone()];
        match *q {
            "position" => {
                params.push(geometry_param(
                    "coords",
                    "POINT(lon lat) or MULTIPOINT((lon lat),…), CRS84",
                    Some(points.clone()),
                    format!("POINT({cx} {cy})"),
                ));
                params.push(json!({"name": "method", "in": "query", "required": false, "schema": {"type": "string", "enum": ["nearest", "linear"]}}));
            }
            "radius" => {
                params.push(geometry_param(
                    "coords",
                    "POINT(lon lat), CRS84",
                    Some(format!("^{point}$")),
                    format!("POINT({cx} {cy})"),
                ));
                params.push(json!({"name": "within", "in": "query", "required": true, "description": "radius (positive number)", "schema": {"type": "string", "pattern": "^[0-9]{1,4}(\\.[0-9]{1,3})?$"}, "example": within}));
                params.push(json!({"name": "within-units", "in": "query", "required": false, "schema": {"type": "string", "enum": ["km", "m", "mi", "nmi"]}}));
            }
            "area" => {
                params.push(geometry_param(
                    "coords",
                    "POLYGON((lon lat,…)) or MULTIPOLYGON, CRS84",
                    None,
                    format!("POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"),
                ));
                params.push(statistic_param());
            }
            "trajectory" => params.push(geometry_param(
                "coords",
                "LINESTRING(lon lat,…), or LINESTRINGM(lon lat t,…) with t in seconds since 1970-01-01 in the collection's calendar, CRS84",
                None,
                format!("LINESTRING({x0} {y0},{cx} {cy},{x1} {y1})"),
            )),
            _ => params.push(geometry_param(
                "bbox",
                "minlon,minlat,maxlon,maxlat",
                Some(format!("^{NUM},{NUM},{NUM},{NUM}$")),
                format!("{x0},{y0},{x1},{y1}"),
            )),
        }
        params.push(param(
            "parameter-name",
            "comma-separated parameter names (default: all of the first parameter's shape)",
            false,
        ));
        params.push(param(
            "datetime",
            "instant, list, or interval start/end with .. for an open end, in the collection's calendar",
            false,
        ));
        params.push(param("z", "level, list, or interval lo/hi", false));
        params.push(
            json!({"name": "crs", "in": "query", "required": false, "schema": {"type": "string", "enum": ["CRS84"]}}),
        );
        params.extend(ensemble_params(*q != "area"));
        let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
        params
            .push(json!({"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": names}}));
        let types: Vec<&str> = formats.iter().map(|f| f.media_type()).collect();
        let mut responses = error_responses();
        responses["200"] = ok(&types);
        if !holdings.forecast_ids.is_empty() {
            // The same query on one forecast run.
            let mut run_params = params.clone();
            run_params[0] = forecast_id.clone();
            run_params.insert(1, instance_id.clone());
            paths.insert(
                format!("/collections/{{collectionId}}/instances/{{instanceId}}/{q}"),
                json!({"get": {"summary": format!("{q} query on one forecast run"), "operationId": format!("getInstance{}", capitalise(q)), "parameters": run_params, "responses": responses.clone()}}),
            );
        }
        paths.insert(
            format!("/collections/{{collectionId}}/{q}"),
            json!({"get": {"summary": format!("{q} query"), "operationId": format!("get{}", capitalise(q)), "parameters": params, "responses": responses}}),
        );
    }
    if holdings.regions {
        let forecast = (!holdings.forecast_ids.is_empty()).then(|| (forecast_id.clone(), instance_id.clone()));
        region_paths(&mut paths, &id, forecast);
    }
    if !holdings.forecast_ids.is_empty() {
        let responses = json!({"200": ok(&["application/json"]), "404": error_responses()["404"].clone()});
        paths.insert(
            "/collections/{collectionId}/instances".into(),
            json!({"get": {"summary": "The forecast runs of a collection, newest first", "operationId": "getInstances", "parameters": [forecast_id], "responses": responses.clone()}}),
        );
        paths.insert(
            "/collections/{collectionId}/instances/{instanceId}".into(),
            json!({"get": {"summary": "One forecast run", "operationId": "getInstance", "parameters": [forecast_id, instance_id], "responses": responses}}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Forecast data hub (OGC API - EDR 1.1)", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"schemas": {"Exception": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"type": "string"}, "description": {"type": "string"}, "parameter": {"type": "string"}},
        }}},
    })
}

/// What an ensemble collection (or a dataset with a member dimension) takes
/// besides a query's own parameters; facet filters (`scenario=rcp45,rcp85`)
/// are named after each ensemble's facets (its collection lists them).
fn ensemble_params(with_statistic: bool) -> Vec<Value> {
    let years = "^[0-9]{4}/[0-9]{4}$";
    let mut out = Vec::new();
    if with_statistic {
        out.push(json!({"name": "statistic", "in": "query", "required": false,
            "description": "ensembles: statistics across members, comma-separated: mean, std, min, max, median, p1..p99 (p10, p25, p75, p90), count; named {parameter}.{statistic} in the answer",
            "schema": {"type": "string", "pattern": "^(mean|std|min|max|median|count|p[1-9][0-9]?)(,(mean|std|min|max|median|count|p[1-9][0-9]?)){0,15}$"}}));
    }
    out.extend([
        json!({"name": "members", "in": "query", "required": false, "description": "ensembles: the members to use (dataset ids, comma-separated; default all)", "schema": {"type": "string"}}),
        json!({"name": "plume", "in": "query", "required": false, "description": "ensembles: also each member's values ({parameter}.member.{id})", "schema": {"type": "string", "enum": ["true", "false"]}}),
        json!({"name": "baseline", "in": "query", "required": false, "description": "ensembles: a change signal's reference years, inclusive (1981/2010); with period", "schema": {"type": "string", "pattern": years}}),
        json!({"name": "period", "in": "query", "required": false, "description": "ensembles: a change signal's years (2071/2100): {parameter}.change.{statistic}, .change_relative.{statistic}, .changed, .positive, .negative, .agree, .count and .robustness (IPCC AR6 approach C)", "schema": {"type": "string", "pattern": years}}),
        json!({"name": "season", "in": "query", "required": false, "description": "ensembles: the season of a change signal of sub-annual data", "schema": {"type": "string", "enum": ["DJF", "MAM", "JJA", "SON"]}}),
        json!({"name": "month", "in": "query", "required": false, "description": "ensembles: the month of a change signal of sub-annual data", "schema": {"type": "string", "pattern": "^([1-9]|1[0-2])$"}}),
    ]);
    out
}

fn statistic_param() -> Value {
    let names: Vec<&str> = hub_core::analytics::STATISTICS.iter().map(|(n, _)| *n).collect();
    json!({"name": "statistic", "in": "query", "required": false,
           "description": format!("area-weighted statistics over the region, comma-separated: {} (with it, the answer is a series per statistic)", names.join(", ")),
           "schema": {"type": "string"}, "example": "mean"})
}

/// The region sets, EDR locations (region statistics, also per forecast run
/// when `forecast` gives the forecast collections' and instances' parameters),
/// their weights, and `POST` of a polygon to `area`.
fn region_paths(paths: &mut Map<String, Value>, id: &Value, forecast: Option<(Value, Value)>) {
    let path_param = |name: &str, description: &str| json!({"name": name, "in": "query", "required": true, "description": description, "schema": {"type": "string"}});
    let mut set_id = path_param("setId", "a region set (see /regions)");
    set_id["in"] = json!("path");
    let mut region_id = path_param("regionId", "a region of the set");
    region_id["in"] = json!("path");
    let mut location_id =
        path_param("locationId", "set:region, e.g. countries:France (see the collection's locations)");
    location_id["in"] = json!("path");
    let simplify = json!({"name": "simplify", "in": "query", "required": false, "description": "Douglas-Peucker tolerance in degrees, for drawing", "schema": {"type": "string", "pattern": "^[0-9](\\.[0-9]{1,4})?$"}});
    let not_found = json!({"200": ok(&["application/geo+json"]), "400": error_responses()["400"].clone(), "404": error_responses()["404"].clone()});
    paths.insert("/regions".into(), json!({"get": {"summary": "The region sets", "operationId": "getRegionSets", "responses": {"200": ok(&["application/json"]), "404": error_responses()["404"].clone()}}}));
    paths.insert("/regions/{setId}".into(), json!({"get": {"summary": "A region set: id, name, area in km², bbox per region", "operationId": "getRegionSet", "parameters": [set_id.clone(), simplify.clone()], "responses": not_found.clone()}}));
    paths.insert("/regions/{setId}/{regionId}".into(), json!({"get": {"summary": "One region", "operationId": "getRegion", "parameters": [set_id, region_id, simplify.clone()], "responses": not_found.clone()}}));
    paths.insert("/collections/{collectionId}/locations".into(), json!({"get": {"summary": "The regions of the sets attached to the collection", "operationId": "getLocations", "parameters": [id.clone(), simplify], "responses": not_found}}));
    let formats: Vec<&str> = crate::encode::formats_of("locations").iter().map(|f| f.name()).collect();
    let types: Vec<&str> = crate::encode::formats_of("locations").iter().map(|f| f.media_type()).collect();
    let mut responses = error_responses();
    responses["200"] = ok(&types);
    let series_params = vec![
        statistic_param(),
        param("parameter-name", "comma-separated parameter names", false),
        param("datetime", "instant, list, or interval start/end in the collection's calendar", false),
        param("z", "level, list, or interval lo/hi", false),
        json!({"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": formats}}),
    ];
    let location_params: Vec<Value> =
        [id.clone(), location_id.clone()].into_iter().chain(series_params.clone()).collect();
    paths.insert(
        "/collections/{collectionId}/locations/{locationId}".into(),
        json!({"get": {
        "summary": "Area-weighted statistics of a region over time (exact cell fractions on the sphere)",
        "operationId": "getLocation",
        "parameters": location_params,
        "responses": responses.clone()}}),
    );
    if let Some((forecast_id, instance_id)) = forecast {
        let params: Vec<Value> =
            [forecast_id.clone(), instance_id.clone(), location_id.clone()].into_iter().chain(series_params).collect();
        let run = json!({"get": {
            "summary": "Area-weighted statistics of a region over the lead times of one forecast run (datetime: valid times)",
            "operationId": "getInstanceLocation", "parameters": params, "responses": responses.clone()}});
        paths.insert("/collections/{collectionId}/instances/{instanceId}/locations/{locationId}".into(), run);
        let list = json!({"get": {"summary": "The regions of the sets attached to the collection (as for the collection)",
            "operationId": "getInstanceLocations", "parameters": [forecast_id, instance_id], "responses": {"200": ok(&["application/geo+json"]), "404": error_responses()["404"].clone()}}});
        paths.insert("/collections/{collectionId}/instances/{instanceId}/locations".into(), list);
    }
    paths.insert("/collections/{collectionId}/locations/{locationId}/weights".into(), json!({"get": {
        "summary": "Every cell of a region: index, centre, fraction inside, area inside (m²)",
        "operationId": "getLocationWeights",
        "parameters": [id.clone(), location_id, param("parameter-name", "the parameter whose grid is weighed", false),
            json!({"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "csv"]}})],
        "responses": {"200": ok(&["application/json", "text/csv"]), "400": error_responses()["400"].clone(), "404": error_responses()["404"].clone()}}}));
    if let Some(area) = paths.get_mut("/collections/{collectionId}/area") {
        let mut post = area["get"].clone();
        post["operationId"] = json!("postArea");
        post["summary"] = json!("area query with the polygon as a GeoJSON geometry or Feature in the body");
        if let Some(params) = post["parameters"].as_array_mut() {
            params.retain(|p| p["name"] != "coords");
        }
        post["requestBody"] = json!({"required": true, "content": {"application/geo+json": {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}}});
        area["post"] = post;
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
