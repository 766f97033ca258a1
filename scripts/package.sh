#!/usr/bin/env bash
# Builds what `sam deploy` ships, without SAM:
# - the route, serve and maintain functions as provided.al2023 zips (cargo-lambda, zig
#   as the cross linker; pure Rust plus aws-lc, no GDAL/netCDF), for x86_64
#   and, with ARCH="x86_64 arm64", for arm64 too: target/lambda/<fn>/bootstrap.zip
#   (x86_64) and target/lambda-arm64/<fn>/bootstrap.zip;
# - the ingest function's container image (functions/ingest/Dockerfile), when
#   Docker is available (GDAL and netCDF-C are not on provided.al2023).
# Prints each artifact's size. `sam build` does the same from template.yaml.
#
# Usage: scripts/package.sh    Environment: ARCH (default x86_64)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
ARCH="${ARCH:-x86_64}"
TOOLS=$(python_env python3 target/py-tools "moto[server]>=5.2,<6" "cfn-lint>=1,<2" "cargo-lambda>=1.9,<2" "ziglang<0.14")
export PATH="$(dirname "$TOOLS"):$PATH"
for arch in $ARCH; do
  flag=""; out=target/lambda
  if [ "$arch" = arm64 ]; then flag="--arm64"; out=target/lambda-arm64; fi
  log "building route, serve and maintain for provided.al2023 ($arch)"
  cargo lambda build --release $flag --bin route --bin serve --bin maintain --output-format zip --lambda-dir "$out"
  for fn in route serve maintain; do
    printf '%s\t%s\t%s bytes zipped\n' "$arch" "$fn" "$(stat -c %s "$out/$fn/bootstrap.zip")"
  done
done
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  log "building the ingest container image"
  docker build -f functions/ingest/Dockerfile -t hub-ingest:latest .
  docker image inspect hub-ingest:latest --format '{{.Size}}' | awk '{printf "x86_64\tingest\t%s bytes (image)\n", $1}'
else
  log "docker is not available: the ingest image is not built (functions/ingest/Dockerfile; sam build builds it)"
fi
