#!/usr/bin/env bash
# Installs the Debian 12 packages ollamaflow needs to build, test and run (clang and its
# runtime: the fuzz targets' libFuzzer; nginx, haproxy and wrk: the benchmark's proxies and
# load generator; prometheus: its promtool checks /metrics and its server scrapes two ingresses
# in a test; chromium: the dashboard's browser test; docker.io, docker-compose and debootstrap:
# deploy_docker's image and compose stack; it never runs their system services).
# Idempotent: asks apt only for what is missing, and does nothing when all is present.
set -euo pipefail

packages=(
    build-essential cmake pkg-config git
    clang libclang-rt-14-dev
    libzmq3-dev libczmq-dev libsqlite3-dev sqlite3 libjansson-dev
    libevhtp-dev libevent-dev libssl-dev libsystemd-dev
    systemd curl ca-certificates nodejs npm
    nginx haproxy wrk
    prometheus chromium
    docker.io docker-compose debootstrap
)

missing=()
for pkg in "${packages[@]}"; do
    # nodejs/npm may come from elsewhere (e.g. a newer Node already on PATH)
    case "$pkg" in
        nodejs) command -v node >/dev/null 2>&1 && continue ;;
        npm)    command -v npm  >/dev/null 2>&1 && continue ;;
    esac
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
