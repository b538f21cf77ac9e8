package player

import (
	"errors"
	"testing"
)

// TestPublishKeepsWarnings: a subscriber that stops reading loses the
// oldest progress updates, never a warning or an error, and always gets
// the newest update. Before, the oldest update went whatever it carried:
// `segue play --out` writing faster than it printed lost an "effect
// removed" warning under load.
func TestPublishKeepsWarnings(t *testing.T) {
	warn := errors.New("warning")
	for _, tc := range []struct {
		name   string
		before int // progress updates published before the warning
		after  int // and after it
	}{
		{"warning oldest in a full buffer", 0, 200},
		{"warning in the middle", 30, 200},
		{"warning newest", 500, 0},
		{"buffer never full", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := make(chan Status, 64)
			p := &Player{subs: map[int]chan Status{0: c}}
			pos := 0
			progress := func(n int) {
				for range n {
					pos++
					p.publish(Status{Index: pos})
				}
			}
			progress(tc.before)
			p.publish(Status{Index: -1, Err: warn})
			progress(tc.after)
			var got []Status
			for len(c) > 0 {
				got = append(got, <-c)
			}
			warnings, last := 0, got[len(got)-1]
			for i, st := range got {
				if st.Err != nil {
					warnings++
				} else if i > 0 && got[i-1].Err == nil && st.Index <= got[i-1].Index {
					t.Fatalf("updates out of order: %d after %d", st.Index, got[i-1].Index)
				}
			}
			if warnings != 1 {
				t.Fatalf("got %d warnings in %d updates, want 1", warnings, len(got))
			}
			if want := pos; (tc.after > 0 && last.Index != want) || (tc.after == 0 && last.Err == nil) {
				t.Fatalf("newest update %+v, want index %d (after %d) or the warning", last, want, tc.after)
			}
		})
	}
}
