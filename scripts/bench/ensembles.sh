#!/usr/bin/env bash
# Ensembles benchmark, side by side in one run:
#   - the bench kit's 5-model ensemble (2 years of daily 0.5° global values
#     per model) at a point: mean + p10/p50/p90 across the models, the hub
#     (warm, and from a fresh state) against the kit's peers on the same
#     work (`baseline_python.py query --query ensemble`: tensorstore,
#     zarr-python and xarray on Zarr v3 stores of the same files);
#   - a change-signal map with AR6 robustness over 96 generated members
#     (0.5° global, annual, 150 years, three calendars), the hub from the
#     members' period statistics kept at ingest, against xclim on the same
#     files (create_ensemble, robustness_fractions, robustness_categories,
#     ensemble_percentiles), with the hub's peak memory.
#
# Usage: scripts/bench/ensembles.sh [RUNS=9]
# Environment: BENCH_DIR (data and stores, default /tmp/hub-bench), BENCH_KIT
#              (the bench kit, default ../shared/bench).
# Output: a Markdown table on stdout; raw lines appended to $BENCH_DIR/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/setup.sh
RUNS="${1:-9}"
BENCH_DIR="${BENCH_DIR:-/tmp/hub-bench}"
KIT="${BENCH_KIT:-../shared/bench}"
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
TSV="$BENCH_DIR/results.tsv"
[ -f "$KIT/baseline_python.py" ] || { log "bench kit not found at $KIT (set BENCH_KIT)"; exit 1; }

install_system_deps
PY=$(python_env python3 target/py-bench xarray "zarr>=3" netCDF4 h5netcdf dask numcodecs psutil tensorstore cftime "xclim>=0.55")
ENS5="$BENCH_DIR/y2/ensemble"
if [ ! -f "$ENS5/pr_day_MODEL5_2000-2001.nc" ]; then
  log "generating the kit's 5-model ensemble (once)"
  "$PY" "$KIT/make_data.py" "$BENCH_DIR/y2" --what ensemble --models 5 --ens-years 2 >&2
fi
ENS96="$BENCH_DIR/ens96"
log "generating the 96-member ensemble (once; ~15 GB)"
"$PY" scripts/bench/ensemble96.py "$ENS96" >&2

log "building the hub and the benchmark (release)"
cargo build --release --quiet -p hub
cargo bench --quiet -p hub-e2e --bench ensembles --no-run 2>/dev/null
STORE="$BENCH_DIR/ens-store"
if [ ! -f "$STORE/.ingested" ]; then
  rm -rf "$STORE"
  mkdir -p "$STORE"
  cat > "$BENCH_DIR/ens-config.json" <<'JSON'
{"ensembles": {
  "pr5": {"facets": ["model"], "key": "pr_day_(?P<model>MODEL[0-9]+)_"},
  "qtot96": {"facets": ["scenario", "gcm", "impact_model", "variant"],
             "key": "qtot_(?P<scenario>ssp[0-9]+)_(?P<gcm>gcm[0-9]+)_(?P<impact_model>him[0-9]+)_(?P<variant>r[0-9]+)\\.nc$",
             "periods": {"baseline": "1981/2010", "periods": ["2071/2100"]}}
}}
JSON
  target/release/hub config "$BENCH_DIR/ens-config.json" --repo "$STORE" >&2
  log "ingesting the 5 models"
  target/release/hub ingest "$ENS5" --repo "$STORE" >&2
  log "ingesting the 96 members (each keeps its period statistics in the same commit)"
  /usr/bin/time -f "ingest of 96 members: %e s, peak %M kB" target/release/hub ingest "$ENS96" --repo "$STORE" -j 2 > "$BENCH_DIR/ens96-ingest.log" 2>&1
  tail -1 "$BENCH_DIR/ens96-ingest.log" >&2
  touch "$STORE/.ingested"
fi

log "the hub"
BENCH=$(ls -t target/release/deps/ensembles-* | grep -v '\.d$' | head -1)
HUB_LINES=$("$BENCH" "$STORE" pr5 105.85,21.03 qtot96 1981/2010 2071/2100 "$RUNS")
echo "$HUB_LINES" >> "$TSV"

log "the peers at a point (Zarr v3 stores of the same files, the kit's layout)"
ZS=""
for m in 1 2 3 4 5; do
  Z="$BENCH_DIR/y2/ens-zarr/MODEL$m.zarr"
  if [ ! -f "$Z/zarr.json" ]; then
    "$PY" "$KIT/baseline_python.py" convert --nc "$ENS5/pr_day_MODEL${m}_2000-2001.nc" --out "$Z" --runs 1 >&2
  fi
  ZS="${ZS:+$ZS,}$Z"
done
PEER_LINES=$("$PY" "$KIT/baseline_python.py" query --ens-zarr "$ZS" --queries ensemble \
  --methods tensorstore,zarr,xarray_zarr --runs "$RUNS" --tsv /dev/stdout 2>/dev/null | grep -E '^query\.ensemble' || true)
echo "$PEER_LINES" >> "$TSV"

log "xclim on the 96 members (one run)"
XCLIM_LINE=$("$PY" scripts/bench/ensemble96.py xclim "$ENS96" 1981/2010 2071/2100 2>/dev/null | grep ensemble96 || true)
echo "$XCLIM_LINE" >> "$TSV"

echo "| measurement | median s | min s | runs | notes |"
echo "|---|---:|---:|---:|---|"
printf '%s\n%s\n%s\n' "$HUB_LINES" "$PEER_LINES" "$XCLIM_LINE" | awk -F'\t' 'NF >= 4 { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
