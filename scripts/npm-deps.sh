#!/usr/bin/env bash
# Installs the pinned npm packages the end-to-end tests use (ollama, openai, yaml, and
# puppeteer-core, which drives Debian's chromium in the dashboard test),
# from tests/node/package-lock.json. Does nothing when they are already installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/node"
if [ ! -f package.json ]; then
    exit 0
fi
if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
