#!/usr/bin/env bash
# Runs edgebench (docs/BENCHMARKS.md, "Edge: throughput"): for each mode
# (files, relay, edge) RUNS times, the server pinned to core 1 and the load
# generator to core 0 (taskset), and prints the load average and one JSON
# line per run. Usage: bench/edgebench/run.sh [RUNS] [SECONDS] [CONNS]
set -euo pipefail
runs=${1:-3} secs=${2:-10} conns=${3:-16}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(mktemp -d)/edgebench
(cd "$here" && go build -o "$bin" ./bench/edgebench)
spec=$(mktemp)
for run in $(seq "$runs"); do
	for mode in files relay edge; do
		rm -f "$spec"
		taskset -c 1 "$bin" serve -mode "$mode" -spec "$spec" >/dev/null &
		pid=$!
		for _ in $(seq 600); do [ -s "$spec" ] && break; sleep 0.1; done
		[ -s "$spec" ] || { kill "$pid"; echo "edgebench: $mode did not start" >&2; exit 1; }
		echo "# run $run $mode: $(uptime)"
		taskset -c 0 "$bin" load -spec "$spec" -c "$conns" -d "${secs}s"
		kill "$pid"
		wait "$pid" || true
	done
done
rm -f "$spec" "$bin"
