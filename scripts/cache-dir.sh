#!/usr/bin/env bash
# Prints the directory where the test scripts cache what they build outside the checkout
# (llama-server, the Docker base image), creating it: $OLLAMAFLOW_CACHE when set, else
# /var/cache/ollamaflow when writable, else ~/.cache/ollamaflow.
set -euo pipefail
cache=${OLLAMAFLOW_CACHE:-}
if [ -z "$cache" ]; then
    if mkdir -p /var/cache/ollamaflow 2>/dev/null && [ -w /var/cache/ollamaflow ]; then
        cache=/var/cache/ollamaflow
    else
        cache=$HOME/.cache/ollamaflow
    fi
fi
mkdir -p "$cache"
echo "$cache"
