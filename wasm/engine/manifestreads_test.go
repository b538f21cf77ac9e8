package engine_test

import (
	"context"
	"sync"
	"testing"

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
	if _, err := persist.Store.Get(ctx, []byte(key(streamed))); err != nil {
		t.Fatalf("the streamed track's manifest is not stored at %q: %v", key(streamed), err)
	}
	dl := e.Downloads()
	if err := dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(downloaded), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	e.Close()

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
