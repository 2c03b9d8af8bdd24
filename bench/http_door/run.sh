#!/usr/bin/env bash
# HTTP door benchmark: small GETs at 64 connections, in one run, against
#   1. nginx serving a static file (direct),
#   2. nginx as a plain reverse proxy in front of (1),
#   3. countersign's HTTP door in front of (1), with policy and audit on.
# Reports requests/s, the ratio to nginx-as-proxy, and the median latency
# added versus direct.
#
#   bench/http_door/run.sh [--duration 10s] [--connections 64] [--threads 2]
#
# Installs nginx and wrk with apt-get when missing (idempotent). Uses
# COUNTERSIGN_BINARY, else build/countersign (built with scripts/build.sh
# if absent). Both proxies get one worker process/thread: countersign's I/O
# runs on one thread.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
duration=10s
connections=64
threads=2
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--duration 10s] [--connections 64] [--threads 2]" >&2; exit 2 ;;
  esac
done

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if ((${#missing[@]})); then
  echo "bench: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

binary=${COUNTERSIGN_BINARY:-$root/build/countersign}
if [[ ! -x $binary ]]; then "$root/scripts/build.sh"; fi

work=$(mktemp -d /tmp/countersign-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
direct_port=$(free_port); proxy_port=$(free_port); gateway_port=$(free_port)

mkdir -p "$work/www" "$work/nginx-direct" "$work/nginx-proxy"
printf 'hello from the upstream, a small static body for the benchmark\n' >"$work/www/hello.txt"
chmod -R a+rX "$work/www"

user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root;"
common="$user_line
worker_processes 1;
daemon off;
error_log stderr error;
events { worker_connections 4096; }"

cat >"$work/nginx-direct/nginx.conf" <<CONF
$common
pid $work/nginx-direct/nginx.pid;
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$direct_port;
    location / { root $work/www; }
  }
}
CONF

cat >"$work/nginx-proxy/nginx.conf" <<CONF
$common
pid $work/nginx-proxy/nginx.pid;
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$direct_port; keepalive 128; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer upstream-token";
    }
  }
}
CONF

cat >"$work/countersign.yaml" <<CONF
listen: 127.0.0.1:$gateway_port
storage:
  sqlite: bench.db
identity:
  api_keys:
    - name: bench-agent            # key: demo-agent-key
      key_sha256: 8cfbbed0d818a803eddf3db2193bd492460b2db9999d03775a023dd8f90d04a6
      subject: agent:bench
      kind: agent
targets:
  static:
    door: http
    http:
      upstream: http://127.0.0.1:$direct_port
      credentials: {bearer: env:BENCH_UPSTREAM_TOKEN}
      routes:
        - {match: "GET /{file}", verb: "http:GetFile"}
policy:
  default: deny
  rules:
    - id: reads
      match: {door: http, target: static, verb: "http:GetFile"}
      effect: allow
CONF

"$nginx_bin" -p "$work/nginx-direct" -c "$work/nginx-direct/nginx.conf" & pids+=($!)
"$nginx_bin" -p "$work/nginx-proxy" -c "$work/nginx-proxy/nginx.conf" & pids+=($!)
proxy_pid=$!
BENCH_UPSTREAM_TOKEN=upstream-token "$binary" serve --config "$work/countersign.yaml" >"$work/countersign.log" 2>&1 & pids+=($!)
gateway_pid=$!

wait_for() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $* did not come up" >&2; cat "$work/countersign.log" >&2; exit 1
}
wait_for "http://127.0.0.1:$direct_port/hello.txt"
wait_for "http://127.0.0.1:$proxy_port/hello.txt"
wait_for -H "Authorization: Bearer demo-agent-key" "http://127.0.0.1:$gateway_port/http/static/hello.txt"

# CPU time (user + system, clock ticks) of a process and its children
# (nginx's master and worker), from /proc.
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}

