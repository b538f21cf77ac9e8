package engine_test

import (
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// recordingDoer records the path of every request it sends.
type recordingDoer struct {
	mu    sync.Mutex
	paths []string
}

func (d *recordingDoer) Do(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	d.paths = append(d.paths, r.URL.Path)
	d.mu.Unlock()
	return http.DefaultClient.Do(r)
}

// since returns the paths requested after the first n.
func (d *recordingDoer) since(n int) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.paths[n:])
}

func (d *recordingDoer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.paths)
}

// TestPrefetch: Prefetch refuses a bad tier or an empty list, reports the
// tracks it could not ready and readies the others, telling the marker
// nothing; afterwards opening a readied track and reading its header and
// chunk 0 sends no request for its manifest, content key, header or chunk
// 0, and marks each milestone once; a track not readied marks the key's
// answer before the key; PlayAlbum of an album Album just
// fetched does not ask the relay for it again.
func TestPrefetch(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	doer := &recordingDoer{}
	var (
		mu    sync.Mutex
		marks []string
	)
	mark := func(name string) {
		mu.Lock()
		marks = append(marks, name)
		mu.Unlock()
	}
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{},
		engine.DefaultOptions().WithHTTPClient(doer).WithMarker(mark))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SignUp(ctx, "pre", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "pre", testbed.Password); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tier model.Tier
		ids  []model.TrackID
	}{{"loud", r.Tracks[:1]}, {model.TierLow, nil}} {
		if err := e.Prefetch(ctx, c.tier, c.ids); !errors.Is(err, engine.ErrPrefetchArgs) {
			t.Errorf("Prefetch(%q, %v) = %v, want ErrPrefetchArgs", c.tier, c.ids, err)
		}
	}
	err = e.Prefetch(ctx, model.TierLow, []model.TrackID{r.Tracks[0], "no-such-track", r.Tracks[1]})
	if err == nil || !strings.Contains(err.Error(), "no-such-track") || strings.Contains(err.Error(), string(r.Tracks[0])) {
		t.Fatalf("Prefetch with an unknown track: %v, want an error naming it alone", err)
	}
	mu.Lock()
	if len(marks) != 0 {
		t.Errorf("Prefetch marked %v, want nothing", marks)
	}
	mu.Unlock()

	for _, id := range r.Tracks[:2] {
		n := doer.count()
		ts, err := engine.Source{E: e}.OpenTrack(ctx, id, model.TierLow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Header(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Chunk(ctx, 0); err != nil {
			t.Fatal(err)
		}
		m := ts.Manifest()
		ts.Close()
		for _, p := range doer.since(n) {
			if strings.Contains(p, "/keys/") || strings.HasPrefix(p, "/v1/audio/") ||
				p == "/v1/blobs/"+hex.EncodeToString(m.Header.SHA256[:]) || p == "/v1/blobs/"+hex.EncodeToString(m.Chunks[0].Blob.SHA256[:]) {
				t.Errorf("track %s: %s requested after Prefetch", id, p)
			}
		}
	}
	mu.Lock()
	want := []string{engine.MarkDecrypt, engine.MarkChunk, engine.MarkHeader, engine.MarkKey, engine.MarkManifest}
	got := slices.Clone(marks)
	mu.Unlock()
	slices.Sort(got)
	if wantTwice := append(slices.Clone(want), want...); !slices.Equal(got, slices.Sorted(slices.Values(wantTwice))) {
		t.Errorf("marks of two opened tracks %v, want each of %v twice", got, want)
	}

	// A track not readied asks the relay for its content key: the answer
	// is marked, before the unwrapped key.
	mu.Lock()
	marks = nil
	mu.Unlock()
	ts, err := engine.Source{E: e}.OpenTrack(ctx, r.Tracks[2], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	ts.Close()
	mu.Lock()
	cold := slices.Clone(marks)
	mu.Unlock()
	if a, k := slices.Index(cold, engine.MarkKeyAnswer), slices.Index(cold, engine.MarkKey); a < 0 || k < a {
		t.Errorf("marks of a track not readied %v, want %s before %s", cold, engine.MarkKeyAnswer, engine.MarkKey)
	}

	if _, _, err := e.Album(ctx, r.Album); err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenPlayer(&captureSink{rate: 44100}); err != nil {
		t.Fatal(err)
	}
	n := doer.count()
	if err := e.PlayAlbum(ctx, r.Album, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range doer.since(n) {
		if strings.HasPrefix(p, "/v1/albums/") {
			t.Errorf("PlayAlbum after Album requested %s, want the album from memory", p)
		}
	}
}
