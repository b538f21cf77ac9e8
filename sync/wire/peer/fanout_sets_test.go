package peer

import (
	"runtime"
	"slices"
	"testing"

	"github.com/segue-fm/segue/sync/docs"
)

// watchOnly is a Repo for Fanout's own tests: the Fanout only watches
// it; the other methods are never called.
type watchOnly struct {
	Repo
	fn func(id docs.DocumentID)
}

func (w *watchOnly) Watch(fn func(id docs.DocumentID)) func() {
	w.fn = fn
	return func() { w.fn = nil }
}

// idleSessions returns n sessions registered with f (as Run would),
// not running: markDirty only marks.
func idleSessions(f *Fanout, n int) []*Session {
	ss := make([]*Session, n)
	for i := range ss {
		ss[i] = &Session{}
		ss[i].init()
		f.add(ss[i])
	}
	return ss
}

// TestFanoutFollowerSets: a document's followers live in a slice up to
// maxFewFollowers and in a set beyond; following twice, unfollowing
// (a session's removal) and change notifications behave alike on both
// sides of the switch, and a FollowAll session that also follows is
// woken once.
func TestFanoutFollowerSets(t *testing.T) {
	for _, tc := range []struct {
		name             string
		followers, leave int
	}{
		{"one", 1, 0},
		{"one leaves", 1, 1},
		{"few", maxFewFollowers, 3},
		{"just past few", maxFewFollowers + 1, 0},
		{"crowd shrinks", 3 * maxFewFollowers, 2*maxFewFollowers + 1},
		{"crowd empties", 2 * maxFewFollowers, 2 * maxFewFollowers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &watchOnly{}
			f := NewFanout(w)
			id, other := docs.DocumentID{1}, docs.DocumentID{2}
			ss := idleSessions(f, tc.followers)
			all := &Session{FollowAll: true}
			all.init()
			f.add(all)
			for _, s := range ss {
				f.follow(s, id)
				f.follow(s, id) // a second follow indexes nothing more
			}
			f.follow(all, id)
			for _, s := range ss[:tc.leave] {
				f.remove(s)
			}
			stay := append(slices.Clone(ss[tc.leave:]), all)
			if got := f.Followers(id); len(got) != len(stay) || !sameSessions(got, stay) {
				t.Fatalf("Followers = %d sessions, want the %d that stayed", len(got), len(stay))
			}
			if got := f.Followers(other); len(got) != 0 {
				t.Fatalf("Followers of an unfollowed document = %d, want 0", len(got))
			}
			w.fn(id)
			if got := f.Notified(); got != uint64(len(stay)) {
				t.Fatalf("one change woke %d, want %d (FollowAll once)", got, len(stay))
			}
			for _, s := range ss {
				s.mu.Lock()
				dirty := s.dirty[id]
				s.mu.Unlock()
				if want := !slices.Contains(ss[:tc.leave], s); dirty != want {
					t.Fatalf("session marked dirty = %v, want %v", dirty, want)
				}
			}
			f.remove(all)
			for _, s := range stay[:len(stay)-1] {
				f.remove(s)
			}
			if len(f.followers) != 0 || w.fn != nil {
				t.Fatalf("after every removal: %d few, %d crowds, watching %v", len(f.followers), len(f.crowds), w.fn != nil)
			}
		})
	}
}

func sameSessions(a, b []*Session) bool {
	for _, s := range b {
		if !slices.Contains(a, s) {
			return false
		}
	}
	return true
}

// BenchmarkFanoutFollowBytes reports the Go heap a follow costs: 10,000
// sessions each following 10 of 100,000 documents (one or two followers
// per document, the relay's idle-peer shape), Fanout index only
// (sessions themselves excluded).
func BenchmarkFanoutFollowBytes(b *testing.B) {
	const sessions, per, documents = 10_000, 10, 100_000
	for b.Loop() {
		b.StopTimer()
		f := NewFanout(&watchOnly{})
		ss := idleSessions(f, sessions)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for i, s := range ss {
			for k := range per {
				n := (i*per + k) % documents
				f.follow(s, docs.DocumentID{byte(n), byte(n >> 8), byte(n >> 16)})
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(sessions*per), "B/follow")
		runtime.KeepAlive(f)
		b.StartTimer()
	}
}
