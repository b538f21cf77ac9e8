#!/bin/bash
# A SAMPLER for pinned.sh: prints the relay's read and write system-call
# counts (/proc/PID/io syscr, syscw) once a second until the relay exits;
# the last line of OUT.sample holds the run's totals.
#
#   SAMPLER=bench/synccap/syscalls.sh bench/synccap/pinned.sh SEGUE SYNCCAP OUT [synccap flags...]
set -u
pid=$1
while kill -0 "$pid" 2>/dev/null; do
	l=$(grep -E '^sysc[rw]' "/proc/$pid/io" 2>/dev/null | tr '\n' ' ')
	[ -n "$l" ] && echo "$(date +%s) $l"
	sleep 1
done
