#!/usr/bin/env bash
# The Debian packages the monitoring tests run (packages/cli/test/prometheus-e2e.test.ts and
# observability.test.ts): prometheus (2.42 on Debian 12, with promtool), prometheus-pushgateway
# and prometheus-node-exporter. Run as root (or with sudo) by .ci/run and the CI workflow.
# Their services must not start: they would take ports 9090/9091/9100 and run for good. A
# policy-rc.d that denies every start is in place during the install (the usual one of Debian
# container images is kept; one this script adds is removed afterwards). The tests run their own
# instances on free 127.0.0.1 ports with temp directories.
set -euo pipefail

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

policy=/usr/sbin/policy-rc.d
added=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# added by ora-db scripts/install-monitoring.sh for the install only\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added=1
fi
cleanup() { if [ -n "$added" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

log=$(mktemp)
echo "install-monitoring: apt-get install prometheus prometheus-pushgateway prometheus-node-exporter (log: $log)" >&2
if ! { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends \
  prometheus prometheus-pushgateway prometheus-node-exporter; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "install-monitoring: apt-get failed; full log in $log" >&2
  exit 1
fi

# A host where the services were already running (or started anyway): stop them, they are not ours to keep.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl stop prometheus prometheus-pushgateway prometheus-node-exporter 2>/dev/null || true
fi
for binary in promtool prometheus prometheus-pushgateway prometheus-node-exporter; do
  command -v "$binary" >/dev/null || { echo "install-monitoring: $binary missing after the install" >&2; exit 1; }
done
echo "install-monitoring: $(prometheus --version 2>&1 | head -n 1)" >&2
