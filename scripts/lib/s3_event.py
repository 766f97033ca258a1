"""An event from one of the samples in events/, for an object just uploaded.

usage: s3_event.py TEMPLATE BUCKET KEY FILE HEADERS OUT [DATASET]

TEMPLATE is an events/s3-put-*.json sample (an S3 notification) or
events/sqs-ingest-batch.json (the ingest queue's batch, whose message names
DATASET, as the route function sends it); BUCKET/KEY name the object (KEY as
stored: an S3 notification carries it URL-encoded, as S3 sends it); FILE is
what was uploaded (its size goes in the event); HEADERS is the PUT's response
headers (curl -D), whose ETag the event carries. Writes the event to OUT.
"""
import json
import os
import sys
import urllib.parse

template, bucket, key, path, headers, out = sys.argv[1:7]
dataset = sys.argv[7] if len(sys.argv) > 7 else None
with open(headers) as f:
    etag = next(l.split(":", 1)[1].strip().strip('"') for l in f if l.lower().startswith("etag:"))
with open(template) as f:
    event = json.load(f)
record = event["Records"][0]
size = os.path.getsize(path)
if record.get("eventSource") == "aws:sqs":
    if not dataset:
        sys.exit("an SQS batch needs the DATASET its message was routed to")
    body = json.loads(record["body"])
    body["dataset"] = dataset
    body["upload"].update({"bucket": bucket, "key": key, "size": size, "etag": etag})
    record["body"] = json.dumps(body)
    record["attributes"]["MessageGroupId"] = dataset
else:
    s3 = record["s3"]
    s3["bucket"]["name"] = bucket
    s3["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    s3["object"].update({"key": urllib.parse.quote_plus(key, safe="/"), "eTag": etag, "size": size})
with open(out, "w") as f:
    json.dump(event, f)
