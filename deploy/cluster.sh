#!/usr/bin/env bash
# cluster.sh: run the stickless demo in its real topology, in the foreground,
# all on 127.0.0.1: Redis (standalone with AOF, a Sentinel set, or a
# Cluster; authenticated), several cmd/whatsup instances sharing it, nginx
# round-robin in front, and Prometheus scraping the instances when they
# serve metrics. `make cluster` runs it.
#
#   browser ──> nginx 127.0.0.1:8080 ──round-robin──> whatsup i1 127.0.0.1:8001 ─┐
#                                                 ├─> whatsup i2 127.0.0.1:8002 ─┼─> Redis from 127.0.0.1:6390
#                                                 └─> whatsup i3 127.0.0.1:8003 ─┘
#
# This script only installs the servers and builds and runs
# cmd/stickless-cluster, which starts everything through internal/topology
# (the harness the e2e tests and the soak use too) and prints the topology.
# Ctrl-C (SIGINT) or SIGTERM stops every process it started. An instance
# or Redis that dies meanwhile is reported and the rest runs on (try it:
# kill the pid of i2 and keep reloading the page); nginx dying stops
# everything.
#
# Environment (defaults in brackets):
#   STICKLESS_REDIS_MODE     standalone: one Redis with AOF;
#                            sentinel: a master, two replicas, three Sentinels;
#                            cluster: three masters, each with a replica
#                            [standalone]
#   STICKLESS_HTTP_PORT      nginx's port [8080]
#   STICKLESS_INSTANCES      how many whatsup instances, i1..iN [3]
#   STICKLESS_APP_PORT_BASE  port of i1; iK listens on base+K-1 [8001]
#   STICKLESS_REDIS_PORT     port of the Redis the script starts; in sentinel
#                            and cluster modes the first of consecutive ports
#                            (master, replicas; sentinels on +20000) [6390]
#   STICKLESS_REDIS_URL      use this existing Redis, Sentinel or Cluster
#                            instead of starting one, e.g.
#                            redis://:pw@10.0.0.5:6379/0,
#                            redis://10.0.0.7:26379?addr=10.0.0.8:26379&master_set=mymaster,
#                            redis://10.0.0.8:7000?addr=10.0.0.9:7000 [""]
#   STICKLESS_STATE_DIR      where the secrets, the Redis passwords, the
#                            standalone Redis's AOF and the logs are kept
#                            between runs (0700) [deploy/.state]
#   STICKLESS_APP_FLAGS      more whatsup flags for every instance, e.g.
#                            "-idle-timeout 5m -store-timeout 500ms" [""]
#   STICKLESS_APP_PKG        the Go package built as the instance binary,
#                            relative to the repository; one in another
#                            module (e.g. a Prometheus-enabled demo under
#                            prom/) is built in that module [./cmd/whatsup]
#   STICKLESS_APP_BIN        a prebuilt instance binary instead [""]
#   STICKLESS_METRICS_FLAG   the instance flag that takes a metrics address;
#                            used when the binary's -h lists it; "none" for
#                            no metrics [-metrics-addr]
#   STICKLESS_METRICS_PORT_BASE  metrics port of i1; iK's is base+K-1 [9101]
#   STICKLESS_PROMETHEUS     0 to start no Prometheus [1]
#   STICKLESS_PROMETHEUS_PORT  Prometheus's port [9090]
#   GO                       the go command [go]
#
# Generated once into $STICKLESS_STATE_DIR, mode 0600, and read by every
# run: the signing keys (secrets, one per line, the first signs), so that
# sessions survive a restart of the script; the password of the Redis ACL
# user "admin" (redis-admin-password) and of "stickless", the instances'
# user (redis-password). Redis's default user is off: redis-cli without
# credentials gets NOAUTH.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
go=${GO:-go}
state=${STICKLESS_STATE_DIR:-$here/.state}

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# The servers: install them (as root, with apt) or say what to install.
components=(nginx)
[ -z "${STICKLESS_REDIS_URL:-}" ] && components+=(redis)
bash "$here/install-deps.sh" "${components[@]}" || die "install the packages above, then run make cluster again"
# Prometheus is optional: without it, make cluster runs without it.
if [ "${STICKLESS_PROMETHEUS:-1}" != 0 ]; then
	bash "$here/install-deps.sh" prometheus || say "going on without Prometheus"
fi
command -v "$go" >/dev/null 2>&1 || die "the go command ($go) is not on PATH: install Go 1.26 (https://go.dev/dl/)"

mkdir -p "$state/bin"
chmod 700 "$state"
(cd "$root" && "$go" build -o "$state/bin/stickless-cluster" ./cmd/stickless-cluster) || die "building cmd/stickless-cluster failed"
cd "$root"
exec "$state/bin/stickless-cluster"
