package engine

import (
	"bytes"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/store"
)

// TestPrefetchHeads: Prefetch keeps each readied track's first headFrames
// frames decoded, and a track the player opens carries them (bit for bit
// what the player's decoder makes of its header and chunk 0); a track not
// readied carries none; a head is not used under another content key or
// after the key TTL; the heads are bounded by maxHeads; logging in again
// and Close drop them.
func TestPrefetchHeads(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, DefaultOptions().WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SignUp(ctx, "heads", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "heads", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Prefetch(ctx, model.TierHigh, r.Tracks[:3]); err != nil {
		t.Fatal(err)
	}
	if n := e.heads.Len(); n != 3 {
		t.Fatalf("%d heads after a Prefetch of 3 tracks", n)
	}
	head := func(id model.TrackID) []float32 {
		t.Helper()
		ts, err := Source{e}.OpenTrack(ctx, id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		return ts.(player.HeadSource).Head()
	}
	for _, id := range r.Tracks[:3] {
		ts, err := Source{e}.OpenTrack(ctx, id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		got := ts.(player.HeadSource).Head()
		hdr, err := ts.Header(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c0, err := ts.Chunk(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := ts.Manifest()
		ts.Close()
		want, err := player.DecodeHead(ctx, m, bytes.NewReader(append(hdr, c0...)), headFrames, player.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != headFrames*m.Channels || len(got) != len(want) {
			t.Fatalf("track %s: head of %d samples, want %d", id, len(got), len(want))
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("track %s: head sample %d is %v, the decoder's %v", id, i, got[i], want[i])
			}
		}
	}
	if h := head(r.Tracks[3]); h != nil {
		t.Fatal("a track not prefetched has a head")
	}

	// Another content key for the track: its head is not used.
	k := string(r.Tracks[0]) + "\x00" + string(model.TierHigh)
	e.mu.Lock()
	saved := e.keys[k]
	e.keys[k] = keyEntry{key: crypto.ContentKey{1}, expires: saved.expires}
	e.mu.Unlock()
	if h := head(r.Tracks[0]); h != nil {
		t.Fatal("a head was used under another content key")
	}
	e.mu.Lock()
	e.keys[k] = saved
	e.mu.Unlock()
	if h := head(r.Tracks[0]); h == nil {
		t.Fatal("the head is gone once the key is back")
	}

	// Bounded: more tracks readied than maxHeads.
	for _, tier := range []model.Tier{model.TierLow, model.TierNormal} {
		if err := e.Prefetch(ctx, tier, r.Tracks); err != nil {
			t.Fatal(err)
		}
	}
	if want := 3 + 2*len(r.Tracks); want <= maxHeads {
		t.Fatalf("the test readies %d heads, not more than the bound %d", want, maxHeads)
	}
	if n := e.heads.Len(); n != maxHeads {
		t.Fatalf("%d heads kept, want the bound %d", n, maxHeads)
	}

	// Logging in again (a new session) drops them.
	if err := e.Login(ctx, "heads", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if n := e.heads.Len(); n != 0 {
		t.Fatalf("%d heads after a new login", n)
	}

	// Expired with the key TTL.
	if err := e.Prefetch(ctx, model.TierHigh, r.Tracks[:1]); err != nil {
		t.Fatal(err)
	}
	if h := head(r.Tracks[0]); h == nil {
		t.Fatal("no head after a Prefetch")
	}
	mu.Lock()
	now = now.Add(e.opts.keyTTL)
	mu.Unlock()
	ts, err := Source{e}.OpenTrack(ctx, r.Tracks[0], model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	if h := ts.(player.HeadSource).Head(); h != nil {
		t.Fatal("a head was used after the key TTL")
	}
	ts.Close()

	mu.Lock()
	now = now.Add(-e.opts.keyTTL)
	mu.Unlock()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.heads.Len(); n != 0 {
		t.Fatalf("%d heads after Close", n)
	}
}
