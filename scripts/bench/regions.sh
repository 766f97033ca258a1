#!/usr/bin/env bash
# Regions benchmark, side by side in one run on the bench kit's 10-year daily
# 0.5° global file (3650 × 360 × 720):
#   - the weights of all 177 Natural Earth countries: the hub (exact spherical
#     areas of the clipped cells) against exactextract (planar coverage
#     fractions of the same cells) on the same grid;
#   - the 10-year area-weighted mean of the Mississippi basin asked ad hoc:
#     the hub (the whole HydroBASINS polygon posted, and the simplified one)
#     against the kit's polygon query (`baseline_python.py query --query
#     polygon`, tensorstore: the fastest peer) given the simplified polygon
#     as WKT (the whole one does not fit a command line);
#   - the same basin registered and kept as a region series: the backfill once,
#     then the stored series over local HTTP.
#
# Usage: scripts/bench/regions.sh [RUNS=9]
# Environment: BENCH_DIR (data and stores, default /tmp/hub-bench), BENCH_KIT
#              (the bench kit, default ../shared/bench), HUB_TEST_DATA (the
#              shared data with polygons/, default ../shared/data).
# Output: a Markdown table on stdout; raw lines appended to $BENCH_DIR/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/setup.sh
RUNS="${1:-9}"
BENCH_DIR="${BENCH_DIR:-/tmp/hub-bench}"
KIT="${BENCH_KIT:-../shared/bench}"
DATA="${HUB_TEST_DATA:-../shared/data}"
mkdir -p "$BENCH_DIR"
# Absolute: the benchmark binary runs from its crate's folder.
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
DATA="$(cd "$DATA" && pwd)"
TSV="$BENCH_DIR/results.tsv"
COUNTRIES="$DATA/polygons/ne_110m_admin0_countries.geojson"
BASIN="$DATA/polygons/hydrobasins_mississippi.geojson"
[ -f "$KIT/baseline_python.py" ] || { log "bench kit not found at $KIT (set BENCH_KIT)"; exit 1; }

install_system_deps
PY=$(python_env python3 target/py-bench xarray "zarr>=3" netCDF4 h5netcdf dask numcodecs psutil tensorstore "exactextract>=0.3" "shapely>=2.0")
NC="$BENCH_DIR/y10/daily/pr_day_SYNTH_2000-2009.nc"
if [ ! -f "$NC" ]; then
  log "generating 10 years of daily data (once)"
  "$PY" "$KIT/make_data.py" "$BENCH_DIR/y10" --years 10 --what daily >&2
fi
log "building the hub and the benchmark (release)"
cargo build --release --quiet -p hub
cargo bench --quiet -p hub-e2e --bench regions --no-run 2>/dev/null
STORE="$BENCH_DIR/regions-store"
if [ ! -d "$STORE/pr" ]; then
  log "ingesting the 10-year file into the hub"
  rm -rf "$STORE"
  target/release/hub ingest "$NC" --repo "$STORE" --dataset pr >&2
fi
Z="$BENCH_DIR/peer-80x72x80.zarr"
if [ ! -f "$Z/zarr.json" ]; then
  log "writing the peer's Zarr v3 store (the hub's chunks 80 × 72 × 80, zstd 3)"
  rm -rf "$Z"
  "$PY" "$KIT/baseline_python.py" convert --nc "$NC" --out "$Z" --chunks 80,72,80 --codec zstd3 --runs 1 >&2
fi
WKT="$BENCH_DIR/mississippi_simplified.wkt"
"$PY" - "$BASIN" "$WKT" <<'PY'
import json, sys, shapely, shapely.geometry
doc = json.load(open(sys.argv[1]))
g = shapely.geometry.shape(doc["geometry"] if doc.get("type") == "Feature" else doc["features"][0]["geometry"])
s = g.simplify(0.02, preserve_topology=True)
open(sys.argv[2], "w").write(s.wkt)
print(f"Mississippi: {shapely.get_num_coordinates(g)} vertices, simplified {shapely.get_num_coordinates(s)}, "
      f"area change {abs(s.area - g.area) / g.area:.1e}", file=sys.stderr)
PY

: > "$BENCH_DIR/regions.tsv"
log "exactextract: coverage of the 177 countries on the 0.5° grid"
"$PY" - "$COUNTRIES" "$RUNS" >> "$BENCH_DIR/regions.tsv" <<'PY'
import json, statistics, sys, time
import numpy as np
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
doc = json.load(open(sys.argv[1]))
runs = int(sys.argv[2])
raster = NumPyRasterSource(np.arange(360 * 720, dtype=float).reshape(360, 720), -180, -90, 180, 90)
secs = []
for _ in range(runs):
    t = time.perf_counter()
    out = exact_extract(raster, doc["features"], ["cell_id", "coverage"], output="geojson")
    secs.append(time.perf_counter() - t)
cells = sum(len(f["properties"]["coverage"]) for f in out)
print(f"peer.weights.countries177.exactextract\t{statistics.median(secs):.6f}\t{min(secs):.6f}\truns={runs}\tcells={cells}")
PY
log "the kit's polygon query (tensorstore), the simplified Mississippi"
"$PY" "$KIT/baseline_python.py" query --zarr "$Z" --queries polygon --methods tensorstore --runs 3 --warm "$RUNS" \
  --polygon "$(cat "$WKT")" 2>/dev/null | sed "s/^query\.polygon\.tensorstore/peer.polygon.tensorstore.mississippi_simplified/" \
  >> "$BENCH_DIR/regions.tsv"
log "the hub: weights, ad hoc basin means, the registered series"
cargo bench --quiet -p hub-e2e --bench regions -- "$STORE" pr "$COUNTRIES" "$BASIN" "$WKT" "$RUNS" \
  >> "$BENCH_DIR/regions.tsv" 2> "$BENCH_DIR/regions.log" || { cat "$BENCH_DIR/regions.log" >&2; exit 1; }
sed "s/^/$(date -Iseconds)\t/" "$BENCH_DIR/regions.tsv" >> "$TSV"

"$PY" - "$BENCH_DIR/regions.tsv" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) >= 4:
        rows[f[0]] = (float(f[1]), float(f[2]), f[3].removeprefix("runs="))
def ms(name):
    r = rows.get(name)
    return f"{r[0] * 1000:.1f} ({r[1] * 1000:.1f}), n={r[2]}" if r else "–"
def ratio(hub, peer):
    return f"{rows[peer][0] / rows[hub][0]:.1f}×" if hub in rows and peer in rows else "–"
ts = "peer.polygon.tensorstore.mississippi_simplified.warm_repeat"
print("| measurement | hub, ms median (min) | peer, ms median (min) | peer / hub |")
print("|---|---:|---:|---:|")
for label, hub, peer in [
    ("weights of the 177 countries, 0.5° grid (peer: exactextract)", "regions.weights.countries177.hub", "peer.weights.countries177.exactextract"),
    ("Mississippi 10-year mean, ad hoc, simplified polygon (peer: kit polygon query, tensorstore, warm)", "regions.adhoc.mississippi_simplified.hub.inproc", ts),
    ("Mississippi 10-year mean, ad hoc, whole HydroBASINS polygon posted", "regions.adhoc.mississippi_full.hub.inproc", ts),
    ("Mississippi 10-year mean, registered series over local HTTP, warm", "regions.series.mississippi.hub.http.warm", ts),
    ("backfill of the Mississippi series (once, 3650 steps)", "regions.backfill.mississippi.hub", None),
]:
    print(f"| {label} | {ms(hub)} | {ms(peer) if peer else '–'} | {ratio(hub, peer) if peer else '–'} |")
PY
