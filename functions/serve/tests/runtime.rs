//! The serve binary on the Lambda runtime path: started as Lambda starts it
//! (`AWS_LAMBDA_RUNTIME_API`), fed the API Gateway v2 events in `events/`,
//! answering over a hub on a local folder that holds the demo dataset.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use hub_e2e::TestHub;
use hub_store::StoreUrl;
use hub_testkit::lambda::{FunctionProcess, Outcome, RuntimeApi};
use serde_json::Value;

/// The sample cube request with another query string.
fn cube_with_query(query: &str) -> Vec<u8> {
    let mut e: Value = serde_json::from_slice(&event("apigw-v2-cube.json")).unwrap();
    e["rawQueryString"] = Value::from(query);
    e["queryStringParameters"] = Value::Object(
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), Value::from(v.replace("%2C", ","))))
            .collect(),
    );
    serde_json::to_vec(&e).unwrap()
}

fn event(name: &str) -> Vec<u8> {
    let path = hub_testkit::workspace_root().join("events").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A hub on a local folder holding 20 days of the demo dataset (`demo-daily`).
async fn demo_hub(dir: &std::path::Path) -> std::path::PathBuf {
    let sample = dir.join("demo.nc");
    hub_netcdf::fixtures::write_demo(&sample, 20).unwrap();
    let repo = dir.join("hub");
    std::fs::create_dir_all(&repo).unwrap();
    TestHub::new(StoreUrl::from_path(&repo).unwrap())
        .ingest("demo-daily", &sample, "incoming/demo-daily/demo.nc")
        .await;
    repo
}

/// The serve binary started as Lambda starts it, over `repo`, with `env`.
fn start_serve(api: &RuntimeApi, repo: &std::path::Path, env: &[(&str, &str)]) -> FunctionProcess {
    let repo = repo.to_string_lossy();
    let env: Vec<(&str, &str)> = [("HUB_REPO", repo.as_ref())].into_iter().chain(env.iter().copied()).collect();
    api.run(std::path::Path::new(env!("CARGO_BIN_EXE_serve")), "serve", &env)
}

/// The function's response to an event (panics when the function fails).
async fn respond(api: &RuntimeApi, event: &[u8]) -> Value {
    match api.invoke(event, Duration::from_secs(60)).await.unwrap() {
        Outcome::Response(body) => serde_json::from_slice(&body).unwrap(),
        Outcome::Error(e) => panic!("the function failed: {e}"),
    }
}

#[tokio::test]
async fn api_gateway_events_through_the_runtime_api() {
    let dir = tempfile::tempdir().unwrap();
    let repo = demo_hub(dir.path()).await;
    let api = RuntimeApi::start().await;
    // Small enough that the whole-globe cube of the demo is refused.
    let _child = start_serve(&api, &repo, &[("HUB_MAX_CELLS", "1000000")]);
    let call = |name: &'static str| {
        let api = &api;
        async move {
            let r = respond(api, &event(name)).await;
            let status = r["statusCode"].as_u64().unwrap();
            let text = r["body"].as_str().unwrap_or_default().to_string();
            (status, r["headers"].clone(), text)
        }
    };

    let (status, _, body) = call("apigw-v2-collections.json").await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> = doc["collections"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["demo-daily"]);
    // Links are absolute, built from the API Gateway host and protocol.
    let self_link = doc["links"].as_array().unwrap().iter().find(|l| l["rel"] == "self").unwrap();
    assert!(
        self_link["href"].as_str().unwrap().starts_with("https://abcdef1234.execute-api.us-east-1.amazonaws.com/"),
        "{self_link}"
    );

    let (status, headers, body) = call("apigw-v2-position.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/prs.coverage+json");
    let cov: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cov["domain"]["domainType"], "PointSeries");
    assert_eq!(cov["ranges"]["tas"]["values"].as_array().unwrap().len(), 10, "ten days asked for");

    let (status, _, body) = call("apigw-v2-cube.json").await;
    assert_eq!(status, 200, "{body}");
    let cov: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cov["domain"]["domainType"], "Grid");

    // A binary answer (NetCDF) crosses the Lambda boundary base64-encoded, intact.
    let r = respond(&api, &cube_with_query("bbox=19%2C59%2C32%2C71&parameter-name=tas&f=netcdf")).await;
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["isBase64Encoded"], true, "{r}");
    assert_eq!(r["headers"]["content-type"], "application/x-netcdf");
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, r["body"].as_str().unwrap()).unwrap();
    assert_eq!(&bytes[..4], b"CDF\x02", "a NetCDF-3 64-bit offset file");

    let (status, _, body) = call("apigw-v2-too-large.json").await;
    assert_eq!(status, 413, "{body}");
    let (status, _, body) = call("apigw-v2-bad-coords.json").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("coords"), "{body}");
}

