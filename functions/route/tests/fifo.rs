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
        max_run: std::time::Duration::from_secs(900),
        dead_letters: None,
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

async fn fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))
        .queue_url
        .unwrap_or_default()
}

/// An upload whose ingest died part way (the function timed out or ran out
/// of memory: its in-flight marker stayed) is, on its next receive, reported,
/// sent to the dead-letter queue and acknowledged; the upload behind it in
/// the same group is ingested in the same batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_an_attempt_died_on_goes_to_the_dead_letter_queue_and_the_group_goes_on() {
    let Some(endpoint) = s3_endpoint() else {
        hub_testkit::missing("S3/SQS test server (HUB_TEST_S3_ENDPOINT); run scripts/test.sh");
        return;
    };
    let uploads = create_bucket(&endpoint).await;
    let repo = StoreUrl::S3 { bucket: create_bucket(&endpoint).await, prefix: "hub".into() };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = fifo_queue(&sqs, &format!("{}.fifo", uploads.replace('.', "-"))).await;
    let dlq_url = fifo_queue(&sqs, &format!("{}-dlq.fifo", uploads.replace('.', "-"))).await;
    let store = hub_store::object_store(&StoreUrl::S3 { bucket: uploads.clone(), prefix: String::new() })
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut records = Vec::new();
    for step in [0u32, 1] {
        let c = hub_gdal::fixtures::Composite { size: (20, 10), step, version: 0, with_crs: true, datetime: None };
        let path = dir.path().join("c.tif");
        hub_gdal::fixtures::write_composite(&path, &c).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&path).unwrap_or_default();
        let key = format!("incoming/north/2024060112{:02}.tif", step * 5);
        let size = bytes.len() as u64;
        let put =
            store.put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes)).await.unwrap_or_else(|e| panic!("{e}"));
        records.push((key, hub_store::unquote(&put.e_tag.unwrap_or_default()), size));
    }
    let route = Handler::new(&repo, DatasetRule::default(), Arc::new(SqsQueue::from_env(queue_url.clone()).await))
        .unwrap_or_else(|e| panic!("{e}"));
    route.handle(s3_event(&uploads, &records)).await.unwrap_or_else(|e| panic!("{e}"));
    let got = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)));
    let messages = got.messages.unwrap_or_default();
    assert_eq!(messages.len(), 2);
    let mut event = SqsEvent::default();
    for m in &messages {
        let mut record = SqsMessage::default();
        record.message_id.clone_from(&m.message_id);
        record.body.clone_from(&m.body);
        record.event_source = Some("aws:sqs".into());
        record.attributes.insert("ApproximateReceiveCount".into(), "2".into());
        event.records.push(record);
    }
    // The first attempt at the first upload started, as the handler starts
    // one, and never finished: the process was gone before it could.
    let root = hub_store::object_store(&repo).unwrap_or_else(|e| panic!("{e}"));
    let max_run = std::time::Duration::from_millis(200);
    let first: route_fn::QueuedUpload =
        serde_json::from_str(messages[0].body.as_deref().unwrap_or("")).unwrap_or_else(|e| panic!("{e}"));
    ingest_fn::inflight::InFlight::new(Arc::clone(&root), max_run)
        .start(messages[0].message_id.as_deref().unwrap_or(""), &first, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(max_run * 2).await;

    let staging = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ingest = ingest_fn::Handler::new(ingest_fn::Config {
        repo: repo.clone(),
        rule: DatasetRule::default(),
        policy: ChunkPolicy::default(),
        staging: staging.path().to_path_buf(),
        decoders: ingest_fn::decoders(),
        limits: hub_core::ports::DecodeLimits::default(),
        max_run,
        dead_letters: Some(dlq_url.clone()),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let response = ingest.handle_queue(event).await;
    assert!(response.batch_item_failures.is_empty(), "both acknowledged: {:?}", response.batch_item_failures);

    // The second upload is in the dataset; the first is reported and dead-lettered.
    let hub =
        hub_zarr::IcechunkHub::new(repo.clone(), hub_zarr::HubSettings::default()).unwrap_or_else(|e| panic!("{e}"));
    let reader = hub
        .open(&DatasetId::new("north").unwrap_or_else(|e| panic!("{e}")), &Version::Latest)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let band = reader.arrays().await.unwrap_or_default().into_iter().find(|a| a.path == "band1");
    assert_eq!(band.map(|b| b.shape[0]), Some(1));
    let failed = hub_store::ObjectStoreReports::new(root).list("_reports/failed").await.unwrap_or_default();
    let died: Vec<_> = failed.iter().filter(|r| r.error.as_ref().is_some_and(|e| e.kind == "ingest_died")).collect();
    assert_eq!(died.len(), 1, "{failed:?}");
    assert_eq!(died[0].source.key, first.upload.key);
    assert!(died[0].error.as_ref().is_some_and(|e| e.message.contains("dead-letter queue")), "{died:?}");
    let dead = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)));
    let dead = dead.messages.unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.as_deref().is_some_and(|b| b.contains(&first.upload.key)), "{dead:?}");
}
