package engine

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/store"
)

// recordSink records what the player writes, at 48 kHz stereo (the
// demo album is 44.1 kHz: the output is resampled).
type recordSink struct {
	mu     sync.Mutex
	frames []float32
}

func (s *recordSink) Format() (int, int) { return 48000, 2 }

func (s *recordSink) Write(_ context.Context, f []float32) error {
	s.mu.Lock()
	s.frames = append(s.frames, f...)
	s.mu.Unlock()
	return nil
}

func (s *recordSink) Close() error { return nil }

func (s *recordSink) first(n int) []float32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.frames) < n {
		return nil
	}
	return slices.Clone(s.frames[:n])
}

// TestPlayFromMemory: OpenReady opens a prefetched track (manifest, key
// and head in memory) and declines one not prefetched, one whose key is
// not in memory and one whose head was made under another key; a play of
// a prefetched album has its first block written when PlayAlbum returns,
// and its first frames are those of a play that was not prefetched.
func TestPlayFromMemory(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	open := func(user string, prefetch bool) (*Engine, *recordSink) {
		n := 0
		if prefetch {
			n = 3
		}
		return prefetchedPlayer(t, r, user, n)
	}
	e, sink := open("ready", true)
	for _, tc := range []struct {
		name  string
		track model.TrackID
		key   *crypto.ContentKey // replaces the key in memory
		drop  bool               // forgets the key in memory
		want  bool
	}{
		{name: "prefetched", track: r.Tracks[0], want: true},
		{name: "not prefetched", track: r.Tracks[3]},
		{name: "key not in memory", track: r.Tracks[1], drop: true},
		{name: "head under another key", track: r.Tracks[2], key: &crypto.ContentKey{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := keyName(tc.track, model.TierHigh)
			e.mu.Lock()
			saved, had := e.keys[k]
			switch {
			case tc.drop:
				delete(e.keys, k)
			case tc.key != nil:
				e.keys[k] = keyEntry{key: *tc.key, expires: saved.expires}
			}
			e.mu.Unlock()
			defer func() {
				e.mu.Lock()
				if had {
					e.keys[k] = saved
				}
				e.mu.Unlock()
			}()
			ts, ok := Source{e}.OpenReady(tc.track, model.TierHigh)
			if ok != tc.want {
				t.Fatalf("OpenReady: %v, want %v", ok, tc.want)
			}
			if ok {
				if ts.(*track).head == nil {
					t.Fatal("opened from memory without its head")
				}
				ts.Close()
			}
		})
	}

	album := r.Album
	if err := e.PlayAlbum(ctx, album, 0); err != nil {
		t.Fatal(err)
	}
	const n = 4096 * 2
	if got := sink.first(1); got == nil {
		t.Fatal("no frames written when PlayAlbum of a prefetched album returned")
	}
	cold, coldSink := open("cold", false)
	if err := cold.PlayAlbum(ctx, album, 0); err != nil {
		t.Fatal(err)
	}
	sameFirst(t, sink, coldSink, n, "from memory", "not prefetched")
}

// prefetchedPlayer returns an engine on relay r signed up and in as user,
// with the first n tracks of the relay's album prefetched at the high
// tier, and its player over a recordSink; the engine closes with the test.
func prefetchedPlayer(t *testing.T, r *testbed.Relay, user string, n int) (*Engine, *recordSink) {
	t.Helper()
	ctx := t.Context()
	e, err := Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.SignUp(ctx, user, testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, user, testbed.Password); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if err := e.Prefetch(ctx, model.TierHigh, r.Tracks[:n]); err != nil {
			t.Fatal(err)
		}
	}
	sink := &recordSink{}
	if _, err := e.OpenPlayer(sink); err != nil {
		t.Fatal(err)
	}
	return e, sink
}

// sameFirst waits until both sinks hold n samples and fails unless those
// are bit-identical; a and b name the plays in the message.
func sameFirst(t *testing.T, sink, other *recordSink, n int, a, b string) {
	t.Helper()
	var got, want []float32
	for deadline := time.Now().Add(30 * time.Second); got == nil || want == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the plays wrote too little")
		}
		got, want = sink.first(n), other.first(n)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("sample %d: %v %s, %v %s", i, got[i], a, want[i], b)
		}
	}
}