# wrk's --latency percentiles; median converted to milliseconds. With a
# PID, also the CPU time that process spent per request (microseconds),
# which the machine's other load disturbs far less than requests/s.
run() {
  local name=$1 pid=$2 conns=$3; shift 3
  local before=0
  [[ -n $pid ]] && before=$(cpu_ticks "$pid")
  wrk -t"$((conns < threads ? conns : threads))" -c"$conns" -d"$duration" --latency "$@" >"$work/$name.txt"
  local cpu_us="-"
  if [[ -n $pid ]]; then
    local ticks=$(($(cpu_ticks "$pid") - before)) requests
    requests=$(awk '/requests in/ {print $1}' "$work/$name.txt")
    cpu_us=$(python3 -c "print(f'{$ticks / $(getconf CLK_TCK) * 1e6 / max($requests, 1):.1f}')")
  fi
  eval "cpu_$name=$cpu_us"
  local rps median
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$name.txt")
  median=$(awk '$1 == "50%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' "$work/$name.txt")
  local errors
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/$name.txt" | tr '\n' ' ')
  printf '%-28s %12.0f req/s   median %8.3f ms   CPU/request %8s us   %s\n' "$name" "$rps" "$median" "$cpu_us" "$errors"
  eval "rps_$name=$rps; median_$name=$median"
}

echo "bench: wrk -t$threads -c$connections -d$duration, GET of a $(wc -c <"$work/www/hello.txt")-byte file"
# Warm-up (connection pools, page cache).
wrk -t1 -c8 -d1s -H "Authorization: Bearer demo-agent-key" "http://127.0.0.1:$gateway_port/http/static/hello.txt" >/dev/null
run direct "" "$connections" "http://127.0.0.1:$direct_port/hello.txt"
run nginx_proxy "$proxy_pid" "$connections" "http://127.0.0.1:$proxy_port/hello.txt"
run countersign "$gateway_pid" "$connections" -H "Authorization: Bearer demo-agent-key" "http://127.0.0.1:$gateway_port/http/static/hello.txt"
# One connection: the latency each proxy adds to a single request, not
# queueing behind 63 others.
run direct_1 "" 1 "http://127.0.0.1:$direct_port/hello.txt"
run nginx_proxy_1 "$proxy_pid" 1 "http://127.0.0.1:$proxy_port/hello.txt"
run countersign_1 "$gateway_pid" 1 -H "Authorization: Bearer demo-agent-key" "http://127.0.0.1:$gateway_port/http/static/hello.txt"

events=$(sqlite3 "$work/bench.db" 'select count(*) from audit_events' 2>/dev/null || echo "?")
python3 - "$rps_direct" "$rps_nginx_proxy" "$rps_countersign" "$median_direct" "$median_nginx_proxy" \
  "$median_countersign" "$median_direct_1" "$median_nginx_proxy_1" "$median_countersign_1" \
  "$cpu_nginx_proxy" "$cpu_countersign" "$events" <<'PY'
import sys
direct, proxy, gateway, m_direct, m_proxy, m_gateway, m1_direct, m1_proxy, m1_gateway, cpu_proxy, cpu_gateway = map(float, sys.argv[1:12])
print(f"countersign / nginx proxy rps:  {gateway / proxy:.2f}x   (target >= 0.90x)")
print(f"countersign / direct rps:       {gateway / direct:.2f}x")
print(f"CPU per request:                countersign {cpu_gateway:.1f} us, nginx proxy {cpu_proxy:.1f} us "
      f"({cpu_gateway / cpu_proxy:.1f}x)")
print(f"added median latency vs direct, all connections: nginx proxy {m_proxy - m_direct:+.3f} ms, "
      f"countersign {m_gateway - m_direct:+.3f} ms")
print(f"added median latency vs direct, 1 connection: nginx proxy {m1_proxy - m1_direct:+.3f} ms, "
      f"countersign {m1_gateway - m1_direct:+.3f} ms   (target < 0.2 ms)")
print(f"audit events written by countersign: {sys.argv[12]}")
PY
