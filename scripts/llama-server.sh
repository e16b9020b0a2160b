#!/usr/bin/env bash
# Builds llama.cpp's llama-server (a real OpenAI-format inference server) and writes a tiny
# random-weight GGUF model for it, for the end-to-end tests of Ollama <-> OpenAI translation.
#
# Source: the llama.cpp git bundle shipped in the npm package node-llama-cpp (pinned), fetched
# with `npm pack` (the 35 MB tarball only, none of its optional GPU builds). The binary and the
# model are cached OUTSIDE the checkout, keyed by the llama.cpp commit:
#     $OLLAMAFLOW_CACHE/llama-server/<commit>/{llama-server,tiny.gguf}
# (OLLAMAFLOW_CACHE defaults to /var/cache/ollamaflow when writable, else ~/.cache/ollamaflow).
# Cold: 6-12 minutes on 2 cores (the cmake build). Warm: well under a second. Idempotent; runs
# that overlap wait on one lock instead of building twice.
#
# Output: on success the last two lines of stdout are
#     LLAMA_SERVER_BIN=<path>
#     LLAMA_SERVER_MODEL=<path>
# Exit status: 0 built or cached; 1 it could not be built (the reason is on stderr).
set -euo pipefail

NLC_VERSION=3.21.1
JOBS=${OLLAMAFLOW_BUILD_JOBS:-2}
here=$(cd "$(dirname "$0")" && pwd)

cache=$("$here/cache-dir.sh")
mkdir -p "$cache/npm" "$cache/llama-server"

say() { echo "llama-server.sh: $*" >&2; }

# Debian packages: a compiler, cmake, git, and numpy for the GGUF writer.
need=()
for pkg in build-essential cmake git python3-numpy; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

exec 9>"$cache/llama-server/.lock"
flock 9

tgz=$cache/npm/node-llama-cpp-$NLC_VERSION.tgz
bundle=$cache/npm/node-llama-cpp-$NLC_VERSION.bundle
if [ ! -s "$bundle" ]; then
    if [ ! -s "$tgz" ]; then
        say "fetching node-llama-cpp@$NLC_VERSION (npm pack)"
        (cd "$cache/npm" && npm pack "node-llama-cpp@$NLC_VERSION" --silent >/dev/null)
    fi
    tar -xzf "$tgz" -O package/llama/gitRelease.bundle >"$bundle.tmp"
    mv "$bundle.tmp" "$bundle"
fi
commit=$(git bundle list-heads "$bundle" | awk 'NR==1 { print substr($1, 1, 12) }')
[ -n "$commit" ] || { say "cannot read the llama.cpp commit from $bundle"; exit 1; }
dir=$cache/llama-server/$commit
src=$dir/src
mkdir -p "$dir"

if [ ! -d "$src/.git" ]; then
    rm -rf "$src"
    git -c advice.detachedHead=false clone -q "$bundle" "$src"
fi

if [ ! -x "$dir/llama-server" ]; then
    say "building llama-server at llama.cpp $commit (6-12 minutes on 2 cores)"
    start=$(date +%s)
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF >"$dir/build.log" 2>&1 ||
        { say "cmake configure failed: see $dir/build.log"; tail -20 "$dir/build.log" >&2; exit 1; }
    cmake --build "$src/build" --target llama-server -j"$JOBS" >>"$dir/build.log" 2>&1 ||
        { say "build failed: see $dir/build.log"; tail -20 "$dir/build.log" >&2; exit 1; }
    cp "$src/build/bin/llama-server" "$dir/llama-server.tmp"
    mv "$dir/llama-server.tmp" "$dir/llama-server"
    say "built in $(( $(date +%s) - start )) s"
fi

model=$dir/tiny.gguf
if [ ! -s "$model" ] || [ "$here/tiny-gguf.py" -nt "$model" ]; then
    /usr/bin/python3 "$here/tiny-gguf.py" "$src" "$model.tmp"
    mv "$model.tmp" "$model"
fi

echo "LLAMA_SERVER_BIN=$dir/llama-server"
echo "LLAMA_SERVER_MODEL=$model"
