#!/usr/bin/env bash
# Ingest benchmark: the hub against xarray + dask `to_zarr` (the peer) and the
# codec floor, on the same generated CF NetCDF files (daily 0.5° global
# precipitation, 2 and 10 years), each measured as a fresh process under
# /usr/bin/time (wall time, peak RSS), median and min of RUNS runs.
#
# Usage: scripts/bench/ingest.sh [RUNS=3] [YEARS="2 10"] [LEVELS="3 1"]
# Environment: BENCH_DIR (data and stores, default /tmp/hub-bench),
#              BENCH_KIT (the bench kit with make_data.py, baseline_python.py,
#              limits.py; default ../shared/bench), PEER=0 to skip the peer.
# Output: a Markdown table on stdout, raw lines appended to $BENCH_DIR/results.tsv
# in the kit's format (name, median_s, min_s, runs, extras).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/setup.sh
RUNS="${1:-3}"; YEARS="${2:-2 10}"; LEVELS="${3:-3 1}"
BENCH_DIR="${BENCH_DIR:-/tmp/hub-bench}"
KIT="${BENCH_KIT:-../shared/bench}"
TSV="$BENCH_DIR/results.tsv"
mkdir -p "$BENCH_DIR"
[ -f "$KIT/make_data.py" ] || { log "bench kit not found at $KIT (set BENCH_KIT)"; exit 1; }
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -qq time >/dev/null

install_system_deps
PY=$(python_env python3 target/py-bench xarray "zarr>=3" netCDF4 h5netcdf dask numcodecs psutil)
log "building the hub (release)"
cargo build --release --quiet -p hub
HUB=target/release/hub

# measure NAME CMD...: RUNS fresh processes; prints "median min rss_mb_median".
measure() {
  local name=$1; shift
  local times=() rss=()
  for _ in $(seq 1 "$RUNS"); do
    rm -rf "$BENCH_DIR/store"
    /usr/bin/time -f "%e %M" -o "$BENCH_DIR/time.txt" "$@" > "$BENCH_DIR/out.txt" 2>&1 || { cat "$BENCH_DIR/out.txt"; exit 1; }
    read -r t m < "$BENCH_DIR/time.txt"
    times+=("$t"); rss+=("$m")
  done
  "$PY" - "$name" "${times[*]}" "${rss[*]}" "$TSV" <<'PY'
import statistics, sys, datetime
name, times, rss, tsv = sys.argv[1], [float(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()], sys.argv[4]
med, mn, rss_mb = statistics.median(times), min(times), statistics.median(rss) / 1024
line = f"{name}\t{med:.3f}\t{mn:.3f}\truns={len(times)}\tpeak_rss_mb={rss_mb:.0f}"
open(tsv, "a").write(datetime.datetime.now().isoformat(timespec="seconds") + "\t" + line + "\n")
print(f"{med:.2f} {mn:.2f} {rss_mb:.0f}")
PY
}

echo "| data | zstd level | hub ingest (s) | peak RSS | in-process decoder (s) | xarray+dask to_zarr (s) | peak RSS | hub speed-up | codec floor (s) | hub / floor |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for Y in $YEARS; do
  Y1=$((2000 + (365 * Y - 1) / 365))
  NC="$BENCH_DIR/y$Y/daily/pr_day_SYNTH_2000-$Y1.nc"
  if [ ! -f "$NC" ]; then
    log "generating $Y years of daily data (once)"
    "$PY" "$KIT/make_data.py" "$BENCH_DIR/y$Y" --years "$Y" --what daily >&2
  fi
  RAW_MB=$("$PY" -c "import netCDF4; v=netCDF4.Dataset('$NC')['pr']; import math; print(math.prod(v.shape)*4/1e6)")
  LIMITS=$("$PY" "$KIT/limits.py" --what codecs --nc "$NC" --runs 1 2>/dev/null)
  for L in $LEVELS; do
  log "hub ingest, $Y years, zstd $L, $RUNS runs"
  read -r HM HMIN HRSS < <(measure "convert.hub.zstd$L.y$Y" "$HUB" ingest "$NC" --repo "$BENCH_DIR/store" --dataset pr --compression "zstd:$L")
  # The same with the decoder in the hub's own process: what the child process costs.
  read -r IM IMIN IRSS < <(measure "convert.hub.inprocess.zstd$L.y$Y" env HUB_DECODE_ISOLATION=off "$HUB" ingest "$NC" --repo "$BENCH_DIR/store" --dataset pr --compression "zstd:$L")
  PM="-"; PRSS="-"; SPEED="-"
  if [ "${PEER:-1}" = 1 ]; then
    log "xarray + dask to_zarr, $Y years, zstd $L, $RUNS runs"
    read -r PM PMIN PRSS < <(measure "convert.xarray.dask.zstd$L.y$Y" "$PY" "$KIT/baseline_python.py" convert --nc "$NC" --out "$BENCH_DIR/store/x.zarr" --mode dask --codec "zstd$L" --runs 1)
    SPEED=$("$PY" -c "print(f'{$PM/$HM:.1f}x')")
  fi
  # Codec floor as the kit defines it: single-core zlib decode + zstd encode
  # speeds of this data, spread over the machine's cores.
  FLOOR=$(echo "$LIMITS" | "$PY" -c "
import sys, os
mbps = {}
for line in sys.stdin:
    f = line.rstrip('\\n').split('\\t')
    extras = dict(kv.split('=', 1) for kv in f[4].split(';') if '=' in kv) if len(f) > 4 else {}
    if f[0].startswith('limits.codec.') and f[0].endswith('.mix.decompress') and 'zlib' in f[0]:
        mbps['zlib_dec'] = float(extras.get('MBps_median', 0))
    if f[0] == 'limits.codec.zstd$L.mix.compress':
        mbps['zstd_enc'] = float(extras.get('MBps_median', 0))
cores = os.cpu_count() or 1
if len(mbps) == 2 and all(mbps.values()):
    print(f'{($RAW_MB / mbps[\"zlib_dec\"] + $RAW_MB / mbps[\"zstd_enc\"]) / cores:.2f}')
else:
    print('-')
")
  RATIO=$([ "$FLOOR" != "-" ] && "$PY" -c "print(f'{$HM/$FLOOR:.2f}')" || echo "-")
  echo "| $Y years ($(printf '%.0f' "$RAW_MB") MB raw) | $L | $HM (min $HMIN) | $HRSS MB | $IM | $PM | $PRSS MB | $SPEED | $FLOOR | $RATIO |"
  done
done
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
