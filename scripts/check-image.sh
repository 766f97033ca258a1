#!/usr/bin/env bash
# The ingest function's container image, checked where no container engine
# runs. The runtime stage of functions/ingest/Dockerfile (its Debian base, its
# apt packages, its ENV, its entrypoint) is rebuilt as a root filesystem with
# debootstrap, the ingest binary is copied in where the image puts it, and it
# runs in a chroot as a Lambda function against cargo-lambda's runtime API
# emulator, with nothing from the host but the network: S3 events for NetCDF,
# GeoTIFF and GRIB2 uploads on the S3 test server must commit datasets (read
# back by the host's `hub info`), an unsupported file must be rejected with a
# report. This proves the image carries every shared library and data file the
# decoders need; the `docker build` itself cannot run here. Prints the size
# the image adds to its base.
#
# Needs root (debootstrap, chroot), AWS_ENDPOINT_URL (the S3 test server, as
# scripts/test.sh sets it) and cargo-lambda on PATH.
# usage: scripts/check-image.sh [INGEST_BINARY]   (default: target/debug/ingest)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/setup.sh
: "${AWS_ENDPOINT_URL:?set it to the URL of the S3 test server}"
BIN=${1:-target/debug/ingest}
PY=${HUB_TOOLS_PYTHON:-python3}
[ -x "$BIN" ] || { log "no ingest binary at $BIN (cargo build -p ingest)"; exit 1; }
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo --preserve-env env "PATH=$PATH" "$0" "$@"
  fi
  log "skipped: rebuilding the image's file system needs root (debootstrap, chroot) or sudo"
  exit 0
fi
apt_install debootstrap

# The runtime stage: base suite, packages, environment, entrypoint.
spec=$("$PY" - functions/ingest/Dockerfile <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stage = re.split(r"(?m)^FROM\s+", text)[-1]
base = stage.split()[0]
m = re.fullmatch(r"debian:([a-z]+)(-slim)?", base)
if not m:
    sys.exit(f"the runtime stage's base {base} is not a Debian image")
packages, env, entry = [], [], None
for line in stage.splitlines():
    word, _, rest = line.strip().partition(" ")
    if word == "RUN":
        for cmd in re.split(r"&&|;", rest):
            w = shlex.split(cmd)
            if w[:2] == ["apt-get", "install"]:
                packages += [p for p in w[2:] if not p.startswith("-")]
    elif word == "ENV":
        env += shlex.split(rest)
    elif word == "ENTRYPOINT":
        entry = json.loads(rest)[0]
if not packages or not entry:
    sys.exit("the runtime stage installs no packages or has no ENTRYPOINT")
print(m.group(1))
print(" ".join(packages))
print(entry)
print(" ".join(env))
PY
)
suite=$(sed -n 1p <<<"$spec"); packages=$(sed -n 2p <<<"$spec")
entry=$(sed -n 3p <<<"$spec"); read -r -a image_env <<<"$(sed -n 4p <<<"$spec")"

