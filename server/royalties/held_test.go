package royalties

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// TestComputeHeld: a flagged account's streams leave the divisor (the
// pool is split over the rest) and are listed, sorted; over-holding is an
// error; the inputs are not changed.
func TestComputeHeld(t *testing.T) {
	streams := map[model.TrackID]uint64{"a": 10, "b": 5, "c": 3}
	held := map[model.UserID]map[model.TrackID]uint64{"bot2": {"c": 3}, "bot1": {"b": 4, "a": 0}}
	st, h, err := ComputeHeld("2026-11", eur, 1000, streams, held)
	if err != nil {
		t.Fatal(err)
	}
	if st.Streams != 11 || h.Streams != 7 {
		t.Fatalf("counted %d held %d, want 11 and 7", st.Streams, h.Streams)
	}
	// 1000 cents over the 11 unflagged streams: a 10 of them, b 1.
	var sum int64
	for _, l := range st.Tracks {
		sum += l.Minor
		switch l.Track {
		case "a":
			if l.Streams != 10 || l.Minor != 909 {
				t.Errorf("a: %d streams %d cents, want 10 and 909", l.Streams, l.Minor)
			}
		case "b":
			if l.Streams != 1 || l.Minor != 91 {
				t.Errorf("b: %d streams %d cents, want 1 and 91", l.Streams, l.Minor)
			}
		default:
			t.Errorf("track %s paid (c has only held streams)", l.Track)
		}
	}
	if sum != 1000 {
		t.Errorf("amounts sum to %d cents, want 1000", sum)
	}
	want := []HeldLine{{"bot1", "b", 4}, {"bot2", "c", 3}}
	if len(h.Lines) != len(want) || h.Lines[0] != want[0] || h.Lines[1] != want[1] {
		t.Errorf("held lines %+v, want %+v", h.Lines, want)
	}
	if streams["b"] != 5 || streams["c"] != 3 {
		t.Error("ComputeHeld changed its input")
	}
	if got, want := string(h.CSV("2026-11")), "month,user,track,streams\n2026-11,bot1,b,4\n2026-11,bot2,c,3\n"; got != want {
		t.Errorf("csv %q, want %q", got, want)
	}
	if _, _, err := ComputeHeld("2026-11", eur, 1000, streams, map[model.UserID]map[model.TrackID]uint64{"x": {"a": 11}}); !errors.Is(err, ErrHeldExceeds) {
		t.Errorf("over-holding: %v, want ErrHeldExceeds", err)
	}
	plain := Compute("2026-11", eur, 1000, streams)
	same, h0, err := ComputeHeld("2026-11", eur, 1000, streams, nil)
	if err != nil || h0.Streams != 0 || len(same.Tracks) != len(plain.Tracks) || same.Streams != plain.Streams {
		t.Errorf("no holds: %+v %+v %v, want %+v", same, h0, err, plain)
	}
}

// TestHeldCSVQuotes: user ids that need CSV quoting get it.
func TestHeldCSVQuotes(t *testing.T) {
	h := Held{Lines: []HeldLine{{`a,"b"`, "t", 1}}}
	if got, want := string(h.CSV("2026-11")), "month,user,track,streams\n2026-11,\"a,\"\"b\"\"\",t,1\n"; got != want {
		t.Errorf("csv %q, want %q", got, want)
	}
}
