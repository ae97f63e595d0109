#!/usr/bin/env bash
# Starts Debian's dockerd (docker.io) on roots of its own, for the benchmarks
# to compare against: `BENCH_DOCKER_HOST=unix:///tmp/ketch-bench-dockerd/docker.sock`.
# By default without bridge and iptables: the benchmarks touch nothing of the host's
# network. With BENCH_DOCKERD_BRIDGE=1 it runs in a network namespace of its own
# (ketch-bench-dockerd) with its default bridge and iptables there, so containers get
# docker0 as on any Docker host while the host's links and rules stay as they are.
# Stop it with: kill "$(cat /tmp/ketch-bench-dockerd/docker.pid)"; and with the bridge,
# `ip netns del ketch-bench-dockerd` afterwards. BENCH_DOCKERD_NETNS names another
# namespace, for a second dockerd beside this one (with a BENCH_DOCKERD_ROOT of its own).
# BENCH_DOCKERD_ARGS adds flags, e.g. BENCH_DOCKERD_ARGS="--insecure-registry 127.0.0.0/8
# --max-concurrent-downloads 6" (loopback registries are insecure to dockerd already).
set -euo pipefail
ROOT=${BENCH_DOCKERD_ROOT:-/tmp/ketch-bench-dockerd}
command -v dockerd >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}
mkdir -p "$ROOT"
if [ "${BENCH_DOCKERD_BRIDGE:-}" = 1 ]; then
    NETNS=${BENCH_DOCKERD_NETNS:-ketch-bench-dockerd}
    ip netns add "$NETNS" 2>/dev/null || true
    ip netns exec "$NETNS" ip link set lo up
    RUN=(nsenter --net="/run/netns/$NETNS")  # only the network: ip netns exec remounts /sys
    NET=()
else
    RUN=()
    NET=(--bridge=none --iptables=false --ip6tables=false)
fi
read -r -a EXTRA <<<"${BENCH_DOCKERD_ARGS:-}"
setsid "${RUN[@]}" dockerd --data-root "$ROOT/root" --exec-root "$ROOT/exec" \
    -H "unix://$ROOT/docker.sock" "${NET[@]}" "${EXTRA[@]}" --pidfile "$ROOT/docker.pid" \
    >"$ROOT/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 100); do
    [ -S "$ROOT/docker.sock" ] && docker -H "unix://$ROOT/docker.sock" version >/dev/null 2>&1 && break
    sleep 0.2
done
echo "unix://$ROOT/docker.sock"