/// Answers over the inline limit are stored on S3 and the client is
/// redirected (303) to a presigned URL that serves the same answer.
#[tokio::test]
async fn large_answers_redirect_to_a_presigned_url_on_s3() {
    let Some(endpoint) = hub_testkit::s3_endpoint() else {
        hub_testkit::missing("S3 test server (HUB_TEST_S3_ENDPOINT); run scripts/test.sh");
        return;
    };
    let bucket = hub_testkit::create_bucket(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = demo_hub(dir.path()).await;
    let api = RuntimeApi::start().await;
    let answers = format!("s3://{bucket}/answers");
    let _child = start_serve(
        &api,
        &repo,
        &[("HUB_INLINE_LIMIT_BYTES", "20000"), ("HUB_ANSWERS", &answers), ("AWS_ENDPOINT_URL", &endpoint)],
    );
    // Small: inline.
    let r = respond(&api, &event("apigw-v2-cube.json")).await;
    assert_eq!(r["statusCode"], 200, "{r}");

    for (f, media) in [("CoverageJSON", "application/prs.coverage+json"), ("netcdf", "application/x-netcdf")] {
        // Large: stored, and redirected to.
        let r = respond(&api, &cube_with_query(&format!("bbox=0%2C40%2C40%2C72&parameter-name=tas&f={f}"))).await;
        assert_eq!(r["statusCode"], 303, "{f}: {r}");
        let location = r["headers"]["location"].as_str().unwrap().to_string();
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let note: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(note["href"], location.as_str());
        let fetched = reqwest::get(&location).await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.headers()["content-type"], media);
        let body = fetched.bytes().await.unwrap();
        assert_eq!(note["size"].as_u64().unwrap(), body.len() as u64);
        if f == "netcdf" {
            assert_eq!(&body[..4], b"CDF\x02");
        } else {
            let cov: Value = serde_json::from_slice(&body).unwrap();
            let shape = cov["ranges"]["tas"]["shape"].as_array().unwrap();
            assert_eq!(shape[0], 20, "every day of the demo");
        }
    }
}

/// An ensemble's change signal through the Lambda runtime path: the shared
/// PCIC members uploaded under the ensemble's key pattern, the change at a
/// point with its robustness, as API Gateway delivers the request.
#[tokio::test]
async fn an_ensemble_change_signal_through_the_runtime_api() {
    let Some(data) = hub_testkit::shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("hub");
    std::fs::create_dir_all(&repo).unwrap();
    let config = r#"{"ensembles": {"tg-mean": {"facets": ["model"],
        "key": "^ens/BCCAQv2\\+ANUSPLIN300_(?P<model>[A-Za-z0-9-]+)_",
        "periods": {"baseline": "1981/2010", "periods": ["2071/2100"]}}}}"#;
    let url = StoreUrl::from_path(&repo).unwrap();
    let root = hub_store::object_store(&url).unwrap();
    hub_store::store_dataset_config(&root, config).await.unwrap();
    let parsed = hub_core::ingest::DatasetConfig::parse(config).unwrap();
    let hub = TestHub::new(url);
    let files = hub_testkit::shared_files("netcdf/ensemble_tg_mean_YS");
    assert_eq!(files.len(), 3, "{}", data.display());
    for f in files {
        let key = format!("ens/{}", f.file_name().unwrap().to_string_lossy());
        hub.ingest_configured(&parsed, &f, &key).await;
    }
    let api = RuntimeApi::start().await;
    let _child = start_serve(&api, &repo, &[]);
    let r = respond(&api, &event("apigw-v2-ensemble-change.json")).await;
    let body = r["body"].as_str().unwrap_or_default();
    assert_eq!(r["statusCode"], 200, "{body}");
    assert_eq!(r["headers"]["x-hub-period-statistics"], "stored 3 of 3", "{r}");
    let doc: Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["ranges"]["tg_mean.count"]["values"], serde_json::json!([3.0]), "{body}");
    let median = doc["ranges"]["tg_mean.change.median"]["values"][0].as_f64().unwrap();
    assert!(median > 1.0 && median < 6.0, "a warming of a few kelvin by 2071-2100 under RCP4.5: {median}");
    assert!(doc["parameters"]["tg_mean.robustness"]["categoryEncoding"]["robust"] == 1, "{body}");
}
