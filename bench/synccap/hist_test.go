package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistQuantiles checks the histogram's quantiles against the exact
// nearest-rank values of the same samples: exact below 64 µs, within
// 1/64 above, never below the exact value, and the exact maximum at 1.
func TestHistQuantiles(t *testing.T) {
	us := func(v int) time.Duration { return time.Duration(v) * time.Microsecond }
	rng := rand.New(rand.NewPCG(1, 2))
	var wide []time.Duration
	for range 100000 {
		wide = append(wide, time.Duration(rng.ExpFloat64()*float64(20*time.Millisecond)))
	}
	// nearest: the want of a case that expects the exact nearest-rank
	// value of its samples, within 1/64.
	const nearest = time.Duration(-1)
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, .5, 0},
		{"one", []time.Duration{us(7)}, .5, us(7)},
		{"small exact p50", []time.Duration{us(1), us(2), us(3), us(4)}, .5, us(2)},
		{"small exact p75", []time.Duration{us(1), us(2), us(3), us(4)}, .75, us(3)},
		{"small exact p99", []time.Duration{us(1), us(2), us(3), us(4)}, .99, us(4)},
		{"max is exact", []time.Duration{us(10), 1234567 * time.Nanosecond}, 1, 1234567 * time.Nanosecond},
		{"top bucket capped by max", []time.Duration{us(1000)}, .5, us(1000)},
		{"negative counts as zero", []time.Duration{-time.Second}, .5, 0},
		{"hours", []time.Duration{3 * time.Hour, 5 * time.Hour}, .5, nearest},
		{"wide p50", wide, .5, nearest},
		{"wide p90", wide, .9, nearest},
		{"wide p99", wide, .99, nearest},
		{"wide p999", wide, .999, nearest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hist
			for _, d := range tc.samples {
				h.record(d)
			}
			if h.count() != len(tc.samples) {
				t.Fatalf("count %d, want %d", h.count(), len(tc.samples))
			}
			got := h.quantile(tc.q)
			want := tc.want
			if want == nearest {
				s := slices.Clone(tc.samples)
				slices.Sort(s)
				rank := int(tc.q*float64(len(s)) + 0.999999999)
				want = s[max(rank, 1)-1].Truncate(time.Microsecond)
			}
			if got < want || float64(got-want) > float64(want)/64+float64(time.Microsecond) {
				t.Fatalf("quantile(%v) = %v, want %v (within 1/64 above)", tc.q, got, want)
			}
		})
	}
}

// TestHistBuckets checks that every bucket's top maps back to it and
// the next value to the next bucket, across the whole range.
func TestHistBuckets(t *testing.T) {
	for i := range histBuckets - 1 {
		top := bucketTop(i)
		if bucketOf(top) != i || bucketOf(top+1) != i+1 {
			t.Fatalf("bucket %d: top %d in bucket %d, top+1 in %d", i, top, bucketOf(top), bucketOf(top+1))
		}
	}
	if got := bucketOf(1<<63 - 1); got != histBuckets-1 {
		t.Fatalf("largest value in bucket %d, want %d", got, histBuckets-1)
	}
}
