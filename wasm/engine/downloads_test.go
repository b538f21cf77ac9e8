package engine_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// devClock is the device's wall and monotonic clock, moved by the test.
type devClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (c *devClock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *devClock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *devClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
}

// TestDownloadPlaysOffline downloads the demo album through the web
// engine (blobs and license in the "IndexedDB" store, the blob cache in
// memory), stops the relay, opens a new engine over the same persistent
// store and key store (a page reload), and plays the album: the output
// equals what the engine played online. Then the license runs out as on
// native: playable in the 48 h grace, ErrLicenseExpired after it. The
// persistent store holds no Ogg page and no content key.
func TestDownloadPlaysOffline(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	popts := player.DefaultOptions().WithTier(model.TierLow)
	persist := store.NewMemory() // IndexedDB in the page
	ks := &crypto.MemoryKeyStore{}
	clk := &devClock{wall: time.Now(), mono: time.Hour}
	dopts := download.DefaultOptions().WithClock(clk.Wall, clk.Mono, "page").WithRenewAhead(0)
	open := func() *engine.Engine {
		e, err := engine.Open(ctx, r.URL, engine.NewSplit(persist, store.NewMemory(), engine.CachePrefixes...), ks,
			engine.DefaultOptions().WithPlayer(popts).WithClock(clk.Wall))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	e := open()
	if err := e.SignUp(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	dl, err := e.OpenDownloads(ctx, persist, dopts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenDownloads(ctx, persist, dopts); !errors.Is(err, engine.ErrDownloadsOpen) {
		t.Fatalf("second OpenDownloads = %v", err)
	}
	if err := dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(r.Album), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TracksDone != len(r.Tracks) || len(st.Licenses) != 1 {
		t.Fatalf("status %+v", st)
	}
	until := st.Licenses[0].Until
	if g := until.Sub(st.Licenses[0].Expires); g != 48*time.Hour {
		t.Fatalf("grace %s, want 48h", g)
	}
	var keys [][]byte
	for _, id := range r.Tracks {
		k, err := dl.ContentKey(ctx, id, model.TierLow)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, append([]byte(nil), k[:]...))
	}
	online := &captureSink{rate: 44100}
	p, err := e.OpenPlayer(online)
	if err != nil {
		t.Fatal(err)
	}
	playToEnd(t, p, func() error { return e.PlayAlbum(ctx, r.Album, 0) })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	e = open()
	defer e.Close()
	if _, err := e.OpenDownloads(ctx, persist, dopts); err != nil {
		t.Fatal(err)
	}
	offline := &captureSink{rate: 44100}
	p, err = e.OpenPlayer(offline)
	if err != nil {
		t.Fatal(err)
	}
	playToEnd(t, p, func() error { return e.PlayAlbum(ctx, r.Album, 0) })
	if len(offline.buf) == 0 || len(offline.buf) != len(online.buf) {
		t.Fatalf("offline %d samples, online %d", len(offline.buf), len(online.buf))
	}
	for i := range offline.buf {
		if offline.buf[i] != online.buf[i] {
			t.Fatalf("sample %d: offline %v, online %v", i, offline.buf[i], online.buf[i])
		}
	}

	src := engine.Source{E: e}
	openFirst := func() error {
		tr, err := src.OpenTrack(ctx, r.Tracks[0], model.TierLow)
		if err == nil {
			tr.Close()
		}
		return err
	}
	clk.Advance(until.Sub(clk.Wall()) - time.Hour) // in the grace period
	if err := openFirst(); err != nil {
		t.Fatalf("an hour before the grace ends: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if err := openFirst(); !errors.Is(err, download.ErrLicenseExpired) {
		t.Fatalf("after the grace: %v, want ErrLicenseExpired", err)
	}

	err = persist.Iterate(ctx, nil, false, func(k, v []byte) error {
		if bytes.Contains(v, []byte("OggS")) {
			t.Errorf("%s holds an Ogg page", k)
		}
		for _, key := range keys {
			if bytes.Contains(v, key) {
				t.Errorf("%s holds a content key in clear", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
