#!/usr/bin/env bash
# Measures ollama-sim by hand (not a test): small-request throughput and concurrent streams.
#   bench/sim/bench.sh [build-dir]      (default: build)
# Needs wrk (apt-get install -y wrk). Short and bounded: about a minute in all.
# RUNS (3) repeats each small-request measurement; the box is noisy, so read the spread.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build}/bin/ollama-sim
DURATION=${DURATION:-4s}
RUNS=${RUNS:-3}
STREAMS=${STREAMS:-10000}
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

start() {
    "$BIN" --ports-file "$work/ports.json" "$@" >"$work/out" 2>&1 &
    pid=$!
    for _ in $(seq 50); do [ -s "$work/ports.json" ] && break; sleep 0.1; done
    port=$(python3 -c "import json;print(json.load(open('$work/ports.json'))['backends'][0]['port'])")
    control=$(python3 -c "import json;print(json.load(open('$work/ports.json'))['control_port'])")
}
stop() { kill "$pid"; wait "$pid" || true; rm -f "$work/ports.json"; }
stat() { curl -s "127.0.0.1:$control/backends/0" | python3 -c "import json,sys;s=json.load(sys.stdin)['stats'];print(' '.join(f'{k}={s[k]}' for k in sys.argv[1:]))" "$@"; }

echo "== small requests, one backend, rates 0 (as fast as possible)"
start --parallel 100000 --max-queue 100000 --decode-rate 0 --prefill-rate 0 --load-ms 0
summary() { grep -E "Requests/sec|50%|99%" | tr -s ' ' | tr '\n' ' '; echo; }
for conns in 64 256; do
    echo "-- GET /api/version, $conns connections"
    for _ in $(seq "$RUNS"); do
        wrk -t1 -c$conns -d$DURATION --latency "http://127.0.0.1:$port/api/version" | summary
    done
    echo "-- POST /api/generate stream:false num_predict:1, $conns connections"
    for _ in $(seq "$RUNS"); do
        GEN_STREAM=false GEN_TOKENS=1 wrk -t1 -c$conns -d$DURATION --latency -s bench/sim/generate.lua \
            "http://127.0.0.1:$port" | summary
    done
done
stat requests completed
stop

echo "== $STREAMS concurrent streaming generations (20 tokens at 10 tokens/s each = 2 s per stream)"
start --parallel 100000 --max-queue 100000 --decode-rate 10 --prefill-rate 0 --load-ms 0
GEN_STREAM=true GEN_TOKENS=20 wrk -t2 -c$STREAMS -d10s --timeout 30s -s bench/sim/generate.lua \
    "http://127.0.0.1:$port" | grep -E "Requests/sec|Transfer/sec|requests in|Socket errors|Latency" || true
stat completed tokens peak_active cancelled
echo "-- sim CPU time (user+sys, s): $(ps -o times= -p $pid)"
stop
