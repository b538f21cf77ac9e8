#!/usr/bin/env python3
"""Summarises bench/synccap/commitstats.sh samples: over the one-second
windows with at least 200 writes, the group commit's busy share of the
wall time, the mean wait of a write in the queue, the mean store Update
per batch, writes per batch and writes per second (means, and maxima of
the first three).

    bench/synccap/commitstats.py OUT.sample...
"""
import re
import sys

NAMES = ("batches", "writes", "wait_seconds", "busy_seconds")


def rows(path):
    out = []
    with open(path) as f:
        for line in f:
            if not line.startswith("T "):
                continue
            d = dict(re.findall(r"segue_sync_commit_(\w+)_total=([0-9.e+-]+)", line))
            if all(n in d for n in NAMES):
                out.append((float(line.split()[1]), {n: float(d[n]) for n in NAMES}))
    return out


def summary(path):
    r = rows(path)
    w = []
    for (t0, a), (t1, b) in zip(r, r[1:]):
        writes, batches = b["writes"] - a["writes"], b["batches"] - a["batches"]
        if writes < 200 or batches <= 0:
            continue
        busy = b["busy_seconds"] - a["busy_seconds"]
        w.append((busy / (t1 - t0), (b["wait_seconds"] - a["wait_seconds"]) / writes * 1e3,
                  busy / batches * 1e3, writes / batches, writes / (t1 - t0)))
    if not w:
        return f"{path}: no window with ≥ 200 writes"
    mean = [sum(x[i] for x in w) / len(w) for i in range(5)]
    top = [max(x[i] for x in w) for i in range(3)]
    return (f"{path}: {len(w)} s busy {mean[0]:.2f} (max {top[0]:.2f}) wait/write {mean[1]:.2f} ms "
            f"(max {top[1]:.2f}) update {mean[2]:.2f} ms (max {top[2]:.2f}) writes/batch {mean[3]:.1f} "
            f"writes/s {mean[4]:.0f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        print(summary(p))
