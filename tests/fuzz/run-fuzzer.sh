#!/usr/bin/env bash
# Runs one fuzz target for a bounded time: FUZZER SEEDS WORK SECONDS [more libFuzzer options].
# The seeds (the committed corpus, crashers kept as regression inputs among them) are read
# only; what the run finds goes to WORK/corpus, a crash to WORK/crash-*. Exits non-zero on a
# crash, a leak or a sanitizer report, printing libFuzzer's final statistics either way.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
    -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
