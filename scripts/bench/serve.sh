#!/usr/bin/env bash
# Serve benchmark: the hub's API against tensorstore (the fastest peer in the
# bench kit) on the same generated 10-year dataset (daily 0.5° global
# precipitation, 3650 × 360 × 720): a 10-year point series warm in-process
# and over local HTTP, one map, and cold process start to the first answer.
#
# The hub keeps its data in an Icechunk repository, which tensorstore cannot
# open; the peer reads Zarr v3 stores written by xarray from the same NetCDF
# with the same chunk layout and codec as the hub (80 × 72 × 80, zstd 3), and
# with the kit's time-series layout (365 × 64 × 64) for reference.
#
# Usage: scripts/bench/serve.sh [RUNS=20] [COLD_RUNS=10]
# Environment: BENCH_DIR (data and stores, default /tmp/hub-bench), BENCH_KIT
#              (the bench kit, default ../shared/bench).
# Output: a Markdown table on stdout; raw lines appended to $BENCH_DIR/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/setup.sh
RUNS="${1:-20}"; COLD_RUNS="${2:-10}"
BENCH_DIR="${BENCH_DIR:-/tmp/hub-bench}"
KIT="${BENCH_KIT:-../shared/bench}"
TSV="$BENCH_DIR/results.tsv"
POINT="21.03,105.85"
mkdir -p "$BENCH_DIR"
[ -f "$KIT/baseline_python.py" ] || { log "bench kit not found at $KIT (set BENCH_KIT)"; exit 1; }

install_system_deps
PY=$(python_env python3 target/py-bench xarray "zarr>=3" netCDF4 h5netcdf dask numcodecs psutil tensorstore)
NC="$BENCH_DIR/y10/daily/pr_day_SYNTH_2000-2009.nc"
if [ ! -f "$NC" ]; then
  log "generating 10 years of daily data (once)"
  "$PY" "$KIT/make_data.py" "$BENCH_DIR/y10" --years 10 --what daily >&2
fi
log "building the hub, the serve function and the benchmark (release)"
cargo build --release --quiet -p hub -p serve
cargo bench --quiet -p hub-e2e --bench serve --no-run 2>/dev/null
STORE="$BENCH_DIR/serve-store"
if [ ! -d "$STORE/pr" ]; then
  log "ingesting the 10-year file into the hub"
  rm -rf "$STORE"
  target/release/hub ingest "$NC" --repo "$STORE" --dataset pr >&2
fi
for layout in "80,72,80" "365,64,64"; do
  Z="$BENCH_DIR/peer-${layout//,/x}.zarr"
  if [ ! -f "$Z/zarr.json" ]; then
    log "writing the peer's Zarr v3 store, chunks $layout, zstd 3"
    rm -rf "$Z"
    "$PY" "$KIT/baseline_python.py" convert --nc "$NC" --out "$Z" --chunks "$layout" --codec zstd3 --runs 1 >&2
  fi
done

: > "$BENCH_DIR/serve.tsv"
for layout in "80,72,80" "365,64,64"; do
  log "tensorstore, chunks $layout"
  "$PY" "$KIT/baseline_python.py" query --zarr "$BENCH_DIR/peer-${layout//,/x}.zarr" --queries point,field \
    --methods tensorstore --runs 3 --warm "$RUNS" --point "$POINT" 2>/dev/null \
    | sed "s/^query\.\([a-z]*\)\.tensorstore/peer.\1.tensorstore.${layout//,/x}/" >> "$BENCH_DIR/serve.tsv"
