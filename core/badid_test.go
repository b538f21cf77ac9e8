package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// TestSingleIDCallsRefuseBadIDs: the calls taking one catalog id refuse an
// id no track, album or artist can have (model.ValidID) with ErrBadID and
// send nothing. They asked the relay, so an app's empty id came back as
// the relay's 404, or, with the relay unreachable, as a network failure
// indistinguishable from being offline.
func TestSingleIDCallsRefuseBadIDs(t *testing.T) {
	tb := newTestbed(t)
	url, asked := countingRelay(t, tb)
	ctx := context.Background()
	e := tb.openEngine(t, core.DefaultOptions().WithLogger(quiet()), url)
	if _, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(quiet())); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(id string) error
	}{
		{"TrackInfo", func(id string) error { _, err := e.TrackInfo(ctx, model.TrackID(id)); return err }},
		{"PlayTrack", func(id string) error { return e.PlayTrack(ctx, model.TrackID(id)) }},
		{"OpenTrack", func(id string) error { _, err := e.OpenTrack(ctx, model.TrackID(id), model.TierHigh); return err }},
		{"Album", func(id string) error { _, _, err := e.Album(ctx, model.AlbumID(id)); return err }},
		{"PlayAlbum", func(id string) error { return e.PlayAlbum(ctx, model.AlbumID(id), 0) }},
		{"Artist", func(id string) error { _, err := e.Artist(ctx, model.ArtistID(id)); return err }},
		{"SimilarTracks", func(id string) error { _, err := e.SimilarTracks(ctx, model.TrackID(id), 10); return err }},
	}
	for _, c := range calls {
		for _, id := range []string{"", "a/b", "a\x00b", strings.Repeat("x", model.MaxIDLen+1)} {
			asked.Store(0)
			if err := c.call(id); !errors.Is(err, core.ErrBadID) {
				t.Errorf("%s(%q) = %v, want ErrBadID", c.name, id, err)
			}
			if n := asked.Load(); n != 0 {
				t.Errorf("%s(%q) sent %d requests, want none", c.name, id, n)
			}
		}
	}
}

// countingRelay serves tb's relay through a proxy that counts the
// requests it is sent, for tests that a call sends nothing; the proxy
// closes when t ends.
func countingRelay(t *testing.T, tb *testbed) (url string, asked *atomic.Int64) {
	asked = new(atomic.Int64)
	relay := tb.srv.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		relay.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, asked
}
