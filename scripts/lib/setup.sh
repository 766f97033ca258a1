# Shared by scripts/run.sh and scripts/test.sh: install what a fresh Debian
# machine lacks. Sourced, not run.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

# Debian packages, those not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# System packages for the netCDF decoder (libnetcdf links HDF5) and the GDAL decoder.
install_system_deps() {
  local want=(libnetcdf-dev libhdf5-dev libgdal-dev netcdf-bin pkg-config curl)
  apt_install "${want[@]}"
  if ! command -v cargo >/dev/null; then
    log "cargo not found: install the Rust toolchain (rustup) first; rust-toolchain.toml pins the version"
    return 1
  fi
}

# A Python >= 3.12 (Python icechunk 2.x needs it): on PATH, or from pyenv.
find_python312() {
  local c
  for c in python3.14 python3.13 python3.12; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    if [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

# A virtual environment under target/ with the given packages; prints the
# absolute path of its python (tests run from their own crate's folder).
python_env() {
  local base="$1" dir="$2"; shift 2
  if [ ! -x "$dir/bin/python" ]; then
    "$base" -m venv "$dir" >/dev/null
  fi
  local stamp="$dir/.installed"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$*" ]; then
    log "installing Python packages into $dir: $*"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2
    echo "$*" > "$stamp"
  fi
  echo "$(cd "$dir" && pwd)/bin/python"
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something listens on 127.0.0.1:PORT (at most SECONDS, default 60).
wait_for_port() {
  local port=$1 tries=$(( ${2:-60} * 5 ))
  for _ in $(seq 1 "$tries"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
