#!/usr/bin/env bash
# Real-time ingest benchmark: one radar composite appended to a dataset that
# already holds 100, 1,000 and 10,000 five-minute steps (time from the start
# of the ingest of a staged upload to a fresh reader seeing the new step), the
# cold start of the ingest, route and maintain Lambda binaries, storage upkeep
# (expiry + garbage collection of 2,000 corrected chunks), and the ingest of a
# multi-message GRIB2 file. Peers on the same work: Python icechunk's
# expire_snapshots + garbage_collect on a copy of the same repository,
# xarray `to_zarr(append_dim="time")` of one step into a plain Zarr v3 store
# of the same size and chunking (no versioning, no atomic commit), and GDAL
# decoding every message of the GRIB2 file (gdal_translate to raw).
#
# Usage: scripts/bench/stream.sh [RUNS=7] [STEPS="100 1000 10000"]
# Environment: BENCH_DIR (default /tmp/hub-bench), HUB_TEST_DATA (the shared
# data with the GRIB2 file; default ../shared/data), PEER=0 to skip the peers.
# Output: raw lines in the kit's format on stdout and in $BENCH_DIR/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/setup.sh
RUNS="${1:-7}"; STEPS="${2:-100 1000 10000}"
BENCH_DIR="${BENCH_DIR:-/tmp/hub-bench}/stream"
DATA="${HUB_TEST_DATA:-../shared/data}"
GRIB="$DATA/grib2/gfs.t12z.pgrbf120.2p5deg.grib2"
TSV="$BENCH_DIR/../results.tsv"
mkdir -p "$BENCH_DIR"
install_system_deps
log "building the benchmark (release)"
cargo bench --no-run --quiet -p hub-e2e --bench stream 2> "$BENCH_DIR/build.log" || { cat "$BENCH_DIR/build.log"; exit 1; }
BIN=$(ls -t target/release/deps/stream-* | grep -v '\.d$' | head -1)
stamp() { while IFS= read -r line; do echo "$line"; echo "$(date -Iseconds)	$line" >> "$TSV"; done; }

# Appends in the benchmark's process, and as the binaries run them: each file
# decoded in a child process of the hub binary (the "_isolated" lines).
cargo build --release --quiet -p hub
for n in $STEPS; do
  HUB_BENCH_DECODER="$PWD/target/release/hub" "$BIN" append "$n" "$RUNS" "$BENCH_DIR" | stamp
done
log "building the ingest, route and maintain functions (release) for their cold starts"
cargo build --release --quiet -p ingest -p route -p maintain
"$BIN" cold "$RUNS" "$BENCH_DIR" | stamp
# Storage upkeep; the peer is Python icechunk from the interop environment scripts/test.sh makes.
ICECHUNK_PY=""
if [ "${PEER:-1}" != 0 ] && target/py-interop/bin/python -c 'import icechunk' 2>/dev/null; then
  ICECHUNK_PY=$(pwd)/target/py-interop/bin/python
else
  log "no Python icechunk in target/py-interop (run scripts/test.sh once): storage upkeep without its peer"
fi
"$BIN" gc 2000 "$RUNS" "$BENCH_DIR" $ICECHUNK_PY | stamp
if [ -f "$GRIB" ]; then
  "$BIN" grib "$GRIB" "$RUNS" "$BENCH_DIR" | stamp
else
  log "no GRIB2 file at $GRIB: GRIB2 throughput skipped"
fi

[ "${PEER:-1}" = 0 ] && exit 0
PY=$(python_env python3 target/py-bench xarray "zarr>=3" numpy)
for n in $STEPS; do
  "$PY" - "$n" "$RUNS" "$BENCH_DIR/peer-$n.zarr" <<'PY' | stamp
import shutil, statistics, sys, time
import numpy as np, xarray as xr, zarr
n, runs, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ny, nx = 1226, 760
shutil.rmtree(path, ignore_errors=True)
t0 = np.datetime64("2024-06-01T00:00:00", "ns")
step = np.timedelta64(300, "s")
def one(i):
    data = ((np.arange(ny)[:, None] * 7 + np.arange(nx)[None, :] * 3 + i * 11) % 200).astype("u1")[None]
    return xr.Dataset({"band1": (("time", "y", "x"), data)}, coords={"time": [t0 + i * step]})
# The store with n steps: metadata and the time coordinate; the older steps'
# chunks are left unwritten (they do not enter an append's cost).
root = zarr.open_group(path, mode="w", zarr_format=3)
band = root.create_array("band1", shape=(n, ny, nx), chunks=(1, ny, nx), dtype="u1",
                         compressors=[zarr.codecs.ZstdCodec(level=3)], dimension_names=["time", "y", "x"], fill_value=0)
tc = root.create_array("time", shape=(n,), chunks=(4096,), dtype="i8", dimension_names=["time"], fill_value=0)
tc.attrs.update({"units": "seconds since 2024-06-01 00:00:00", "calendar": "proleptic_gregorian", "standard_name": "time"})
tc[:] = np.arange(n, dtype="i8") * 300
secs = []
for k in range(runs):
    t = time.perf_counter()
    one(n + k).to_zarr(path, append_dim="time", consolidated=False)
    xr.open_zarr(path, consolidated=False)["band1"].isel(time=-1, y=600, x=400).values
    secs.append(time.perf_counter() - t)
print(f"peer_xarray_append_{n}_steps\t{statistics.median(secs):.6f}\t{min(secs):.6f}\truns={runs}\tzarr={zarr.__version__};xarray={xr.__version__}")
shutil.rmtree(path, ignore_errors=True)
PY
done
if [ -f "$GRIB" ]; then
  command -v gdal_translate >/dev/null || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq gdal-bin >/dev/null
  times=()
  for _ in $(seq 1 "$RUNS"); do
    s=$(date +%s.%N)
    GRIB_NORMALIZE_UNITS=NO gdal_translate -q -of ENVI -ot Float32 "$GRIB" "$BENCH_DIR/peer.raw" 2>/dev/null
    e=$(date +%s.%N)
    times+=("$(awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')")
    rm -f "$BENCH_DIR"/peer.raw*
  done
  printf '%s\n' "${times[@]}" | sort -g | awk -v runs="$RUNS" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "peer_gdal_decode_grib2\t%.6f\t%.6f\truns=%d\tgdal_translate to raw float32\n", m, a[1], runs}' | stamp
fi
