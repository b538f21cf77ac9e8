package download_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
)

// bogusTrack is a well-formed track id the catalog does not know.
const bogusTrack = model.TrackID("trBOGUS")

// unavailableBed is the demo album plus one synthetic track whose album
// is embargoed until 2027 by the relay's clock; it returns the embargoed
// track and its album.
func unavailableBed(t *testing.T) (*bed, published, model.TrackID, model.AlbumID) {
	t.Helper()
	var (
		p   published
		emb model.TrackID
	)
	embAlbum := catalog.AlbumIDFor("artist 0", "synthetic")
	b := newBed(t, func(ctx context.Context, dd *catalog.DataDir) {
		p = publishDemo(t, ctx, dd)
		emb = publishSynthetic(t, ctx, dd, 1, 7)[0]
		if err := dd.Catalog.ScheduleRelease(ctx, embAlbum, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	})
	return b, p, emb, embAlbum
}

// eventLog records download events.
type eventLog struct {
	mu sync.Mutex
	ev []download.Event
}

func (l *eventLog) add(e download.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

// of returns the events of kind k so far.
func (l *eventLog) of(k download.EventKind) []download.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []download.Event
	for _, e := range l.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func itemOf(t *testing.T, ctx context.Context, m *download.Manager, r download.Ref) download.ItemStatus {
	t.Helper()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		if it.Ref == r {
			return it
		}
	}
	t.Fatalf("no request %s in %+v", r, st.Items)
	return download.ItemStatus{}
}

// TestPlaylistLeavesOutUnavailable downloads, from a real relay on
// loopback, a playlist naming an unknown track and a track not released
// yet between two good ones: the good ones download and play with the
// relay down, the other two are left out with their reasons (status,
// events, counts), and adding the request again after the release
// downloads the released one.
func TestPlaylistLeavesOutUnavailable(t *testing.T) {
	b, p, emb, embAlbum := unavailableBed(t)
	ctx := waitCtx(t)
	entries := []model.TrackID{p.tracks[0], bogusTrack, emb, p.tracks[1]}
	var evs eventLog
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithEvents(evs.add).
		WithPlaylists(func(context.Context, string) ([]model.TrackID, error) { return entries, nil }))
	ref := download.Ref{Kind: download.KindPlaylist, ID: "pl1", Tier: model.TierLow}
	if err := d.dl.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatalf("one unavailable track failed the playlist: %v", err)
	}
	want := []download.Unavailable{{Track: bogusTrack, Reason: api.UnavailableNotFound}, {Track: emb, Reason: api.UnavailableEmbargoed}}
	it := itemOf(t, ctx, d.dl, ref)
	if it.Tracks != 2 || it.TracksDone != 2 || !slices.Equal(it.Unavailable, want) || it.Err != "" || !it.Resolved {
		t.Fatalf("status %+v, want 2/2 with %v left out", it, want)
	}
	if c := d.dl.Count(ref); c != (download.TrackCount{Tracks: 2, Done: 2, Unavailable: 2}) {
		t.Fatalf("count %+v", c)
	}
	var got []download.Unavailable
	for _, e := range evs.of(download.EventUnavailable) {
		if e.Ref != ref || e.Tier != model.TierLow {
			t.Fatalf("event %+v", e)
		}
		got = append(got, download.Unavailable{Track: e.Track, Reason: e.Reason})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("unavailable events %v, want %v", got, want)
	}
	if n := b.count("/v1/licenses"); n != 1 {
		t.Fatalf("%d license requests, want 1", n)
	}
	if n := b.count("/v1/tracks/" + string(bogusTrack)); n != 0 {
		t.Fatalf("%d metadata requests for a track the relay cannot license", n)
	}

	b.up.Store(false)
	for _, id := range p.tracks[:2] {
		out, err := play(ctx, d.e, id)
		if err != nil || !bytes.Equal(out, p.plain[string(id)+"/low"]) {
			t.Fatalf("offline play %s: %v", id, err)
		}
	}
	b.up.Store(true)

	if err := b.dd.Catalog.ScheduleRelease(ctx, embAlbum, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want = want[:1]
	if it := itemOf(t, ctx, d.dl, ref); it.Tracks != 3 || it.TracksDone != 3 || !slices.Equal(it.Unavailable, want) {
		t.Fatalf("after the release: %+v, want 3/3 with %v left out", it, want)
	}
	if !d.dl.Downloaded(emb, model.TierLow) {
		t.Fatal("the released track was not downloaded")
	}
}

