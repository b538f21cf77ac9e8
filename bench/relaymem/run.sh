#!/bin/bash
# Runs one synccap measurement like bench/synccap/pinned.sh (a fresh
# `segue relay` on its own data directory pinned to core 1, the generator
# on core 0) and samples the relay's memory every INTERVAL seconds into
# OUT.mem.tsv: /proc/PID/status (RssAnon, RssFile, RssShmem), glibc's C
# heap and the Go runtime's figures from /metrics, loaded documents.
# bench/relaymem/summary.py OUT.mem.tsv prints the breakdown.
#
#   bench/relaymem/run.sh SEGUE_BINARY SYNCCAP_BINARY OUT [synccap flags...]
#
# Environment: PORT (default 8131), INTERVAL (default 3), RELAY_EXTRA
# (more relay flags, e.g. "--sync-cmem-mib 0"). The relay gets
# --admin-token adm; pass -admin-token adm to synccap as well.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 SEGUE SYNCCAP OUT [synccap flags...]" >&2
	exit 2
fi
seg=$1 cap=$2 out=$3
shift 3
port=${PORT:-8131}
interval=${INTERVAL:-3}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
# shellcheck disable=SC2086 # RELAY_EXTRA is a list of flags
taskset -c 1 "$seg" relay --data "$d/r" --init --insecure-fast-passwords --listen "127.0.0.1:$port" \
	--log-level warn --admin-token adm ${RELAY_EXTRA:-} >"$d/relay.log" 2>&1 &
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
sample() {
	local t0 now st m
	t0=$(date +%s.%N)
	printf 't\trss\tanon\tfile\tshmem\tcmem_inuse\tcmem_free\tgo_heap_inuse\tgo_heap_sys\tgo_heap_released\tgo_sys\tgo_stack\tgoroutines\tdocs_loaded\tunloads\tcmem_unloads\tcpu_s\tload1\n'
	while kill -0 "$pid" 2>/dev/null; do
		now=$(date +%s.%N)
		st=$(awk '/^VmRSS|^RssAnon|^RssFile|^RssShmem/ {printf "%d\t", $2*1024}' "/proc/$pid/status" 2>/dev/null) || break
		m=$(curl -s -m 2 -H 'Authorization: Bearer adm' "http://127.0.0.1:$port/metrics" | awk '
			$1=="segue_cmem_in_use_bytes"{a=$2} $1=="segue_cmem_free_bytes"{b=$2}
			$1=="go_memstats_heap_inuse_bytes"{c=$2} $1=="go_memstats_heap_sys_bytes"{d=$2}
			$1=="go_memstats_heap_released_bytes"{e=$2} $1=="go_memstats_sys_bytes"{f=$2}
			$1=="go_memstats_stack_inuse_bytes"{g=$2} $1=="go_goroutines"{h=$2}
			$1=="segue_sync_documents_loaded"{i=$2} $1=="segue_sync_document_unloads_total"{j=$2}
			$1=="segue_sync_document_cmem_unloads_total"{l=$2} $1=="process_cpu_seconds_total"{k=$2}
			END{printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", a+0,b+0,c+0,d+0,e+0,f+0,g+0,h+0,i+0,j+0,l+0,k+0}')
		printf '%.1f\t%s%s\t%s\n' "$(echo "$now - $t0" | bc)" "$st" "$m" "$(cut -d' ' -f1 /proc/loadavg)"
		sleep "$interval"
	done
}
sample >"$out.mem.tsv" &
spid=$!
timeout 900 taskset -c 0 "$cap" -url "http://127.0.0.1:$port" -relay-pid "$pid" "$@" >>"$out" 2>&1
kill "$pid"
wait "$pid" 2>/dev/null
wait "$spid" 2>/dev/null
echo "## end $(uptime)" >>"$out"
tail -4 "$out"
