#!/usr/bin/env bash
# Makes the base image the Dockerfile starts from, debian:bookworm-slim, when the Docker daemon
# does not have it and no registry can be reached to pull it: a minimal Debian 12 made with
# debootstrap from the Debian mirror apt already uses, trimmed as the official slim image is
# (no documentation, manual pages or translations, also for packages installed later), then
# `docker import`ed under that name.
#
# The root file system is cached as a tar OUTSIDE the checkout,
#     $OLLAMAFLOW_CACHE/docker/debian-bookworm-slim.tar
# (OLLAMAFLOW_CACHE defaults to /var/cache/ollamaflow when writable, else ~/.cache/ollamaflow),
# so a daemon that lost its images gets the base back in seconds. Cold: about a minute
# (debootstrap); warm: nothing, or the import (a few seconds). Runs that overlap wait on one
# lock. An image of that name that the daemon already has (pulled, or made before) is kept.
#
# Needs a running Docker daemon; `docker` is the client on PATH (DOCKER overrides it).
# Exit status: 0 the image is there; 1 it could not be made (the reason is on stderr).
set -euo pipefail

IMAGE=debian:bookworm-slim
SUITE=bookworm
docker=${DOCKER:-docker}

say() { echo "docker-base.sh: $*" >&2; }

if $docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi

cache=$("$(dirname "$0")/cache-dir.sh")
mkdir -p "$cache/docker"
tarball=$cache/docker/debian-$SUITE-slim.tar

exec 9>"$cache/docker/.lock"
flock 9
if $docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0          # made by the run this one waited for
fi

#  The Debian mirror apt uses: the first source of the suite in deb822 form or one-line form.
mirror_of_apt() {
    local file
    for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (uri != "" && ok) print uri }' "$file" | head -n 1
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        sed -e 's/\[[^]]*\]//' "$file" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
    done
}

if [ ! -s "$tarball" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "debootstrap is not installed (apt-get install debootstrap)"
        exit 1
    fi
    mirror=$(mirror_of_apt | head -n 1)
    if [ -z "$mirror" ]; then
        say "no Debian mirror for $SUITE found in apt's sources (/etc/apt/sources.list*)"
        exit 1
    fi
    root=$(mktemp -d "$cache/docker/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    say "debootstrap --variant=minbase $SUITE from $mirror (about a minute)"
    if ! debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$root.log" 2>&1; then
        tail -n 20 "$root.log" >&2
        say "debootstrap failed (log above)"
        rm -f "$root.log"
        exit 1
    fi
    rm -f "$root.log"
    #  apt inside the image reads the same sources as the host's (the suite, its updates and
    #  security), and, like the official slim image, installs no documentation or translations.
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
        rm -f "$root/etc/apt/sources.list"
    fi
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
APT::Install-Recommends "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
           "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
           "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
fi

say "importing $tarball as $IMAGE"
if ! $docker import --change 'CMD ["bash"]' "$tarball" "$IMAGE" >/dev/null; then
    say "docker import of $tarball failed"
    exit 1
fi
