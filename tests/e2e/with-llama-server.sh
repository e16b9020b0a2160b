#!/usr/bin/env bash
# Runs a test that needs llama.cpp's llama-server: builds it (or finds it cached) with
# scripts/llama-server.sh, exports LLAMA_SERVER_BIN and LLAMA_SERVER_MODEL, then runs the
# command given. When llama-server cannot be built here (no npm, no compiler, ...) it says why
# and exits 77, which CTest reports as a skip (SKIP_RETURN_CODE), never as a pass.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! out=$("$root/scripts/llama-server.sh"); then
    echo "SKIPPED: llama-server could not be built on this machine (scripts/llama-server.sh failed; see above)" >&2
    exit 77
fi
export $(printf '%s\n' "$out" | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')
exec "$@"
