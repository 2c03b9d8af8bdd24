#!/usr/bin/env bash
# Installs dependencies (if missing) and builds everything into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_type=${BUILD_TYPE:-RelWithDebInfo}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" > /dev/null
# Beast translation units need ~1 GB each: two jobs fit these machines.
ninja -C build -j "${JOBS:-2}"
