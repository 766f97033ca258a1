#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs the system packages and
# the Python packages the interop tests need, starts an S3-compatible server
# (moto) on 127.0.0.1, then checks formatting and lints and runs the whole
# test suite against memory, a local folder and that server.
#
# Environment: HUB_TEST_DATA (default ../shared/data, the real files written by
# other software; tests skip them with a message when absent, unless
# HUB_TEST_STRICT=1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh

install_system_deps
mkdir -p target

PY312=$(find_python312) || { log "Python >= 3.12 not found (needed by Python icechunk 2.x for the interop tests)"; exit 1; }
INTEROP_PY=$(python_env "$PY312" target/py-interop "icechunk>=2.3,<3" "xarray>=2025" "zarr>=3.1" netCDF4 numpy "schemathesis>=4,<5" "covjson-pydantic>=0.6" "edr-pydantic>=0.7" "exactextract>=0.3" "shapely>=2.0" "pyshp>=2.3" "pyproj>=3.6" "xclim>=0.55")
TOOLS_PY=$(python_env python3 target/py-tools "moto[server]>=5.2,<6" "cfn-lint>=1,<2" "cargo-lambda>=1.9,<2")
export PATH="$(dirname "$TOOLS_PY"):$PATH" HUB_TOOLS_PYTHON="$TOOLS_PY"

PORT=$(free_port)
log "starting the S3 test server (moto) on 127.0.0.1:$PORT"
"$(dirname "$TOOLS_PY")/moto_server" -H 127.0.0.1 -p "$PORT" > target/moto.log 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
wait_for_port "$PORT" 10 || { log "moto did not start"; cat target/moto.log; exit 1; }

export HUB_TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export HUB_INTEROP_PYTHON="$INTEROP_PY"
if [ -z "${HUB_TEST_DATA:-}" ] && [ -d ../shared/data ]; then
  HUB_TEST_DATA="$(cd ../shared/data && pwd)"
fi
export HUB_TEST_DATA="${HUB_TEST_DATA:-}"
export HUB_TEST_STRICT="${HUB_TEST_STRICT:-1}"
[ -n "$HUB_TEST_DATA" ] || export HUB_TEST_STRICT=0

# A one-off build keeps no incremental state: it would only add gigabytes to target/.
export CARGO_INCREMENTAL=0

log "cfn-lint template.yaml, and the template against the workspace"
cfn-lint template.yaml
"$TOOLS_PY" scripts/check-template.py
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "the serve, route and maintain functions link neither netCDF-C, HDF5 nor GDAL"
for fn in serve route maintain; do
  linked=$(cargo tree -p "$fn" -e normal,build --prefix none | grep -iE '^(netcdf |netcdf-sys|hdf5|gdal)' | sort -u || true)
  if [ -n "$linked" ]; then log "the $fn function links: $linked"; exit 1; fi
done
log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
log "cargo test"
cargo test --workspace --no-fail-fast
log "the function binaries under cargo-lambda's runtime emulator"
scripts/lambda-smoke.sh
log "the ingest image's runtime stage (Dockerfile) rebuilt with debootstrap, the binary run in it"
scripts/check-image.sh target/debug/ingest
log "all tests passed"
