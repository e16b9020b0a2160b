#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds, runs every test, then
# builds again with AddressSanitizer and UndefinedBehaviorSanitizer and runs the suite again.
# Then builds the fuzz targets with clang's libFuzzer (build-fuzz/) and runs each once, for
# OF_FUZZ_SECONDS (default 30 s each: five targets, about 3 minutes with their build).
#   ./test.sh            everything
#   ./test.sh --fast     skip the sanitizer pass and the fuzz targets
#   ./test.sh -R regex   only the tests whose name matches (passed on to ctest)
set -euo pipefail
cd "$(dirname "$0")"

sanitize=1
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) sanitize=0 ;;
        *) ctest_args+=("$1") ;;
    esac
    shift
done

./scripts/install-deps.sh
./scripts/npm-deps.sh
# llama.cpp's llama-server for e2e_translate: built once per machine (about 8 minutes on 2
# cores), cached outside the checkout; the test skips, saying why, when it cannot be built
./scripts/llama-server.sh >/dev/null || echo "test.sh: llama-server could not be built: e2e_translate will be skipped" >&2
jobs=$(nproc)

run_suite() {
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure --timeout 600 ${ctest_args[@]+"${ctest_args[@]}"})
}

echo "== build and test (build/)"
run_suite build
if [ "$sanitize" = 1 ]; then
    echo "== build and test under ASan + UBSan (build-asan/)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-asan -DOF_SANITIZE=ON
    if [ ${#ctest_args[@]} -eq 0 ]; then
        echo "== fuzz targets, ${OF_FUZZ_SECONDS:-30} s each (build-fuzz/)"
        CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOF_FUZZ=ON \
            -DOF_FUZZ_SECONDS="${OF_FUZZ_SECONDS:-30}" >/dev/null
        cmake --build build-fuzz -j "$jobs" --target fuzzers
        (cd build-fuzz && ctest --output-on-failure -L fuzz)
    fi
fi
