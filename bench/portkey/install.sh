#!/usr/bin/env bash
# Installs Portkey's AI gateway (@portkey-ai/gateway, pinned with its dependencies by
# bench/portkey/package-lock.json) into the cache outside the checkout (scripts/cache-dir.sh),
# once, and prints the path of its start-server.js. Exits 1 with a reason on stderr when it
# cannot (no npm, offline): the bench then runs without Portkey.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/.*"@portkey-ai\/gateway": "\([^"]*\)".*/\1/p' "$here/package.json" | head -1)
dir="$("$here/../../scripts/cache-dir.sh")/npm/portkey-gateway-$version"
server="$dir/node_modules/@portkey-ai/gateway/build/start-server.js"
#  Installed from this very lock: nothing to do
if [ -f "$server" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json.installed"; then
    echo "$server"
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "no npm" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
rm -f "$dir/package-lock.json.installed"
if ! (cd "$dir" && timeout 90 npm ci --prefer-offline --omit=dev --no-audit --no-fund --loglevel=error >"$dir/install.log" 2>&1); then
    echo "npm ci failed: $(tail -n 3 "$dir/install.log" | tr '\n' ' ')" >&2
    exit 1
fi
cp "$here/package-lock.json" "$dir/package-lock.json.installed"
echo "$server"