ROOT="target/image-rootfs/$suite"
stamp="$ROOT/.hub-image"
if [ ! -f "$stamp" ] || [ "$(head -1 "$stamp")" != "$packages" ]; then
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { log "no Debian mirror in the apt sources"; exit 1; }
  log "debootstrap $suite (the image's base)"
  debootstrap --variant=minbase "$suite" "$ROOT" "$mirror" > target/image-debootstrap.log 2>&1 \
    || { tail -20 target/image-debootstrap.log; exit 1; }
  # As in the slim images: no documentation, manual pages or translations.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    > "$ROOT/etc/dpkg/dpkg.cfg.d/slim"
  chroot "$ROOT" apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/*
  base_bytes=$(du -sbx "$ROOT" | cut -f1)
  log "installing the image's packages: $packages"
  # shellcheck disable=SC2086 # the package list splits into words
  { chroot "$ROOT" apt-get update -qq &&
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; } \
    > target/image-apt.log 2>&1 || { tail -20 target/image-apt.log; exit 1; }
  chroot "$ROOT" apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/*
  layer_bytes=$(( $(du -sbx "$ROOT" | cut -f1) - base_bytes ))
  printf '%s\n%s\n' "$packages" "$layer_bytes" > "$stamp"
fi
layer_bytes=$(sed -n 2p "$stamp")
mkdir -p "$ROOT$(dirname "$entry")"
cp "$BIN" "$ROOT$entry"

linked=$(chroot "$ROOT" ldd "$entry")
missing=$(grep 'not found' <<<"$linked" || true)
[ -z "$missing" ] || { log "the image lacks libraries the ingest binary needs: $missing"; exit 1; }
libs=$(grep -c '=>' <<<"$linked")

WORK=$(mktemp -d)
PORT=$(free_port)
API_PID="" FN_PID=""
cleanup() {
  [ -z "$FN_PID" ] || kill "$FN_PID" 2>/dev/null || true
  [ -z "$API_PID" ] || kill "$API_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

uploads="image-uploads-$PORT"; repo="image-repo-$PORT"
curl -sf -X PUT "$AWS_ENDPOINT_URL/$uploads" >/dev/null
curl -sf -X PUT "$AWS_ENDPOINT_URL/$repo" >/dev/null
# The host's CLI writes the sample files and reads the datasets back.
hub=$(pwd)/target/debug/hub
[ -x "$hub" ] || { log "no $hub (cargo build -p hub)"; exit 1; }
(cd "$WORK" && "$hub" demo --days 2 --repo "$WORK/local" > "$WORK/demo.log" 2>&1) || { cat "$WORK/demo.log"; exit 1; }

log "the image's entrypoint in a chroot, on cargo-lambda's runtime API (127.0.0.1:$PORT)"
cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$PORT" > "$WORK/api.log" 2>&1 &
API_PID=$!
wait_for_port "$PORT" || { log "the runtime API did not start"; cat "$WORK/api.log"; exit 1; }
chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin "${image_env[@]}" \
  HUB_REPO="s3://$repo/hub" AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_REGION="${AWS_REGION:-us-east-1}" \
  AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$PORT/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=3008 RUST_LOG=warn \
  "$entry" > "$WORK/function.log" 2>&1 &
FN_PID=$!

# upload TEMPLATE KEY FILE: puts FILE at KEY, invokes the function with the event, prints its answer.
upload() {
  local template=$1 key=$2 file=$3
  curl -sf -D "$WORK/headers" -o /dev/null -X PUT -H "Content-Type: application/octet-stream" \
    --data-binary @"$file" "$AWS_ENDPOINT_URL/$uploads/$key"
  "$PY" scripts/lib/s3_event.py "$template" "$uploads" "$key" "$file" "$WORK/headers" "$WORK/event.json"
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$PORT" --data-file "$WORK/event.json" 2>&1 \
    || { log "the invocation failed"; cat "$WORK/function.log" "$WORK/api.log" >&2; return 1; }
}
samples="$WORK/local/_samples"
printf 'not a forecast, just notes\n' > "$WORK/readme.txt"
for case in "s3-put-netcdf.json incoming/image-netcdf/demo_daily_2d.nc $samples/demo_daily_2d.nc committed" \
            "s3-put-geotiff.json incoming/image-radar/202406011200_COMP.tif $samples/202406011200_COMP.tif committed" \
            "s3-put-grib2.json incoming/image-nwp/model_1717200000_000.grib2 $samples/model_1717200000_000.grib2 committed" \
            "s3-put-unsupported.json incoming/image-radar/readme.txt $WORK/readme.txt rejected"; do
  read -r template key file want <<<"$case"
  out=$(upload "events/$template" "$key" "$file") || { echo "$out" >&2; exit 1; }
  echo "$out" | grep -q "\"status\":\"$want\"" \
    || { log "$key: expected $want, got: $out"; cat "$WORK/function.log" >&2; exit 1; }
  log "$key: $want"
done
kill -0 "$FN_PID" 2>/dev/null || { log "the function exited"; cat "$WORK/function.log" >&2; exit 1; }

info=$("$hub" info --json --repo "s3://$repo/hub")
for dataset in image-netcdf image-radar image-nwp; do
  echo "$info" | grep -q "\"$dataset\"" || { log "hub info does not list $dataset: ${info:0:400}"; exit 1; }
done
log "the image's runtime: $libs shared libraries resolved, $(( layer_bytes / 1000000 )) MB of packages on the" \
  "$suite base + $(( $(stat -c %s "$BIN") / 1000000 )) MB binary ($BIN); NetCDF, GeoTIFF and GRIB2 ingested"
