#!/usr/bin/env bash
# Installs everything countersign needs to build and test on Debian 12.
# Idempotent and non-interactive: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev sqlite3 libyaml-cpp-dev libfmt-dev libcli11-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libvectorscan-dev
  clang-format python3 openssl
)
# `setup.sh --browser`: also Debian's Chromium, for the web UI's browser tests
# (scripts/test.sh); the gateway itself never needs it.
if [[ " $* " == *" --browser "* ]]; then packages+=(chromium); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

# Node.js and npm run only the tests with real third-party peers (package.json);
# a Node.js that is already there (e.g. one that bundles npm) is kept.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# The pinned Node.js packages (package-lock.json), installed only when they
# are missing or the lock file changed since the last install.
cd "$(dirname "$0")/.."
if [[ -f package-lock.json ]] &&
   { [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; }; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
