#!/usr/bin/env bash
# Runs ollamaflow: installs what is missing, builds, then starts all five services in the
# foreground with `ollamaflow up` (Ctrl-C stops them). Writes ./ollamaflow.json first if
# there is none: the local Ollama as the fleet, or a demo fleet of simulated backends, and a
# random admin token for the admin API and ollamaflowctl (printed with how to use it).
#   ./run.sh                      default settings file ./ollamaflow.json
#   ./run.sh --config FILE        another settings file
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! cmake --build build -j "$(nproc)" >build/run-build.log 2>&1; then
    cat build/run-build.log >&2
    echo "run.sh: the build failed (log above)" >&2
    exit 1
fi
exec ./build/bin/ollamaflow up "$@"
