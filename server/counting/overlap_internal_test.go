package counting

import (
	"errors"
	"testing"
	"time"
)

const allowMs = int64(OverlapAllowance / time.Millisecond)

// setOf returns a spanSet holding spans, added in order.
func setOf(floor int64, spans ...span) spanSet {
	s, _ := decodeSpans(nil)
	s.floor = floor
	for _, sp := range spans {
		s.add(sp.seq, sp.start, sp.end)
	}
	return s
}

// TestSpanOverlaps checks the overlap rule at its bounds: more than the
// allowance (the longest crossfade) against a kept stream of another seq
// or the floor overlaps, exactly the allowance does not, nor does the same
// seq (a retry) or a stream no longer than the allowance.
func TestSpanOverlaps(t *testing.T) {
	const s0 = 1_000_000
	a := span{seq: 1, start: s0, end: s0 + 40_000}
	b := span{seq: 2, start: s0 + 100_000, end: s0 + 200_000} // long, starts well after a
	set := setOf(0, a, b)
	for _, c := range []struct {
		name       string
		seq        uint64
		start, end int64
		want       bool
	}{
		{"same start", 9, s0, s0 + 40_000, true},
		{"same seq (retry)", 1, s0, s0 + 40_000, false},
		{"crossfade at the end", 9, s0 + 40_000 - allowMs, s0 + 80_000, false},
		{"1 ms more than a crossfade", 9, s0 + 40_000 - allowMs - 1, s0 + 80_000, true},
		{"crossfade into b", 9, s0 + 60_000, s0 + 100_000 + allowMs, false},
		{"1 ms more into b", 9, s0 + 60_000, s0 + 100_000 + allowMs + 1, true},
		{"inside b, started long after it", 9, s0 + 150_000, s0 + 190_000, true},
		{"no longer than a crossfade", 9, s0, s0 + allowMs, false},
		{"before everything", 9, s0 - 50_000, s0 - 10_000, false},
		{"after everything", 9, s0 + 200_000, s0 + 260_000, false},
	} {
		if got := set.overlaps(c.seq, c.start, c.end, allowMs); got != c.want {
			t.Errorf("%s: overlaps %v, want %v", c.name, got, c.want)
		}
	}
	floored := setOf(s0+40_000, b)
	for _, c := range []struct {
		start int64
		want  bool
	}{{s0 + 40_000 - allowMs, false}, {s0 + 40_000 - allowMs - 1, true}, {s0 - 1_000_000, true}} {
		if got := floored.overlaps(9, c.start, c.start+30_000, allowMs); got != c.want {
			t.Errorf("floor, start %d: overlaps %v, want %v", c.start, got, c.want)
		}
	}
}

// TestSpanTrim checks the state's bounds: streams that ended at or before
// the oldest acceptable start are dropped (and a floor there), and beyond
// MaxRecentStreams the earliest are dropped, their latest end becoming
// the floor that refuses plays overlapping them.
func TestSpanTrim(t *testing.T) {
	set := setOf(0)
	const n = MaxRecentStreams + 5
	for i := range int64(n) {
		set.add(uint64(i), 1_000_000+i*40_000, 1_000_000+i*40_000+30_000)
	}
	if !set.trim(0) || len(set.spans) != MaxRecentStreams || len(set.seqs) != MaxRecentStreams {
		t.Fatalf("%d spans, %d seqs after trim, want %d", len(set.spans), len(set.seqs), MaxRecentStreams)
	}
	if want := int64(1_000_000 + 4*40_000 + 30_000); set.floor != want || set.spans[0].seq != 5 {
		t.Fatalf("floor %d, first seq %d; want %d, 5", set.floor, set.spans[0].seq, want)
	}
	if !set.overlaps(0, 1_000_000, 1_030_000, allowMs) {
		t.Error("a play overlapping a dropped stream (its retry included) is not refused")
	}
	if set.trim(0) {
		t.Error("a second trim changed the set")
	}
	// Oldest acceptable start after the 10th stream's end: the floor and
	// the streams up to it go.
	oldest := int64(1_000_000 + 9*40_000 + 30_000)
	if !set.trim(oldest) || set.floor != 0 || len(set.spans) != n-10 || set.spans[0].seq != 10 {
		t.Errorf("after trim(%d): floor %d, %d spans from seq %d; want 0, %d from 10", oldest, set.floor, len(set.spans), set.spans[0].seq, n-10)
	}
	if set.add(10, 5, 6) {
		t.Error("a kept seq was added again")
	}
}

// TestSpanEncoding round-trips a set and refuses damaged encodings with
// ErrCorrupt.
func TestSpanEncoding(t *testing.T) {
	set := setOf(1_500_000, span{seq: 7, start: 2_000_000, end: 2_040_000}, span{seq: 3, start: 1_990_000, end: 2_001_000},
		span{seq: 8, start: 2_000_000, end: 2_020_000})
	set.day = 20_500
	b := set.encode()
	got, err := decodeSpans(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.day != set.day || got.floor != set.floor || len(got.spans) != 3 || got.maxLen != 40_000 {
		t.Fatalf("decoded %+v", got)
	}
	for i, sp := range []span{{3, 1_990_000, 2_001_000}, {7, 2_000_000, 2_040_000}, {8, 2_000_000, 2_020_000}} {
		if got.spans[i] != sp {
			t.Errorf("span %d: %+v, want %+v", i, got.spans[i], sp)
		}
	}
	tooMany := append([]byte{spanVersion, 1, 0}, 0x81, 0x10) // 2049 streams
	for name, bad := range map[string][]byte{
		"empty":         {},
		"version":       append([]byte{2}, b[1:]...),
		"truncated":     b[:len(b)-1],
		"trailing":      append(append([]byte{}, b...), 0),
		"too many":      tooMany,
		"no header":     {spanVersion},
		"long play":     {spanVersion, 0, 0, 1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"start too big": {spanVersion, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1},
	} {
		if _, err := decodeSpans(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
