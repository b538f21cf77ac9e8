#!/bin/bash
# Runs one synccap measurement with bench/synccap/pinned.sh (a fresh
# `segue relay` on its own data directory pinned to core 1, the generator
# on core 0) and samples the relay's memory every INTERVAL seconds
# (bench/relaymem/sample.sh) into OUT.mem.tsv.
# bench/relaymem/summary.py OUT.mem.tsv prints the breakdown.
#
#   bench/relaymem/run.sh SEGUE_BINARY SYNCCAP_BINARY OUT [synccap flags...]
#
# Environment: PORT (default 8131), INTERVAL (default 3), RELAY_EXTRA
# (more relay flags, e.g. "--sync-cmem-mib 0"). The relay gets
# --admin-token bench-admin-token-0123456789; pass -admin-token bench-admin-token-0123456789 to synccap as well.
set -u
if [ $# -lt 3 ]; then
	echo "usage: $0 SEGUE SYNCCAP OUT [synccap flags...]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$3
PORT=${PORT:-8131} SAMPLER="$here/sample.sh" "$here/../synccap/pinned.sh" "$@" || exit
mv "$out.sample" "$out.mem.tsv"
