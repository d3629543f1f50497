#!/usr/bin/env bash
# install-deps.sh: make sure the servers the tests and the demo cluster use
# are installed: redis-server, redis-sentinel, redis-cli, nginx, chromium,
# prometheus (and its promtool).
#
# Usage: deploy/install-deps.sh [all|redis|nginx|chromium|prometheus]...   (default: all)
#
# As root on Debian/Ubuntu it installs what is missing with apt-get (one
# `apt-get update` first). Otherwise it prints the exact command to run and
# fails, so that nothing is silently skipped.
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(all)

missing=()
need() { # need <binary> <debian package>
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] || missing+=("$2")
}
for w in "${want[@]}"; do
	case "$w" in
	all) need redis-server redis-server; need redis-sentinel redis-sentinel; need redis-cli redis-tools
		need nginx nginx; need chromium chromium; need prometheus prometheus; need promtool prometheus ;;
	redis) need redis-server redis-server; need redis-sentinel redis-sentinel; need redis-cli redis-tools ;;
	nginx) need nginx nginx ;;
	chromium) need chromium chromium ;;
	prometheus) need prometheus prometheus; need promtool prometheus ;;
	*) echo "install-deps.sh: unknown component $w (want all, redis, nginx, chromium or prometheus)" >&2; exit 2 ;;
	esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Deduplicate.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "install-deps.sh: installing ${missing[*]} with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The Debian packages start their own services; stop them so that they
	# do not hold the default ports (tests and the demo use their own).
	for svc in redis-server redis-sentinel nginx prometheus prometheus-node-exporter; do
		if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
		if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
	done
	exit 0
fi
echo "install-deps.sh: missing ${missing[*]}; install them with:" >&2
echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
