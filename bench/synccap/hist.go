package main

import (
	"math/bits"
	"time"
)

// histSub is the number of sub-buckets per power of two above histSub
// µs: a recorded latency is kept within 1/histSub (1.6 %) of its value,
// below histSub µs exactly.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	// histBuckets covers every non-negative int64 of µs: histSub exact
	// buckets, then histSub per power of two from 2^histSubBits on.
	histBuckets = histSub + (63-histSubBits)*histSub
)

// hist is a fixed-size latency histogram (HDR-style, log-linear buckets
// of microseconds): its memory does not grow with the number of
// samples, so a run of any length records every latency. The zero
// value is empty and ready. It is not safe for concurrent use.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

// bucketOf returns the bucket of v µs (v ≥ 0).
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1 // v >> e is in [histSub, 2·histSub)
	return histSub + e*histSub + int(v>>e) - histSub
}

// bucketTop returns the largest µs value of bucket i.
func bucketTop(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	e := (i - histSub) / histSub
	top := uint64(histSub + (i-histSub)%histSub)
	return (top+1)<<e - 1
}

// record adds one latency; negative ones count as 0.
func (h *hist) record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

// count returns the number of latencies recorded.
func (h *hist) count() int { return int(h.n) }

// quantile returns the latency at quantile q (0 < q ≤ 1: the smallest
// recorded value with at least q of the samples at or below it, as the
// top of its bucket, so at most 1.6 % above the exact value and never
// above the maximum); q = 1 is the exact maximum, an empty histogram 0.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) || rank == 0 {
		rank++
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketTop(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// ms returns quantile q in milliseconds.
func (h *hist) ms(q float64) float64 {
	return float64(h.quantile(q).Microseconds()) / 1000
}
