#!/usr/bin/env bash
# Sets up, builds and runs every test: unit tests (ctest) and integration
# tests that drive the real binary over HTTP and through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo "== unit tests"
ctest --test-dir build --output-on-failure -j 2
echo "== integration tests"
# The peers (node, oidc-provider) are installed by setup: never skip for lack of them.
export COUNTERSIGN_REQUIRE_PEERS=1
COUNTERSIGN_BINARY="$PWD/build/countersign" python3 -m unittest discover -s tests/integration -p 'test_*.py' -v
echo "== web UI in a real browser (Chromium), sign-in through a real OIDC provider"
bash scripts/setup.sh --browser
[[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
COUNTERSIGN_BINARY="$PWD/build/countersign" node --test --test-concurrency=1 --test-timeout=120000 tests/e2e/ui/*.test.mjs
echo "== MCP door with real MCP clients and servers"
[[ -d node_modules/@modelcontextprotocol/sdk ]] || npm ci --no-audit --no-fund
COUNTERSIGN_BINARY="$PWD/build/countersign" node --test --test-concurrency=1 tests/e2e/mcp/*.test.mjs
