package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// trackRequests counts a relay's track-metadata requests.
type trackRequests struct {
	inner          http.Handler
	mu             sync.Mutex
	batch, singles int
}

func (c *trackRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/tracks/batch":
		c.batch++
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/tracks/"):
		c.singles++
	}
	c.mu.Unlock()
	c.inner.ServeHTTP(w, r)
}

// TestShowPlaylistBatchesMetadata: `segue playlist show` names 1,000
// entries with one batch request and no request per entry (it made one
// request and one record write per entry: 8.3 s for 10,000), and with the
// relay gone names them the same from the records it kept.
func TestShowPlaylistBatchesMetadata(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	cnt := &trackRequests{inner: r.Server().Handler()}
	srv := httptest.NewServer(cnt)
	t.Cleanup(srv.Close)
	e := testbed.Engine(t, core.DefaultOptions().WithOrigins(srv.URL))
	testbed.Register(t, e, "ada", "laptop")
	ctx := context.Background()
	d, err := e.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id, err := d.Playlists().Create(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	tracks := make([]model.TrackID, 1000)
	for i := range tracks {
		tracks[i] = r.Tracks[i%len(r.Tracks)]
	}
	if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), tracks...); err != nil {
		t.Fatal(err)
	}
	show := func() (string, string) {
		t.Helper()
		var out, log bytes.Buffer
		if err := showPlaylist(ctx, &out, newStepLog(&log), e, d.Playlists(), id); err != nil {
			t.Fatal(err)
		}
		return out.String(), log.String()
	}
	online, log := show()
	cnt.mu.Lock()
	batch, singles := cnt.batch, cnt.singles
	cnt.mu.Unlock()
	if batch != 1 || singles != 0 {
		t.Errorf("%d batch and %d single track requests for 1,000 entries of %d tracks, want 1 and 0", batch, singles, len(r.Tracks))
	}
	if !strings.Contains(log, "1000 entries named from the relay") || strings.Count(online, "(unknown)") != 0 {
		t.Fatalf("online listing: %s\n%s", log, online)
	}
	srv.Close()
	offline, log := show()
	if !strings.Contains(log, "named from this device (relay unreachable)") || offline != online {
		t.Fatalf("offline listing differs (%s):\n%s\nonline:\n%s", log, offline, online)
	}
}
