package main

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
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

// TestAppendEntryIsPlaylistAdd checks that the generator's edit is the
// change docs.Playlist.Add(AtEnd) makes: from the same document, actor,
// clock and random bytes, both commits save to the same bytes, over a
// playlist with entries and after a collaborator's concurrent append
// merged in (the device's last known position is the largest).
func TestAppendEntryIsPlaylistAdd(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	seed := func(n uint64) *bytes.Reader {
		b := make([]byte, 256)
		r := rand.New(rand.NewPCG(n, n))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return bytes.NewReader(b)
	}
	base := automerge.New()
	pl, err := docs.CreatePlaylist(base, "alice", "p", docs.DefaultOptions().WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Add(docs.AtEnd(), "alice", "t0", "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	other, err := base.Fork()
	if err != nil {
		t.Fatal(err)
	}
	opl, err := docs.OpenPlaylist(other, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opl.Add(docs.AtEnd(), "bob", "tb"); err != nil {
		t.Fatal(err)
	}
	if _, err := base.Merge(other); err != nil {
		t.Fatal(err)
	}
	es, err := docs.OpenPlaylist(base, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := es.Entries()
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1].Pos
	saved := base.Save()
	for i := range 3 {
		viaAdd, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		viaGen, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		actor := automerge.NewActorID()
		if err := viaAdd.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		if err := viaGen.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		p, err := docs.OpenPlaylist(viaAdd, docs.DefaultOptions().WithClock(func() time.Time { return at }).WithRand(seed(uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Add(docs.AtEnd(), "carol", model.TrackID("tc")); err != nil {
			t.Fatal(err)
		}
		pos, err := appendEntry(viaGen, last, "carol", "tc", at, seed(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ha, hg := viaAdd.Heads(), viaGen.Heads()
		if len(ha) != 1 || len(hg) != 1 || ha[0] != hg[0] {
			t.Fatalf("heads after Add %v, after appendEntry %v", ha, hg)
		}
		ca, err := viaAdd.Change(ha[0])
		if err != nil {
			t.Fatal(err)
		}
		cg, err := viaGen.Change(hg[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ca.Save(), cg.Save()) {
			t.Fatal("appendEntry's change differs from Playlist.Add's")
		}
		got, err := docs.OpenPlaylist(viaGen, docs.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		ge, err := got.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(ge); n != len(entries)+1 || ge[n-1].Track != "tc" || ge[n-1].Pos != pos || ge[n-1].AddedBy != "carol" {
			t.Fatalf("entries after appendEntry: %+v (position %q)", ge, pos)
		}
	}
}

// TestVerdict checks when a run is reported as generator-bound.
func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     verdict
		bound bool
		says  string
	}{
		{"idle", verdict{cores: 0.2, lagP99: time.Millisecond}, false, "generator not the limit"},
		{"just under", verdict{cores: 0.89, lagP99: genBoundLag}, false, "generator not the limit"},
		{"CPU at the bound", verdict{cores: 0.9, lagP99: time.Millisecond}, true, "CPU 0.90 ≥ 0.9 core"},
		{"schedule behind", verdict{cores: 0.5, lagP99: genBoundLag + time.Millisecond}, true, "schedule lag p99"},
		{"both", verdict{cores: 0.98, lagP99: 3 * time.Second}, true, "CPU 0.98 ≥ 0.9 core, schedule lag p99 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v.bound() != tc.bound {
				t.Fatalf("bound() = %v, want %v", tc.v.bound(), tc.bound)
			}
			s := tc.v.String()
			if !strings.Contains(s, tc.says) || strings.HasPrefix(s, "GENERATOR-BOUND") != tc.bound {
				t.Fatalf("String() = %q, want it to say %q (bound %v)", s, tc.says, tc.bound)
			}
		})
	}
}
