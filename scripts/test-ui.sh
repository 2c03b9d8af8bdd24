#!/usr/bin/env bash
# The web UI end-to-end tests in a real browser (Debian's Chromium driven by
# playwright-core). Not yet part of scripts/test.sh: the suite stalls after
# its first test on a clean machine, which is being investigated.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/setup.sh --browser
[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
COUNTERSIGN_BINARY="$PWD/build/countersign" timeout 600 node --test tests/e2e/ui/*.test.mjs
