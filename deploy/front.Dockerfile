#  The `front` of compose.yaml: HAProxy from Debian 12's own package (the haproxy images of a
#  registry are not needed), with deploy/haproxy.cfg. Built by `docker compose --profile front
#  build` from the deploy/ directory; runs as the package's unprivileged user haproxy.
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
COPY haproxy.cfg /etc/haproxy/haproxy.cfg
#  Fail the build, not the start, on a configuration this HAProxy does not accept.
RUN haproxy -c -q -f /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 43411
#  -W: master-worker, so a reload (SIGUSR2) re-reads the file; -db: stay in the foreground.
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
