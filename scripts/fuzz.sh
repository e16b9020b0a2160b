#!/usr/bin/env bash
# Runs the fuzz targets long: builds build-fuzz/ (clang, libFuzzer, ASan + UBSan) and runs each
# target (or those named) for SECONDS (default 1800), one after the other, from its committed
# seeds, keeping what it finds in build-fuzz/fuzz-work/NAME/corpus across runs. Prints each
# target's executions and coverage; a crash stops with the input in build-fuzz/fuzz-work/NAME/.
# A crasher, once fixed, belongs in tests/fuzz/corpus/NAME/ as a regression input.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 fuzz_bus
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(fuzz_bus fuzz_schema fuzz_ingress_body fuzz_modelsync_parse fuzz_sim_fleet)
fi
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOF_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzzers
for target in "${targets[@]}"; do
    echo "== $target, $seconds s"
    tests/fuzz/run-fuzzer.sh "build-fuzz/fuzz/$target" "tests/fuzz/corpus/$target" \
        "build-fuzz/fuzz-work/$target" "$seconds" 2>&1 \
        | grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)|ERROR|SUMMARY|Test unit written'
done
