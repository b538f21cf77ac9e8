#!/bin/bash
# Samples the group commit's counters of a running `segue relay` (started
# with --admin-token bench-admin-token-0123456789) every second until it exits, one line per
# sample: "T <unix time> segue_sync_commit_<name>_total=<value> …" for
# batches, writes, wait_seconds and busy_seconds. Use it as pinned.sh's
# SAMPLER; bench/synccap/commitstats.py OUT.sample summarises it.
#
#   bench/synccap/commitstats.sh RELAY_PID PORT
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 RELAY_PID PORT" >&2
	exit 2
fi
pid=$1 port=$2
while kill -0 "$pid" 2>/dev/null; do
	m=$(curl -s -m 2 -H 'Authorization: Bearer bench-admin-token-0123456789' "http://127.0.0.1:$port/metrics" |
		awk '$1 ~ /^segue_sync_commit_(batches|writes|wait_seconds|busy_seconds)_total$/ {printf "%s=%s ", $1, $2}')
	echo "T $(date +%s.%N) $m"
	sleep 1
done
