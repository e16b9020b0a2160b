#  ollamaflow image: every binary (the five services, the launcher, the tap, ollamaflowctl, the
#  simulator) on Debian 12. compose.yaml runs one service per container from it; on its own,
#  `docker run -v $PWD/ollamaflow.json:/etc/ollamaflow/ollamaflow.json:ro -p 43411:43411 ollamaflow`
#  starts all five in one container through the launcher, the ingress as one worker per online
#  core (-e OLLAMAFLOW_INGRESS_WORKERS=N to match a CPU limit). The runtime stage holds the shared
#  libraries and the binaries, no compiler; it runs as the unprivileged user ollamaflow.
#  Without a registry, scripts/docker-base.sh makes the debian:bookworm-slim it starts from.

# ---- build: compile and install into /usr/local ----------------------------------------------
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
#  The build part of scripts/install-deps.sh (which also installs test tools: node, systemd).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libzmq3-dev libczmq-dev libsqlite3-dev libjansson-dev \
        libevhtp-dev libevent-dev libssl-dev libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
#  Only the installed programs are built (not the tests). The loop fails the build if a binary
#  that compose.yaml or the launcher needs was not installed.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j "$(nproc)" --target ollamaflow ollamaflow-configd ollamaflow-scheduler \
        ollamaflow-healthmon ollamaflow-modelsync ollamaflow-ingress ollamaflow-tap ollamaflowctl ollama-sim \
 && cmake --install build --prefix /usr/local --strip \
 && for bin in ollamaflow-configd ollamaflow-scheduler ollamaflow-healthmon ollamaflow-modelsync \
               ollamaflow-ingress ollamaflow-tap ollamaflowctl ollamaflow ollama-sim; do \
        test -x /usr/local/bin/$bin || { echo "not installed: /usr/local/bin/$bin" >&2; exit 1; }; \
    done

# ---- runtime: the shared libraries only -------------------------------------------------------
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
#  ca-certificates: for backends reached over https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libzmq5 libczmq4 libsqlite3-0 libjansson4 libevhtp0 \
        libevent-2.1-7 libevent-openssl-2.1-7 libssl3 libsystemd0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ollamaflow \
 && useradd --system --uid 10001 --gid ollamaflow --home-dir /var/lib/ollamaflow \
        --no-create-home --shell /usr/sbin/nologin ollamaflow \
 && install -d -o ollamaflow -g ollamaflow -m 0750 /var/lib/ollamaflow \
 && install -d -o ollamaflow -g ollamaflow -m 0750 /etc/ollamaflow
COPY --from=build /usr/local/bin/ /usr/local/bin/
COPY deploy/ollamaflow-healthcheck /usr/local/bin/ollamaflow-healthcheck
#  Fail here, not at start-up, if a library the binaries link is missing from the list above.
RUN ! ldd /usr/local/bin/* | grep 'not found'

#  /etc/ollamaflow is the user's own: with no settings mounted, `ollamaflow up` writes them there
#  (a demo fleet of simulated backends and a new admin token, which `docker logs` shows).
#  A container is reached from outside: ingress listens on every interface.
ENV OLLAMAFLOW_CONFIG=/etc/ollamaflow/ollamaflow.json \
    OLLAMAFLOW_HOSTNAME=0.0.0.0
USER ollamaflow
WORKDIR /var/lib/ollamaflow
#  configd's database (OLLAMAFLOW_DATABASE=/var/lib/ollamaflow/ollamaflow.db in compose.yaml).
VOLUME /var/lib/ollamaflow
EXPOSE 43411
#  Ready when the ingress answers HTTP (compose.yaml gives each service its own check).
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["ollamaflow-healthcheck"]
CMD ["ollamaflow", "up"]
