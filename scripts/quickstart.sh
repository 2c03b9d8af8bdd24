#!/usr/bin/env bash
# Sets up, builds and runs the gateway on examples/quickstart.yaml (SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/countersign serve --config examples/quickstart.yaml "$@"
