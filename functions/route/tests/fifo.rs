//! The route function and the ingest function through a real SQS FIFO queue
//! (the S3-compatible test server also serves SQS): uploads land in their
//! dataset's message group, a repeated event is dropped by the queue's
//! deduplication, and the ingest function takes the batch from the queue and
//! builds the datasets.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use hub_core::ingest::{ChunkPolicy, DatasetRule};
use hub_core::model::DatasetId;
use hub_core::ports::{Repository, Version};
use hub_store::StoreUrl;
use hub_testkit::{create_bucket, s3_endpoint};
use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use route_fn::{Handler, SqsQueue};

fn s3_event(bucket: &str, records: &[(String, String, u64)]) -> S3Event {
    let text = std::fs::read_to_string(hub_testkit::workspace_root().join("events/s3-put-geotiff.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let template = json["Records"][0].clone();
    json["Records"] = records
        .iter()
        .map(|(key, etag, size)| {
            let mut r = template.clone();
            r["s3"]["bucket"]["name"] = bucket.into();
            r["s3"]["object"]["key"] = key.as_str().into();
            r["s3"]["object"]["eTag"] = etag.as_str().into();
            r["s3"]["object"]["size"] = (*size).into();
            r
        })
        .collect();
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_to_their_dataset_group_and_get_ingested() {
    let Some(endpoint) = s3_endpoint() else {
        hub_testkit::missing("S3/SQS test server (HUB_TEST_S3_ENDPOINT); run scripts/test.sh");
        return;
    };
    let uploads = create_bucket(&endpoint).await;
    let repo = StoreUrl::S3 { bucket: create_bucket(&endpoint).await, prefix: "hub".into() };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("{}.fifo", uploads.replace('.', "-"));
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
        .queue_url
        .unwrap_or_default();

    // Three composites for two datasets, written to the upload bucket.
    let store = hub_store::object_store(&StoreUrl::S3 { bucket: uploads.clone(), prefix: String::new() })
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut records = Vec::new();
    for (dataset, step) in [("north", 1u32), ("south", 0), ("north", 0)] {
        let c = hub_gdal::fixtures::Composite { size: (20, 10), step, version: 0, with_crs: true, datetime: None };
        let path = dir.path().join("c.tif");
        hub_gdal::fixtures::write_composite(&path, &c).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_default();
        let key = format!("incoming/{dataset}/2024060112{:02}.tif", step * 5);
        let size = bytes.len() as u64;
        let put =
            store.put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes)).await.unwrap_or_else(|e| panic!("{e}"));
        records.push((key, hub_store::unquote(&put.e_tag.unwrap_or_default()), size));
    }

    let route = Handler::new(&repo, DatasetRule::default(), Arc::new(SqsQueue::from_env(queue_url.clone()).await))
        .unwrap_or_else(|e| panic!("{e}"));
    let routed = route.handle(s3_event(&uploads, &records)).await.unwrap_or_else(|e| panic!("{e}"));
    let datasets: Vec<Option<&str>> = routed.iter().map(|r| r.dataset.as_deref()).collect();
    assert_eq!(datasets, vec![Some("north"), Some("south"), Some("north")]);
    // S3 delivers the first event again: the queue drops it.
    route.handle(s3_event(&uploads, &records[..1])).await.unwrap_or_else(|e| panic!("{e}"));

    // Everything the queue holds, with its group.
    let mut messages = Vec::new();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)));
        let batch = got.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        messages.extend(batch);
    }
    assert_eq!(messages.len(), 3, "one message per upload, the repeat dropped");
    let groups: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.attributes.as_ref()?.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId).cloned()
        })
        .collect();
    assert_eq!(groups.iter().filter(|g| *g == "north").count(), 2);
    assert_eq!(groups.iter().filter(|g| *g == "south").count(), 1);

    // The ingest function takes the batch as SQS hands it over.
    let staging = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ingest = ingest_fn::Handler::new(ingest_fn::Config {
        repo: repo.clone(),
        rule: DatasetRule::default(),
        policy: ChunkPolicy::default(),
        staging: staging.path().to_path_buf(),
        // Decoding is not what this test is about: in this process.
        decoders: ingest_fn::decoders(),
        limits: hub_core::ports::DecodeLimits::default(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut event = SqsEvent::default();
    for m in &messages {
        let mut record = SqsMessage::default();
        record.message_id.clone_from(&m.message_id);
        record.body.clone_from(&m.body);
        record.event_source = Some("aws:sqs".into());
        event.records.push(record);
    }
    let response = ingest.handle_queue(event).await;
    assert!(response.batch_item_failures.is_empty());
    let hub =
        hub_zarr::IcechunkHub::new(repo.clone(), hub_zarr::HubSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    for (dataset, steps) in [("north", 2u64), ("south", 1)] {
        let reader = hub
            .open(&DatasetId::new(dataset).unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
            .await
            .unwrap_or_else(|e| panic!("{dataset}: {e}"));
        let arrays = reader.arrays().await.unwrap_or_default();
        let band = arrays.iter().find(|a| a.path == "band1").unwrap_or_else(|| panic!("{dataset}: band1"));
        assert_eq!(band.shape[0], steps, "{dataset}");
    }
}
