#!/usr/bin/env bash
# Runs the hub on one machine, on its embedded default: a local folder
# (./hub-data). Writes a sample CF NetCDF file with the hub's own code, ingests
# it, appends a feed of radar composites (GeoTIFF) and model runs (GRIB2),
# shows what landed and where to look, then serves the HTTP API (OGC API -
# EDR) over it on http://127.0.0.1:8080/ until interrupted (HUB_ADDR to change;
# SERVE=0 to stop after the ingest).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh

install_system_deps
log "building the hub (release)"
cargo build --release --quiet -p hub
./target/release/hub demo "$@"
if [ "${SERVE:-1}" = 1 ]; then
  echo
  echo "Serving the API (Ctrl-C to stop). Try:"
  ADDR="${HUB_ADDR:-127.0.0.1:8080}"
  echo "  curl 'http://$ADDR/collections'"
  echo "  curl 'http://$ADDR/collections/demo-daily/position?coords=POINT(24.9%2060.2)&parameter-name=tas'"
  echo "  curl -o cube.nc 'http://$ADDR/collections/demo-daily/cube?bbox=0,40,30,70&f=netcdf'"
  echo "  curl 'http://$ADDR/collections/demo-nwp/instances'"
  echo "  curl 'http://$ADDR/collections/demo-nwp/instances/best/position?coords=POINT(24.9%2060.2)&parameter-name=tmp_height_above_ground'"
  exec ./target/release/hub serve --repo ./hub-data --addr "$ADDR"
fi