// TestLicenseFaultsAreNotUnavailable checks that a relay failing (5xx) or
// unreachable while licensing a playlist marks no track unavailable: a
// 5xx fails the request, with its cause kept across a restart (also on a
// manager without a playlist resolver, where the download waits instead
// of failing), and an unreachable relay pauses it; both download
// everything once the relay answers again.
func TestLicenseFaultsAreNotUnavailable(t *testing.T) {
	b, p, _, _ := unavailableBed(t)
	entries := []model.TrackID{p.tracks[0], bogusTrack, p.tracks[1]}
	resolver := download.DefaultOptions().
		WithPlaylists(func(context.Context, string) ([]model.TrackID, error) { return entries, nil })
	ref := download.Ref{Kind: download.KindPlaylist, ID: "pl1", Tier: model.TierLow}
	licenses500 := func(r *http.Request) int {
		if r.URL.Path == "/v1/licenses" {
			return http.StatusInternalServerError
		}
		return 0
	}
	tests := []struct {
		name  string
		fail  func(*http.Request) int // nil: the relay is unreachable instead
		cause string                  // in the request's error; "" when it pauses
	}{
		// (A 503 or 429 is a temporary refusal: the downloads pause,
		// TestRelayBusyWaitsRetryAfter.)
		{"relay answers 500", licenses500, "500"},
		{"relay unreachable", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := waitCtx(t)
			dir := t.TempDir()
			d := b.openDevice(t, dir, "boot1", resolver) // registers while the relay is up
			if tc.fail != nil {
				b.fail.Store(&tc.fail)
			} else {
				b.up.Store(false)
			}
			defer func() { b.fail.Store(nil); b.up.Store(true) }()
			var evs eventLog
			d.close()
			d = b.openDevice(t, dir, "boot1", resolver.WithEvents(evs.add))
			if err := d.dl.Add(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if tc.cause != "" {
				err := d.dl.Wait(ctx)
				if err == nil || !strings.Contains(err.Error(), tc.cause) {
					t.Fatalf("Wait = %v, want the relay's %s", err, tc.cause)
				}
				// A restart without a playlist resolver reports the
				// stored cause and does not wait for the playlist.
				d.close()
				d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
				if err := d.dl.Wait(ctx); err != nil {
					t.Fatalf("Wait without a resolver: %v", err)
				}
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for st, _ := d.dl.Status(ctx); st.Paused != "offline"; st, _ = d.dl.Status(ctx) {
					if time.Now().After(deadline) {
						t.Fatalf("not paused: %+v", st)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			it := itemOf(t, ctx, d.dl, ref)
			if len(it.Unavailable) != 0 || it.Resolved || it.Tracks != 0 || !strings.Contains(it.Err, tc.cause) ||
				strings.Contains(it.Err, "resolver") || (tc.cause == "" && it.Err != "") {
				t.Fatalf("status %+v: want unresolved, nothing unavailable, error %q", it, tc.cause)
			}
			if n := len(evs.of(download.EventUnavailable)); n != 0 {
				t.Fatalf("%d unavailable events", n)
			}

			b.fail.Store(nil)
			b.up.Store(true)
			if tc.cause != "" {
				d.close()
				d = b.openDevice(t, dir, "boot1", resolver)
			}
			d.dl.Nudge()
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			it = itemOf(t, ctx, d.dl, ref)
			want := []download.Unavailable{{Track: bogusTrack, Reason: api.UnavailableNotFound}}
			if it.Tracks != 2 || it.TracksDone != 2 || !slices.Equal(it.Unavailable, want) || it.Err != "" {
				t.Fatalf("once the relay answers: %+v", it)
			}
		})
	}
}
