#!/usr/bin/env bash
# The function binaries under cargo-lambda's Lambda runtime emulator
# (`cargo lambda watch` + `cargo lambda invoke` with the JSON in events/),
# against the S3-compatible test server: an S3 event for an uploaded NetCDF
# file produces a dataset, and so does the ingest queue's SQS batch naming
# another upload (the deployed path); API Gateway events return the catalog
# and CoverageJSON. Run by scripts/test.sh, which starts the server and sets
# AWS_ENDPOINT_URL; needs cargo-lambda on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
: "${AWS_ENDPOINT_URL:?set it to the URL of the S3 test server}"
PY=${HUB_TOOLS_PYTHON:-python3}
WORK=$(mktemp -d)
PORT=$(free_port)
WATCH_PID=""
cleanup() {
  if [ -n "$WATCH_PID" ]; then
    pkill -P "$WATCH_PID" 2>/dev/null || true
    kill "$WATCH_PID" 2>/dev/null || true
    pkill -f "cargo-lambda lambda watch --invoke-port $PORT" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

uploads="smoke-uploads-$PORT"; repo="smoke-repo-$PORT"
curl -sf -X PUT "$AWS_ENDPOINT_URL/$uploads" >/dev/null
curl -sf -X PUT "$AWS_ENDPOINT_URL/$repo" >/dev/null

# A real NetCDF file (the hub's demo sample), uploaded under its dataset's prefix.
(cd "$WORK" && "$OLDPWD/target/debug/hub" demo --days 3 --repo "$WORK/local" >/dev/null)
file="$WORK/local/_samples/demo_daily_3d.nc"
# Uploaded under a key with spaces and parentheses; the event as S3 sends it.
curl -sf -D "$WORK/headers" -o /dev/null -X PUT -H "Content-Type: application/octet-stream" --data-binary @"$file" \
  "$AWS_ENDPOINT_URL/$uploads/incoming/demo-daily/demo%20daily%20%28run%2000%29.nc"
"$PY" scripts/lib/s3_event.py events/s3-put-netcdf.json "$uploads" "incoming/demo-daily/demo daily (run 00).nc" \
  "$file" "$WORK/headers" "$WORK/put.json"

log "cargo lambda watch on 127.0.0.1:$PORT"
HUB_REPO="s3://$repo/hub" RUST_LOG=warn cargo lambda watch --invoke-port "$PORT" --ignore-changes > "$WORK/watch.log" 2>&1 &
WATCH_PID=$!
wait_for_port "$PORT" 60 || { log "cargo lambda watch did not start"; cat "$WORK/watch.log"; exit 1; }

invoke() { cargo lambda invoke "$1" --invoke-port "$PORT" --data-file "$2" 2>&1; }
out=$(invoke ingest "$WORK/put.json") || { echo "$out"; cat "$WORK/watch.log"; exit 1; }
echo "$out" | grep -q '"status":"committed"' || { log "ingest did not commit: $out"; cat "$WORK/watch.log"; exit 1; }
log "ingest: an S3 event became dataset demo-daily"
# The deployed path: the route function's message for an upload, as the ingest queue hands it over.
curl -sf -D "$WORK/headers" -o /dev/null -X PUT -H "Content-Type: application/octet-stream" --data-binary @"$file" \
  "$AWS_ENDPOINT_URL/$uploads/incoming/demo-queued/demo.nc"
"$PY" scripts/lib/s3_event.py events/sqs-ingest-batch.json "$uploads" incoming/demo-queued/demo.nc \
  "$file" "$WORK/headers" "$WORK/batch.json" demo-queued
out=$(invoke ingest "$WORK/batch.json") || { echo "$out"; cat "$WORK/watch.log"; exit 1; }
echo "$out" | grep -q '"batchItemFailures":\[\]' || { log "the batch was not acknowledged: $out"; exit 1; }
out=$(invoke serve events/apigw-v2-collections.json) || { echo "$out"; exit 1; }
for dataset in demo-daily demo-queued; do
  echo "$out" | grep -q "$dataset" || { log "the catalog does not list $dataset: $out"; exit 1; }
done
log "ingest: an SQS batch from the ingest queue became dataset demo-queued"
out=$(invoke serve events/apigw-v2-position.json) || { echo "$out"; exit 1; }
echo "$out" | grep -q '"statusCode":200' && echo "$out" | grep -q 'Coverage' \
  || { log "position did not answer CoverageJSON: ${out:0:400}"; exit 1; }
log "serve: API Gateway events answered with the catalog and CoverageJSON"
