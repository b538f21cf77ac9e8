#!/bin/bash
# A SAMPLER for bench/synccap/pinned.sh: every 10 s, while the relay runs,
# one line with the relay's keepalive counters, sync connections,
# long-lived connections and goroutines (from /metrics, admin token bench-admin-token-0123456789)
# and its RSS in KiB.
#
#   SAMPLER=bench/synccap/metrics.sh bench/synccap/pinned.sh SEGUE SYNCCAP OUT ...
set -u
pid=$1 port=$2
while kill -0 "$pid" 2>/dev/null; do
	m=$(curl -s -H 'Authorization: Bearer bench-admin-token-0123456789' "http://127.0.0.1:$port/metrics" |
		grep -E '^segue_sync_(keepalive|connections)|^segue_relay_long_lived_connections|^go_goroutines' | tr '\n' ' ')
	echo "$(date -u +%T) $m rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
	sleep 10
done