done
bench() { cargo bench --quiet -p hub-e2e --bench serve -- "$@" 2>/dev/null; }
log "hub, in-process, with and without the decoded-chunk cache"
bench inproc "$STORE" pr "$POINT" "$RUNS" >> "$BENCH_DIR/serve.tsv"
HUB_CHUNK_CACHE_BYTES=0 bench inproc "$STORE" pr "$POINT" "$RUNS" >> "$BENCH_DIR/serve.tsv"
log "hub serve over local HTTP"
bench http "$STORE" pr "$POINT" "$RUNS" >> "$BENCH_DIR/serve.tsv"
log "cold process start to first answer ($COLD_RUNS runs each)"
bench cold "$STORE" pr "$POINT" "$COLD_RUNS" >> "$BENCH_DIR/serve.tsv"
sed "s/^/$(date -Iseconds)\t/" "$BENCH_DIR/serve.tsv" >> "$TSV"

"$PY" - "$BENCH_DIR/serve.tsv" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) >= 4:
        rows[f[0]] = (float(f[1]), float(f[2]), f[3].removeprefix("runs="))
def ms(name):
    r = rows.get(name)
    return f"{r[0] * 1000:.1f} ({r[1] * 1000:.1f}), n={r[2]}" if r else "–"
def ratio(a, b):
    if a in rows and b in rows:
        return f"{rows[b][0] / rows[a][0]:.1f}×"
    return "–"
ts = "peer.point.tensorstore.80x72x80.warm_repeat"
ts_kit = "peer.point.tensorstore.365x64x64.warm_repeat"
print("| measurement | hub, ms median (min) | tensorstore 80×72×80, ms | hub speed-up | tensorstore 365×64×64, ms |")
print("|---|---:|---:|---:|---:|")
lines = [
    ("point series 10 y, warm, same point (chunk cache)", "serve.point.hub.inproc.warm_repeat", ts),
    ("point series 10 y, warm, a new point each time", "serve.point.hub.inproc.warm_new_point", ts),
    ("point series 10 y, warm, no chunk cache", "serve.point.hub.inproc_nocache.warm_repeat", ts),
    ("point series 10 y, local HTTP, same point", "serve.point.hub.http.warm_repeat", ts),
    ("point series 10 y, local HTTP, new point", "serve.point.hub.http.warm_new_point", ts),
]
for label, hub, peer in lines:
    print(f"| {label} | {ms(hub)} | {ms(peer)} | {ratio(hub, peer)} | {ms(ts_kit)} |")
tf = "peer.field.tensorstore.80x72x80.warm_repeat"
tf_kit = "peer.field.tensorstore.365x64x64.warm_repeat"
for label, hub in [
    ("one map (cube, CoverageJSON), in-process, chunk cache", "serve.field.hub.inproc.covjson"),
    ("one map (cube, NetCDF), in-process, chunk cache", "serve.field.hub.inproc.netcdf"),
    ("one map (cube, CoverageJSON), no chunk cache", "serve.field.hub.inproc_nocache.covjson"),
    ("one map (cube, NetCDF), no chunk cache", "serve.field.hub.inproc_nocache.netcdf"),
    ("one map (cube, CoverageJSON), local HTTP", "serve.field.hub.http.covjson"),
]:
    print(f"| {label} | {ms(hub)} | {ms(tf)} | {ratio(hub, tf)} | {ms(tf_kit)} |")
tc = "peer.point.tensorstore.80x72x80.warmcache.process_total"
for label, hub in [
    ("cold: `hub serve` start → first answer (collection metadata) over HTTP", "serve.collection.hub.http.cold_process_to_first_answer"),
    ("cold: serve Lambda binary start → first answer (collection metadata), runtime API", "serve.collection.lambda.runtime_api.cold_process_to_first_answer"),
    ("cold: `hub serve` start → first 10-year point series over HTTP", "serve.point.hub.http.cold_process_to_first_answer"),
    ("cold: serve Lambda binary start → first 10-year point series, runtime API", "serve.point.lambda.runtime_api.cold_process_to_first_answer"),
]:
    print(f"| {label} | {ms(hub)} | {ms(tc)} (whole Python process) | {ratio(hub, tc)} | {ms('peer.point.tensorstore.365x64x64.warmcache.process_total')} |")
PY
