#!/usr/bin/env bash
# Server CPU per HTTP request under wrk, ringloop (both backends) against tokio, in one run.
# The server is pinned to CPU 0 and wrk to CPU 1; CPU time is utime+stime from /proc.
# Usage: bash benches/http_cpu.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build -q --release --example http_hello --example peer_server
hz=$(getconf CLK_TCK)

measure() { # name command...
    local name=$1; shift
    local port=$((20000 + RANDOM % 20000))
    taskset -c 0 "$@" --port "$port" >/dev/null &
    local pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    local t0 rps t1
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    rps=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/{print $2}')
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill $pid; wait $pid 2>/dev/null || true
    python3 -c "
rps=float('$rps'); ticks=$t1-$t0
print('%-22s %12.0f req/s %10.2f us CPU/request' % ('$name', rps, ticks/float($hz)*1e6/(rps*$secs)))"
}

echo "wrk -t1 -c$conns -d${secs}s, server on CPU 0, wrk on CPU 1"
measure "ringloop io_uring" target/release/examples/http_hello --backend uring
measure "ringloop epoll" target/release/examples/http_hello --backend epoll
measure "tokio current_thread" target/release/examples/peer_server --runtime tokio --app http
