#!/usr/bin/env bash
# The benchmark: the same workloads against ollama-sim directly, ollamaflow, nginx, HAProxy
# and (on the OpenAI route) Portkey's gateway, on this machine, in one run. Prints one table
# and writes bench/RESULTS.md.
#   bench/run.sh                  the full run (about 15 minutes); writes bench/RESULTS.md
#   bench/run.sh --quick          seconds and small numbers, to check that the harness works;
#                                 writes $TMPDIR/ollamaflow-bench-quick/RESULTS.md unless --out
#   options: --bin DIR (default build/bin, built if needed)  --out DIR  --sections 1,2,3,4  --keep (logs)
# Installs nginx, haproxy and wrk with apt when they are missing, Portkey's gateway with npm into
# the cache (bench/portkey/install.sh; without it the bench goes on); runs nginx and HAProxy as
# foreground processes with generated configs on free loopback ports, never as system services.
# Every process it starts is stopped when it ends, on failure or on Ctrl-C too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

bin="" out="" sections=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift ;;
        --out) out=$2; shift ;;
        --sections) sections=$2; shift ;;
    esac
    shift
done

#  The proxies and wrk (scripts/install-deps.sh lists them too); apt only when one is missing
missing=()
for tool in nginx haproxy wrk; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#  Portkey's gateway (npm, into the cache outside the checkout): without it (offline, no npm) the
#  bench runs the other systems and shows "—" in its column
if BENCH_PORTKEY=$(bench/portkey/install.sh); then
    export BENCH_PORTKEY
else
    echo "bench: Portkey's gateway cannot be installed: the bench runs without it" >&2
    export BENCH_PORTKEY=""
fi

if [ -z "$bin" ]; then
    bin=build/bin
    [ -d build ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc)" --target ollama-sim bench-load ollamaflow-configd \
        ollamaflow-scheduler ollamaflow-healthmon ollamaflow-modelsync ollamaflow-ingress >/dev/null
fi

#  10,000 streams: the load generator, the simulator and every proxy each need more than 20,000 files
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export BENCH_NOFILE=$(ulimit -n)

node bench/bench.mjs "${args[@]}" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM
status=0
wait $pid || status=$?
trap - INT TERM
if [ -z "$out" ]; then
    case " ${args[*]} " in
        *" --quick "*) out="${TMPDIR:-/tmp}/ollamaflow-bench-quick" ;;
        *) out=bench ;;
    esac
fi
node bench/check.mjs "$out/RESULTS.md" ${sections:+--sections "$sections"} || status=1
exit $status
