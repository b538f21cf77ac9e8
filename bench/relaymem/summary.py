#!/usr/bin/env python3
"""Summarises a bench/relaymem/run.sh memory trace (OUT.mem.tsv).

    bench/relaymem/summary.py OUT.mem.tsv [EVERY_SECONDS [UNTIL_SECONDS]]

Prints a sample about every EVERY_SECONDS (default 30), up to
UNTIL_SECONDS after the relay started (default: the whole trace; give the
end of the generator's edit phase to leave out its drain), in MiB: RSS and
its parts (RssAnon, RssFile), glibc's C heap in use and freed-but-held,
the Go heap in use and the Go runtime's resident estimate (Sys − heap
released), loaded documents and unloads; then the bound of issue 10
(2 × Go heap in use + 64 MiB) against RSS over the last 3 minutes and
RSS's slope there (least squares, MiB/s), and, for traces that have it,
the slope of the heap the last collection marked live: what the relay
keeps, without the garbage that RSS and the heap in use carry until the
next collection.
"""
import csv
import sys

MIB = 1 << 20


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    every = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(sys.argv[1]) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("go_heap_inuse") not in (None, "", "0")]
    if not rows:
        sys.exit("no samples with /metrics readings")
    for r in rows:
        for k, v in r.items():
            r[k] = float(v)
    if len(sys.argv) > 3:
        rows = [r for r in rows if r["t"] <= float(sys.argv[3])]
    print("t s\tRSS\tanon\tfile\tC in use\tC free\tGo heap\tGo res\tdocs\tunloads\tbound\tload")
    nxt = 0.0
    for r in rows + [None]:
        if r is not None and r["t"] < nxt:
            continue
        if r is None:
            r = rows[-1]
        gores = r["go_sys"] - r["go_heap_released"]
        bound = 2 * r["go_heap_inuse"] + 64 * MIB
        print("%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%.0f\t%.1f" % (
            r["t"], r["rss"] / MIB, r["anon"] / MIB, r["file"] / MIB, r["cmem_inuse"] / MIB, r["cmem_free"] / MIB,
            r["go_heap_inuse"] / MIB, gores / MIB, r["docs_loaded"], r["unloads"], bound / MIB, r["load1"]))
        nxt = r["t"] + every
        if r is rows[-1]:
            break
    end = rows[-1]["t"]
    last = [r for r in rows if r["t"] >= end - 180]
    n = len(last)
    slope = slope_of(last, "rss")
    over = [r["rss"] - (2 * r["go_heap_inuse"] + 64 * MIB) for r in last]
    print("last 180 s (%d samples, t %.0f–%.0f): RSS %.0f–%.0f MiB, slope %+.2f MiB/s (%+.0f MiB over 180 s); "
          "RSS − bound %+.0f … %+.0f MiB (%d of %d samples over); C in use %.0f–%.0f MiB" % (
              n, last[0]["t"], end, min(r["rss"] for r in last) / MIB, max(r["rss"] for r in last) / MIB,
              slope, slope * 180, min(over) / MIB, max(over) / MIB, sum(1 for o in over if o > 0), n,
              min(r["cmem_inuse"] for r in last) / MIB, max(r["cmem_inuse"] for r in last) / MIB))
    if "go_heap_live" in last[0]:
        live = slope_of(last, "go_heap_live")
        print("last 180 s: Go heap live %.0f–%.0f MiB, slope %+.3f MiB/s (%+.0f MiB over 180 s)" % (
            min(r["go_heap_live"] for r in last) / MIB, max(r["go_heap_live"] for r in last) / MIB, live, live * 180))


def slope_of(rows, key):
    """The least-squares slope of rows' key over t, in MiB/s."""
    n = len(rows)
    mt = sum(r["t"] for r in rows) / n
    mv = sum(r[key] for r in rows) / n
    var = sum((r["t"] - mt) ** 2 for r in rows)
    return sum((r["t"] - mt) * (r[key] - mv) for r in rows) / var / MIB if var else 0.0


if __name__ == "__main__":
    main()
