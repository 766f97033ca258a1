"""An S3 event from one of the samples in events/, for an object just uploaded.

usage: s3_event.py TEMPLATE BUCKET KEY FILE HEADERS OUT

TEMPLATE is an events/s3-put-*.json sample; BUCKET/KEY name the object (KEY
as stored: the event carries it URL-encoded, as S3 sends it); FILE is what was
uploaded (its size goes in the event); HEADERS is the PUT's response headers
(curl -D), whose ETag the event carries. Writes the event to OUT.
"""
import json
import os
import sys
import urllib.parse

template, bucket, key, path, headers, out = sys.argv[1:7]
with open(headers) as f:
    etag = next(l.split(":", 1)[1].strip().strip('"') for l in f if l.lower().startswith("etag:"))
with open(template) as f:
    event = json.load(f)
s3 = event["Records"][0]["s3"]
s3["bucket"]["name"] = bucket
s3["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
s3["object"].update({"key": urllib.parse.quote_plus(key, safe="/"), "eTag": etag, "size": os.path.getsize(path)})
with open(out, "w") as f:
    json.dump(event, f)
