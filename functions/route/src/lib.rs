//! The route Lambda function: S3 `ObjectCreated` events in, one message per
//! upload on the ingest queue out.
//!
//! Commits to one dataset must not race (on S3 a loser redoes its whole
//! ingest; many racing writers cost quadratically many attempts), while
//! different datasets should ingest in parallel. An SQS FIFO queue does
//! exactly that when each message's group is its dataset: SQS hands out one
//! group's messages in order, one batch at a time, and different groups at
//! once. S3 cannot name a message group, so this small function resolves each
//! upload's dataset (the hub's datasets' configuration, then the key rule)
//! and enqueues it with `MessageGroupId = dataset` and
//! `MessageDeduplicationId = sha256(key, ETag)` (an event S3 delivers twice
//! within five minutes is dropped by SQS itself). It links no decoder: it is
//! fast to start and cheap to run.
//!
//! Environment: `HUB_REPO` (the hub root, where the configuration and the
//! reports live), `HUB_INGEST_QUEUE_URL` (the FIFO queue), optionally
//! `HUB_DATASET` / `HUB_DATASET_PATTERN` (the naming when no rule matches).

pub mod handler;
pub use hub_store::queue;

pub use handler::{Config, Handler, Routed};
pub use queue::{IngestQueue, QueueError, QueuedUpload, SqsQueue};
