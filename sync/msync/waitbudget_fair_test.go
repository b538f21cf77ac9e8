package msync

import (
	"errors"
	"fmt"
	"testing"
)

// TestWaitBudgetFair: eight writers at their own limit used to fill the
// budget of all writers, after which every other writer's changes that
// would wait were refused until it freed. With part of the total kept
// for writers within their floor (NewFairWaitBudget,
// NewFloorWaitBudget), heavy writers are refused once their bytes past
// their floors reach the rest, and a light writer is still admitted;
// the total stays a hard bound, and what is returned frees room for
// heavy writers again. Units are bytes of fake writers' charges.
func TestWaitBudgetFair(t *testing.T) {
	const (
		total, reserved = 128, 32
		writer, floor   = 16, 1
	)
	type step struct {
		writer  string
		n       int64 // < 0: release -n
		refused bool
	}
	heavy := func(refusedFrom int) []step {
		var s []step
		for i := range 8 {
			s = append(s, step{fmt.Sprintf("heavy%d", i), writer, i >= refusedFrom})
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		// 8 × 15 past the floor > 96: the seventh is refused.
		{"heavy writers leave room for light ones", append(heavy(6),
			step{"light", 1, false},
			step{"light2", 1, false},
		)},
		{"a light writer going past its floor is heavy", append(heavy(6),
			step{"light", floor, false},
			step{"light", 7, true}, // 90 + 7 past floors > 96
			step{"light", 6, false},
		)},
		{"heavy writers' floors fit in the reserve", append(heavy(6),
			step{"heavy6", floor, false},
			step{"heavy7", floor, false},
			step{"heavy7", 7, true},
			step{"heavy7", 6, false},
		)},
		{"the total stays a hard bound", func() []step {
			s := heavy(6)
			// 6 × 16 = 96 held; 32 more light writers fill the total.
			for i := range 32 {
				s = append(s, step{fmt.Sprintf("light%d", i), floor, false})
			}
			return append(s, step{"light32", 1, true})
		}()},
		{"returned bytes admit heavy writers again", append(heavy(6),
			step{"heavy0", -writer, false},
			step{"heavy6", writer, false},
			step{"heavy7", writer, true},
		)},
		{"a writer's own limit", []step{
			{"a", writer, false},
			{"a", 1, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := NewFairWaitBudget(total, reserved)
			writers := map[string]*WaitBudget{}
			for i, s := range tc.steps {
				w := writers[s.writer]
				if w == nil {
					w = NewFloorWaitBudget(writer, floor, all)
					writers[s.writer] = w
				}
				before := all.Stats()
				var err error
				if s.n < 0 {
					w.release(-s.n, 0)
				} else {
					err = w.reserve(s.n)
				}
				if got := err != nil; got != s.refused {
					t.Fatalf("step %d (%s %d): error %v, want refused %v", i, s.writer, s.n, err, s.refused)
				}
				if err != nil {
					if !errors.Is(err, ErrWaitBudget) {
						t.Fatalf("step %d: error %v does not match ErrWaitBudget", i, err)
					}
					if all.Stats() != before {
						t.Fatalf("step %d: refused charge changed the budget: %+v → %+v", i, before, all.Stats())
					}
				}
				st := all.Stats()
				sum, holders, past := int64(0), 0, int64(0)
				for _, w := range writers {
					u := w.Used()
					if u > writer {
						t.Fatalf("step %d: a writer holds %d bytes, limit %d", i, u, writer)
					}
					sum += u
					past += max(u-floor, 0)
					if u > 0 {
						holders++
					}
				}
				if st.Bytes != sum || st.Holders != holders {
					t.Fatalf("step %d: total %+v, writers hold %d bytes, %d of them any", i, st, sum, holders)
				}
				if st.Bytes > total || past > total-reserved {
					t.Fatalf("step %d: %d bytes, %d past floors: limits %d and %d", i, st.Bytes, past, total, total-reserved)
				}
			}
		})
	}
}
