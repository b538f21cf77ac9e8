#!/bin/bash
# Samples a running `segue relay` (started with --admin-token bench-admin-token-0123456789) every
# INTERVAL seconds (default 3) until it exits, one tab-separated line per
# sample: /proc/PID/status (VmRSS, RssAnon, RssFile, RssShmem), glibc's C
# heap and the Go runtime's figures from /metrics (the heap marked live by
# the last collection among them), loaded documents, unloads, CPU seconds,
# load average, and the compactions done so far as snapshots and as bundles
# (0 from relays older than those counters).
#
#   bench/relaymem/sample.sh RELAY_PID PORT
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 RELAY_PID PORT" >&2
	exit 2
fi
pid=$1 port=$2
interval=${INTERVAL:-3}
t0=$(date +%s.%N)
printf 't\trss\tanon\tfile\tshmem\tcmem_inuse\tcmem_free\tgo_heap_inuse\tgo_heap_sys\tgo_heap_released\tgo_sys\tgo_stack\tgoroutines\tdocs_loaded\tunloads\tcmem_unloads\tcpu_s\tgo_heap_live\tload1\tcompact_snapshots\tcompact_bundles\n'
while kill -0 "$pid" 2>/dev/null; do
	now=$(date +%s.%N)
	st=$(awk '/^VmRSS|^RssAnon|^RssFile|^RssShmem/ {printf "%d\t", $2*1024}' "/proc/$pid/status" 2>/dev/null) || break
	m=$(curl -s -m 2 -H 'Authorization: Bearer bench-admin-token-0123456789' "http://127.0.0.1:$port/metrics" | awk -v la="$(cut -d' ' -f1 /proc/loadavg)" '
		$1=="segue_cmem_in_use_bytes"{a=$2} $1=="segue_cmem_free_bytes"{b=$2}
		$1=="go_memstats_heap_inuse_bytes"{c=$2} $1=="go_memstats_heap_sys_bytes"{d=$2}
		$1=="go_memstats_heap_released_bytes"{e=$2} $1=="go_memstats_sys_bytes"{f=$2}
		$1=="go_memstats_stack_inuse_bytes"{g=$2} $1=="go_goroutines"{h=$2}
		$1=="segue_sync_documents_loaded"{i=$2} $1=="segue_sync_document_unloads_total"{j=$2}
		$1=="segue_sync_document_cmem_unloads_total"{l=$2} $1=="process_cpu_seconds_total"{k=$2}
		$1=="go_gc_heap_live_bytes"{m=$2}
		$1=="segue_sync_compaction_snapshots_total"{n=$2} $1=="segue_sync_compaction_bundles_total"{o=$2}
		END{printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
			a+0,b+0,c+0,d+0,e+0,f+0,g+0,h+0,i+0,j+0,l+0,k+0,m+0,la,n+0,o+0}')
	printf '%.1f\t%s%s\n' "$(echo "$now - $t0" | bc)" "$st" "$m"
	sleep "$interval"
done
