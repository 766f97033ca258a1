#!/usr/bin/env bash
# Runs the hub on one machine, on its embedded default: a local folder
# (./hub-data). Writes a sample CF NetCDF file with the hub's own code, ingests
# it, and shows what landed and where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh

install_system_deps
log "building the hub (release)"
cargo build --release --quiet -p hub
./target/release/hub demo "$@"
