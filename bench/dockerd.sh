#!/usr/bin/env bash
# Starts Debian's dockerd (docker.io) on roots of its own, for the benchmarks
# to compare against: `BENCH_DOCKER_HOST=unix:///tmp/ketch-bench-dockerd/docker.sock`.
# No bridge and no iptables: the benchmarks touch nothing of the host's network.
# Stop it with: kill "$(cat /tmp/ketch-bench-dockerd/docker.pid)"
set -euo pipefail
ROOT=${BENCH_DOCKERD_ROOT:-/tmp/ketch-bench-dockerd}
command -v dockerd >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}
mkdir -p "$ROOT"
setsid dockerd --data-root "$ROOT/root" --exec-root "$ROOT/exec" -H "unix://$ROOT/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --pidfile "$ROOT/docker.pid" \
    >"$ROOT/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 100); do
    [ -S "$ROOT/docker.sock" ] && docker -H "unix://$ROOT/docker.sock" version >/dev/null 2>&1 && break
    sleep 0.2
done
echo "unix://$ROOT/docker.sock"
