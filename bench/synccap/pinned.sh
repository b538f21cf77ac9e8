#!/bin/bash
# Runs one synccap measurement the way docs/BENCHMARKS.md reports them: a
# fresh `segue relay` on its own data directory pinned to core 1, the
# generator pinned to core 0, output (with `uptime` before and after) in OUT.
#
#   bench/synccap/pinned.sh SEGUE_BINARY SYNCCAP_BINARY OUT [synccap flags...]
#
# Environment: PORT (default 8099), TIMEOUT (seconds the generator may run,
# default 900: raise it for runs past 14 minutes), RELAY_EXTRA (more relay
# flags, e.g. "--pprof 127.0.0.1:9099"), SAMPLER (a command run beside the generator
# as `$SAMPLER RELAY_PID PORT`, its output in OUT.sample; it ends when the
# relay does: bench/relaymem/run.sh uses it). The relay gets --admin-token
# bench-admin-token-0123456789, so pass -admin-token bench-admin-token-0123456789 to synccap to print the relay's Go heap.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 SEGUE SYNCCAP OUT [synccap flags...]" >&2
	exit 2
fi
seg=$1 cap=$2 out=$3
shift 3
port=${PORT:-8099}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# shellcheck disable=SC2086 # RELAY_EXTRA is a list of flags
taskset -c 1 "$seg" relay --data "$d/r" --init --insecure-fast-passwords --listen "127.0.0.1:$port" \
	--log-level warn --admin-token bench-admin-token-0123456789 ${RELAY_EXTRA:-} >"$d/relay.log" 2>&1 &
pid=$!
up=
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$port/" && up=1 && break
	sleep 0.2
done
if [ -z "$up" ]; then
	echo "relay did not start; its log:" >&2
	cat "$d/relay.log" >&2
	kill "$pid" 2>/dev/null
	exit 1
fi
{
	echo "## $(date -u +%H:%M:%S) $(uptime)"
	echo "## $seg ${RELAY_EXTRA:-} $*"
} >"$out"
spid=
if [ -n "${SAMPLER:-}" ]; then
	# shellcheck disable=SC2086 # SAMPLER may carry its own arguments
	$SAMPLER "$pid" "$port" >"$out.sample" &
	spid=$!
fi
timeout "${TIMEOUT:-900}" taskset -c 0 "$cap" -url "http://127.0.0.1:$port" -relay-pid "$pid" "$@" >>"$out" 2>&1
kill "$pid"
wait "$pid" 2>/dev/null
[ -n "$spid" ] && wait "$spid" 2>/dev/null
echo "## end $(uptime)" >>"$out"
tail -4 "$out"
