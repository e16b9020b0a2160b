#!/usr/bin/env bash
# deploy_docker: builds the image and runs compose.yaml for real (tests/node/deploy/docker.test.mjs).
#   tests/deploy/docker_test.sh NODE        (CTest runs it from tests/node)
#
# 0. One run at a time on a machine: a run waits for the one before it (a lock in the cache
#    directory), since they share the images' tags and a dockerd that one of them started.
# 1. Docker: when no daemon answers, starts dockerd (as root, logging to a temporary file) and
#    stops it at the end; a daemon that was already running is used and left running.
# 2. The base image debian:bookworm-slim: scripts/docker-base.sh (debootstrap, cached outside
#    the checkout; about a minute, once per machine).
# 3. The images, tagged for this test only (ollamaflow:deploy-test, ollamaflow-front:deploy-test,
#    so an operator's ollamaflow:latest is never replaced): Docker's layer cache makes a rebuild
#    of an unchanged tree take seconds; a changed tree compiles again (a few minutes on 2 cores).
#    The images they replace are removed, so repeated runs do not fill the disk.
# 4. The node test, with the real npm clients.
#
# Exit 77 (a CTest skip, with the reason on stderr) only when Docker cannot run here: no docker
# client, docker-compose or dockerd installed, or no daemon running and none can be started.
# Once Docker runs, every failure (base image, build, test) is a failure.
set -uo pipefail
node=${1:?usage: docker_test.sh NODE}
root=$(cd "$(dirname "$0")/../.." && pwd)
export DOCKER=${DOCKER:-docker}
export DOCKER_COMPOSE=${DOCKER_COMPOSE:-docker-compose}
export OF_IMAGE=${OF_IMAGE:-ollamaflow:deploy-test}
export OF_BUILD_IMAGE=$OF_IMAGE-build
export OF_FRONT_IMAGE=${OF_FRONT_IMAGE:-ollamaflow-front:deploy-test}
export OF_SOURCE_DIR=$root
DOCKERD_START_S=60
DOCKERD_STOP_S=30
LOCK_WAIT_S=1200

say() { echo "docker_test.sh: $*" >&2; }
skip() { echo "SKIPPED: $*" >&2; exit 77; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v "$DOCKER" >/dev/null 2>&1 || skip "no docker client ($DOCKER) is installed (scripts/install-deps.sh installs docker.io)"
command -v "$DOCKER_COMPOSE" >/dev/null 2>&1 || skip "$DOCKER_COMPOSE is not installed (scripts/install-deps.sh installs docker-compose)"

lock_dir=$("$root/scripts/cache-dir.sh")/docker
mkdir -p "$lock_dir"
exec 8>"$lock_dir/.test.lock"
if ! flock -n 8; then
    say "another deploy_docker run is going on: waiting for it (at most $LOCK_WAIT_S s)"
    flock -w "$LOCK_WAIT_S" 8 || { say "the other run still holds $lock_dir/.test.lock after $LOCK_WAIT_S s"; exit 1; }
fi

work=$(mktemp -d /tmp/ollamaflow-docker-test.XXXXXX)
dockerd_pid=""
cleanup() {
    if [ -n "$dockerd_pid" ]; then
        say "stopping the dockerd this test started (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq $((DOCKERD_STOP_S * 10))); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd did not stop within $DOCKERD_STOP_S s: killing it"
            kill -KILL "$dockerd_pid" 2>/dev/null
        fi
        wait "$dockerd_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if ! "$DOCKER" info >/dev/null 2>&1; then
    dockerd=$(command -v dockerd) || skip "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)"
    [ "$(id -u)" -eq 0 ] || skip "no Docker daemon answers and only root can start dockerd here"
    say "no Docker daemon answers: starting $dockerd"
    started=$(now)
    "$dockerd" --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 8>&- &   # not holding the lock
    dockerd_pid=$!
    for _ in $(seq $((DOCKERD_START_S * 10))); do
        "$DOCKER" info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! "$DOCKER" info >/dev/null 2>&1; then
        tail -n 15 "$work/dockerd.log" >&2
        why=$(grep -E 'level=(fatal|error)|failed to start' "$work/dockerd.log" | tail -n 1 | sed 's/.*msg=//')
        kill -0 "$dockerd_pid" 2>/dev/null || { wait "$dockerd_pid" 2>/dev/null; dockerd_pid=""; }
        skip "dockerd could not be started here: ${why:-no answer within $DOCKERD_START_S s} (its log above)"
    fi
    say "dockerd up in $(since "$started")"
fi

started=$(now)
"$root/scripts/docker-base.sh" || { say "the base image could not be made (above)"; exit 1; }
say "base image debian:bookworm-slim ready in $(since "$started")"

#  Builds one image; removes the one it replaces under the same tag (none when unchanged).
build() {
    local tag=$1; shift
    local old new
    old=$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null)
    if ! DOCKER_BUILDKIT=0 "$DOCKER" build -q -t "$tag" "$@" >"$work/build.log" 2>&1; then
        tail -n 40 "$work/build.log" >&2
        say "docker build -t $tag $* failed (above)"
        return 1
    fi
    new=$("$DOCKER" image inspect -f '{{.Id}}' "$tag")
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
    fi
}
started=$(now)
#  The build stage is tagged too, so that the compiler layers it replaces are removed as well.
build "$OF_BUILD_IMAGE" --target build "$root" || exit 1
build "$OF_IMAGE" "$root" || exit 1
say "image $OF_IMAGE built in $(since "$started")"
started=$(now)
build "$OF_FRONT_IMAGE" -f "$root/deploy/front.Dockerfile" "$root/deploy" || exit 1
say "image $OF_FRONT_IMAGE built in $(since "$started")"

started=$(now)
"$node" --test --test-timeout=600000 "$root/tests/node/deploy/docker.test.mjs"
status=$?
say "the compose and docker run tests took $(since "$started")"
exit $status
