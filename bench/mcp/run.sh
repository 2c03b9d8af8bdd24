#!/usr/bin/env bash
# MCP door benchmark: allowed tools/call round trips (server-everything's
# `echo` over Streamable HTTP) directly to the server and through
# countersign's MCP door (policy, audit, masking hooks on), at 1 and 16
# concurrent clients, in one run. Reports calls/s, median and p99 latency,
# the throughput ratio gateway/direct and the latency the gateway adds.
#
#   bench/mcp/run.sh [--clients 1,16] [--seconds 3] [--rounds 3]
#
# The gateway's SQLite store (audit log, reviews) goes in a temporary
# directory; set COUNTERSIGN_BENCH_STORAGE_DIR (e.g. /dev/shm/x) to put it
# elsewhere, e.g. on tmpfs to see the door's cost without the disk's.
#
# Needs `npm ci` (the pinned MCP servers). Uses COUNTERSIGN_BINARY, else
# build/countersign.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${COUNTERSIGN_BINARY:-$root/build/countersign}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # FILE PATTERN
  for _ in $(seq 1 200); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

storage_dir=${COUNTERSIGN_BENCH_STORAGE_DIR:-$work}
mkdir -p "$storage_dir"
upstream_port=$(free_port)
PORT=$upstream_port node "$root/node_modules/@modelcontextprotocol/server-everything/dist/index.js" streamableHttp \
  > "$work/everything.log" 2>&1 &
pids+=($!)
wait_for "$work/everything.log" "listening on port"

cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:0
storage: {sqlite: "$storage_dir/gateway.db"}
identity:
  api_keys:
    - {name: bench, key_sha256: $(printf bench-agent-key | sha256sum | cut -d' ' -f1), subject: "agent:bench", kind: agent}
targets:
  everything:
    door: mcp
    mcp:
      http: {url: "http://127.0.0.1:$upstream_port/mcp"}
policy:
  default: deny
  rules:
    - id: echo
      match: {door: mcp, target: everything, verb: "tools/call:echo"}
      effect: allow
YAML
"$binary" serve --config "$work/config.yaml" > "$work/gateway.log" 2>&1 &
pids+=($!)
wait_for "$work/gateway.log" "listening on http://"
gateway=$(grep -oE 'listening on http://[0-9.:]+' "$work/gateway.log" | head -1 | cut -d' ' -f3)

echo "upstream: server-everything (Streamable HTTP) on 127.0.0.1:$upstream_port; gateway: $gateway"
node "$root/bench/mcp/load.mjs" --direct "http://127.0.0.1:$upstream_port/mcp" \
  --gateway "$gateway/mcp/everything" --token bench-agent-key "$@"
