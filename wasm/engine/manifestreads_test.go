package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// readCounter is a store that records the keys read with Get.
type readCounter struct {
	store.Store
	mu   sync.Mutex
	read []string
}

func (c *readCounter) Get(ctx context.Context, key []byte) ([]byte, error) {
	c.mu.Lock()
	c.read = append(c.read, string(key))
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

func (c *readCounter) reads(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.read {
		if k == key {
			n++
		}
	}
	c.read = nil
	return n
}

// TestStoredManifestReads: a track's signed manifest is stored as before
// (under "cache/man/<track>/<tier>"); after a reload, with the downloads
// manager open, opening a track no download holds does not read it from
// the persistent store (IndexedDB in the page) but fetches it, while a
// downloaded track's is read, as is any
// track's before the manager opens.
func TestStoredManifestReads(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	persist := &readCounter{Store: store.NewMemory()}
	ks := &crypto.MemoryKeyStore{}
	blobs := store.NewMemory()
	open := func(downloads bool) *engine.Engine {
		e, err := engine.Open(ctx, r.URL, engine.NewSplit(persist, store.NewMemory(), engine.CachePrefixes...), ks, engine.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		if downloads {
			if _, err := e.OpenDownloads(ctx, blobs, download.DefaultOptions()); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	key := func(id model.TrackID) string { return "cache/man/" + string(id) + "/low" }
	openTrack := func(e *engine.Engine, id model.TrackID) {
		t.Helper()
		ts, err := engine.Source{E: e}.OpenTrack(ctx, id, model.TierLow)
		if err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
		ts.Close()
	}

	e := open(true)
	if err := e.SignUp(ctx, "reads", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "reads", testbed.Password); err != nil {
		t.Fatal(err)
	}
	streamed, downloaded := r.Tracks[0], r.Tracks[1]
	openTrack(e, streamed)
	dl := e.Downloads()
	if err := dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(downloaded), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	e.Close() // waits for the streamed manifest's store, written behind the play
	if _, err := persist.Store.Get(ctx, []byte(key(streamed))); err != nil {
		t.Fatalf("the streamed track's manifest is not stored at %q: %v", key(streamed), err)
	}

	for _, c := range []struct {
		name      string
		downloads bool
		id        model.TrackID
		want      int
	}{
		{"streamed, downloads open", true, streamed, 0},
		{"downloaded, downloads open", true, downloaded, 1},
		{"streamed, no downloads manager", false, streamed, 1},
	} {
		e := open(c.downloads)
		persist.reads("")
		openTrack(e, c.id)
		if got := persist.reads(key(c.id)); got != c.want {
			t.Errorf("%s: the stored manifest was read %d times, want %d", c.name, got, c.want)
		}
		e.Close()
	}
}

// gatedSets is a store whose Set of a key under gatePrefix waits until
// open is closed (an IndexedDB commit that has not finished).
type gatedSets struct {
	store.Store
	open chan struct{}
}

const gatePrefix = "cache/man/"

func (g gatedSets) Set(ctx context.Context, key, value []byte) error {
	if strings.HasPrefix(string(key), gatePrefix) {
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Store.Set(ctx, key, value)
}

// TestStreamedManifestWrittenBehind: with the downloads manager open, a
// track no download holds opens (its first audio can start) while the
// store of its signed manifest has not finished; Close waits for that
// store, and the manifest is then in the persistent store.
func TestStreamedManifestWrittenBehind(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	persist := gatedSets{Store: store.NewMemory(), open: make(chan struct{})}
	e, err := engine.Open(ctx, r.URL, engine.NewSplit(persist, store.NewMemory(), engine.CachePrefixes...), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.OpenDownloads(ctx, store.NewMemory(), download.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if err := e.SignUp(ctx, "behind", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "behind", testbed.Password); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		ts, err := engine.Source{E: e}.OpenTrack(ctx, r.Tracks[0], model.TierLow)
		if err == nil {
			ts.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("opening a streamed track waited for its manifest's store")
	}
	key := []byte(gatePrefix + string(r.Tracks[0]) + "/low")
	if _, err := persist.Store.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the manifest's store finished while its commit was held: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the manifest's store finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(persist.open)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return after the store finished")
	}
	if _, err := persist.Store.Get(ctx, key); err != nil {
		t.Fatalf("the streamed track's manifest is not stored at %q: %v", key, err)
	}
}
