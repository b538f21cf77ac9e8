package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
)

// stallFront is a reverse proxy in front of a relay that, once armed,
// holds every audio request (positional or by hash) until the client
// gives up, so transfers are reliably in flight when the test closes the
// engine.
type stallFront struct {
	proxy   *httputil.ReverseProxy
	tr      *http.Transport // the proxy's connections to the relay
	armed   atomic.Bool
	stalled atomic.Int32 // audio requests being held now
	held    chan struct{}
}

func newStallFront(t *testing.T, relayURL string) (*stallFront, string) {
	u, err := url.Parse(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &stallFront{proxy: httputil.NewSingleHostReverseProxy(u), tr: &http.Transport{}, held: make(chan struct{}, 1)}
	f.proxy.Transport = f.tr
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	t.Cleanup(f.tr.CloseIdleConnections)
	return f, s.URL
}

func (f *stallFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	audio := strings.HasPrefix(r.URL.Path, "/v1/blobs/") || strings.HasPrefix(r.URL.Path, "/v1/audio/")
	if audio && f.armed.Load() {
		f.stalled.Add(1)
		select {
		case f.held <- struct{}{}:
		default:
		}
		<-r.Context().Done()
		f.stalled.Add(-1)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// deviceSink is an output device whose buffer fills after the first
// block: the first Write is accepted and reported on started, every later
// Write blocks until the player cancels it.
type deviceSink struct {
	started chan struct{}
	once    sync.Once
}

func (s *deviceSink) Format() (int, int) { return 44100, 2 }

func (s *deviceSink) Write(ctx context.Context, frames []float32) error {
	first := false
	s.once.Do(func() { first = true; close(s.started) })
	if first {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *deviceSink) Close() error { return nil }

// engineGoroutines returns the stacks of the goroutines running engine
// code (the engine, its fetcher and downloads, the player, the sync
// client and repository, HTTP client connections) other than those in
// before, by goroutine id.
func engineGoroutines(before map[string]bool) []string {
	markers := []string{
		"segue/core.", "segue/core/", "segue/player", "segue/sync/client", "segue/sync/repo",
		"net/http.(*persistConn)", "net/http.(*http2ClientConn)", "net/http.(*http2clientConnReadLoop)",
	}
	var out []string
	for _, g := range strings.Split(tbed.Stacks(), "\n\n") {
		id := goroutineID(g)
		if before[id] || strings.Contains(g, "segue/core_test.") || strings.Contains(g, "testing.tRunner") {
			continue
		}
		for _, m := range markers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

var goroutineHeader = regexp.MustCompile(`^goroutine (\d+) `)

func goroutineID(stack string) string {
	if m := goroutineHeader.FindStringSubmatch(stack); m != nil {
		return m[1]
	}
	return ""
}

func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range strings.Split(tbed.Stacks(), "\n\n") {
		ids[goroutineID(g)] = true
	}
	return ids
}

// waitNoEngineGoroutines waits (up to 10 s, polling) until no goroutine
// started after before runs engine code, and fails listing them if some
// remain. The front's idle connections to the relay (HTTP client
// goroutines that are not the engine's) are closed at every poll.
func waitNoEngineGoroutines(t *testing.T, before map[string]bool, front *stallFront) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		front.tr.CloseIdleConnections()
		left := engineGoroutines(before)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d engine goroutines left after Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond)
	}
}

// closingDevice is a registered engine, reached through a stallFront,
// with its documents open and syncing.
type closingDevice struct {
	e     *core.Engine
	d     *core.Docs
	front *stallFront
	ids   []model.TrackID
	list  docs.DocumentID
}

func openClosingDevice(t *testing.T, before *map[string]bool) closingDevice {
	t.Helper()
	relayURL, _, _, ids := licenseRelay(t)
	front, frontURL := newStallFront(t, relayURL)
	*before = goroutineIDs()
	ctx := t.Context()
	e, err := core.Open(ctx, t.TempDir(), core.DefaultOptions().WithOrigins(frontURL).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.SignUp(ctx, testUser, testPass); err != nil && !errors.Is(err, core.ErrAccountExists) {
		t.Fatal(err)
	}
	if err := e.Register(ctx, testUser, testPass, "closing device"); err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := d.Playlists().Create(ctx, "to download")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, list, docs.AtEnd(), ids[1:]...); err != nil {
		t.Fatal(err)
	}
	return closingDevice{e: e, d: d, front: front, ids: ids, list: list}
}

// TestCloseStopsEverything closes an engine whose player is playing
// (its device blocked on a full buffer), whose downloads are transferring
// (held by the front), whose documents sync with the relay, and with a
// caller's OpenTrack in flight: Close returns promptly, the in-flight
// call fails, no engine goroutine is left, and Close is idempotent.
func TestCloseStopsEverything(t *testing.T) {
	var before map[string]bool
	c := openClosingDevice(t, &before)
	ctx := t.Context()
	e, d := c.e, c.d

	sink := &deviceSink{started: make(chan struct{})}
	p, err := e.OpenPlayer(sink, player.DefaultOptions().WithTier(model.TierLow))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Play(model.PlayContext{Kind: "track", ID: string(c.ids[0])}, []player.Item{{Track: c.ids[0]}}, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.started:
	case <-time.After(20 * time.Second):
		t.Fatal("player wrote no audio within 20 s")
	}
	waitUntil(t, "relay sync connected", func() bool {
		s, err := d.Status(ctx)
		return err == nil && s.Relay.Connected
	})

	c.front.armed.Store(true)
	m, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.FollowPlaylists(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(ctx, download.Ref{Kind: download.KindPlaylist, ID: c.list.String(), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.front.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no download transfer started within 20 s")
	}
	open := make(chan error, 1)
	go func() {
		_, err := e.OpenTrack(context.Background(), c.ids[len(c.ids)-1], model.TierHigh)
		open <- err
	}()

	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Close did not return within 10 s")
	}
	t.Logf("Close took %v", time.Since(start))
	select {
	case err := <-open:
		if err == nil {
			t.Error("OpenTrack in flight during Close succeeded, want an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenTrack in flight did not return after Close")
	}
	waitNoEngineGoroutines(t, before, c.front)
	if n := c.front.stalled.Load(); n != 0 {
		t.Errorf("%d audio requests still open at the relay after Close", n)
	}

	for name, fn := range map[string]func() error{
		"Close":          e.Close,
		"ClosePlayer":    e.ClosePlayer,
		"CloseDownloads": e.CloseDownloads,
		"Docs.Close":     d.Close,
	} {
		if err := fn(); err != nil {
			t.Errorf("%s after Close: %v, want nil", name, err)
		}
	}
	if e.Player() != nil || e.Downloads() != nil {
		t.Error("Player or Downloads not nil after Close")
	}
}

// TestConcurrentClose: Close called from several goroutines at once
// returns (nil) in each only after the engine is closed.
func TestConcurrentClose(t *testing.T) {
	var before map[string]bool
	c := openClosingDevice(t, &before)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = c.e.Close()
			if _, err := c.e.OpenTrack(context.Background(), c.ids[0], model.TierLow); !errors.Is(err, core.ErrClosed) {
				t.Errorf("OpenTrack after a Close returned: %v, want ErrClosed", err)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	waitNoEngineGoroutines(t, before, c.front)
}

// TestMethodsAfterClose: every method of the engine and of what it
// handed out (Track, stream, History, Docs, Library, Playlists, Source)
// returns ErrClosed after Close.
func TestMethodsAfterClose(t *testing.T) {
	var before map[string]bool
	c := openClosingDevice(t, &before)
	ctx := t.Context()
	e, d := c.e, c.d
	tr, err := e.OpenTrack(ctx, c.ids[0], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	h := e.History()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	track, album := c.ids[0], model.AlbumID("a")
	tests := []struct {
		name string
		call func() error
	}{
		{"SignUp", func() error { return e.SignUp(ctx, "bob", testPass) }},
		{"Register", func() error { return e.Register(ctx, testUser, testPass, "again") }},
		{"TrackInfo", func() error { _, err := e.TrackInfo(ctx, track); return err }},
		{"Album", func() error { _, _, err := e.Album(ctx, album); return err }},
		{"Artist", func() error { _, err := e.Artist(ctx, "ar"); return err }},
		{"PlayTrack", func() error { return e.PlayTrack(ctx, track) }},
		{"PlayAlbum", func() error { return e.PlayAlbum(ctx, album, 0) }},
		{"PlayTracks", func() error { return e.PlayTracks(ctx, model.PlayContext{}, []model.TrackID{track}, 0) }},
		{"PlayTracks/empty", func() error { return e.PlayTracks(ctx, model.PlayContext{}, nil, 0) }},
		{"PlayPlaylist", func() error { return e.PlayPlaylist(ctx, d, c.list, 0) }},
		{"PlayTrackFrom", func() error { return e.PlayTrackFrom(ctx, track, 1) }},
		{"PlayAlbumFrom", func() error { return e.PlayAlbumFrom(ctx, album, 0, 1) }},
		{"PlayTracksFrom", func() error { return e.PlayTracksFrom(ctx, model.PlayContext{}, []model.TrackID{track}, 0, 1) }},
		{"PlayPlaylistFrom", func() error { return e.PlayPlaylistFrom(ctx, d, c.list, 0, 1) }},
		{"OpenTrack", func() error { _, err := e.OpenTrack(ctx, track, model.TierLow); return err }},
		{"Track.Header", func() error { _, err := tr.Header(ctx); return err }},
		{"Track.Chunk", func() error { _, err := tr.Chunk(ctx, 0); return err }},
		{"Track.Stream", func() error {
			r := tr.Stream(ctx)
			defer r.Close()
			_, err := r.Read(make([]byte, 1))
			return err
		}},
		{"Source.OpenTrack", func() error { _, err := core.Source{E: e}.OpenTrack(ctx, track, model.TierLow); return err }},
		{"DeviceCert", func() error { _, err := e.DeviceCert(ctx); return err }},
		{"OpenDocs", func() error { _, err := e.OpenDocs(ctx, testUser); return err }},
		{"OpenPlayer", func() error {
			_, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions())
			return err
		}},
		{"OpenDownloads", func() error { _, err := e.OpenDownloads(ctx, download.DefaultOptions()); return err }},
		{"FollowPlaylists", func() error { return e.FollowPlaylists(ctx, d) }},
		{"History.Append", func() error { return h.Append(ctx, model.PlayEvent{TrackID: track}) }},
		{"History.AppendSeq", func() error { _, err := h.AppendSeq(ctx, model.PlayEvent{TrackID: track}); return err }},
		{"History.List", func() error { _, err := h.List(ctx, 0); return err }},
		{"History.Ack", func() error { return h.Ack(ctx, 0) }},
		{"Docs.StartSync", func() error { return d.StartSync(ctx) }},
		{"Docs.SyncNow", func() error { return d.SyncNow(ctx) }},
		{"Docs.Status", func() error { _, err := d.Status(ctx); return err }},
		{"Docs.WaitSynced", func() error { return d.WaitSynced(ctx, time.Time{}, time.Millisecond) }},
		{"Docs.WaitInSync", func() error { return d.WaitInSync(ctx) }},
		{"Docs.StartLAN", func() error { _, err := d.StartLAN(ctx, nil, p2p.DefaultOptions()); return err }},
		{"Library.SaveTracks", func() error { return d.Library().SaveTracks(ctx, track) }},
		{"Library.UnsaveTracks", func() error { return d.Library().UnsaveTracks(ctx, track) }},
		{"Library.SaveAlbums", func() error { return d.Library().SaveAlbums(ctx, album) }},
		{"Library.UnsaveAlbums", func() error { return d.Library().UnsaveAlbums(ctx, album) }},
		{"Library.FollowArtists", func() error { return d.Library().FollowArtists(ctx, "x") }},
		{"Library.UnfollowArtists", func() error { return d.Library().UnfollowArtists(ctx, "x") }},
		{"Library.SetTier", func() error { return d.Library().SetTier(ctx, model.TierLow) }},
		{"Library.Tier", func() error { _, err := d.Library().Tier(ctx, model.TierLow); return err }},
		{"Library.Get", func() error { _, err := d.Library().Get(ctx); return err }},
		{"Playlists.Create", func() error { _, err := d.Playlists().Create(ctx, "new"); return err }},
		{"Playlists.Get", func() error { _, err := d.Playlists().Get(ctx, c.list); return err }},
		{"Playlists.List", func() error { _, err := d.Playlists().List(ctx); return err }},
		{"Playlists.Rename", func() error { return d.Playlists().Rename(ctx, c.list, "x") }},
		{"Playlists.Describe", func() error { return d.Playlists().Describe(ctx, c.list, "x") }},
		{"Playlists.Add", func() error { _, err := d.Playlists().Add(ctx, c.list, docs.AtEnd(), track); return err }},
		{"Playlists.Remove", func() error { return d.Playlists().Remove(ctx, c.list) }},
		{"Playlists.Move", func() error { return d.Playlists().Move(ctx, c.list, docs.EntryID("e"), docs.AtEnd()) }},
		{"Playlists.SetCollaborators", func() error { return d.Playlists().SetCollaborators(ctx, c.list, "bob") }},
		{"Playlists.SetPublic", func() error { return d.Playlists().SetPublic(ctx, c.list, true) }},
		{"Playlists.Follow", func() error { return d.Playlists().Follow(ctx, c.list) }},
		{"Playlists.Unfollow", func() error { return d.Playlists().Unfollow(ctx, c.list) }},
		{"Recommendations", func() error { _, err := e.Recommendations(ctx); return err }},
		{"SimilarTracks", func() error { _, err := e.SimilarTracks(ctx, track, 3); return err }},
		{"SetRecommendationsTimeZone", func() error { return e.SetRecommendationsTimeZone(ctx, "UTC") }},
		{"PrivateSession", func() error { _, err := e.PrivateSession(ctx); return err }},
		{"SetPrivateSession", func() error { return e.SetPrivateSession(ctx, true) }},
		{"Follow", func() error { return e.Follow(ctx, "bob") }},
		{"Search", func() error { _, err := e.Search(ctx, "harbour", core.DefaultSearchOptions()); return err }},
		{"Prefetch", func() error { return e.Prefetch(ctx, model.TierLow, []model.TrackID{track}) }},
		{"UploadPlays", func() error { _, err := e.UploadPlays(ctx); return err }},
		{"FriendActivity", func() error { _, err := e.FriendActivity(ctx); return err }},
		{"Users", func() error { _, err := e.Users(ctx, "friends"); return err }},
		{"Profile", func() error { _, err := e.Profile(ctx, "bob"); return err }},
		{"Share", func() error { _, err := e.Share(ctx, "track", string(track)); return err }},
		{"OfflineDevices", func() error { _, err := e.OfflineDevices(ctx); return err }},
		{"TrackInfos", func() error { _, errs := e.TrackInfos(ctx, []model.TrackID{track}); return errors.Join(errs...) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, core.ErrClosed) {
				t.Errorf("got %v, want ErrClosed", err)
			}
			// The message says it once: "core: core: engine closed"
			// read as a fault of the engine, not a use after Close.
			if err != nil && strings.Contains(err.Error(), "core: core:") {
				t.Errorf("got %q, a message repeating its prefix", err)
			}
		})
	}
	events, cancel := d.Subscribe()
	defer cancel()
	select {
	case ev, ok := <-events:
		if ok {
			t.Errorf("Subscribe after Close delivered %v, want a closed channel", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("Subscribe after Close: channel not closed")
	}
	e.SetOfflineMode(true)
	if e.Player() != nil || e.Downloads() != nil {
		t.Error("Player or Downloads not nil after Close")
	}
	waitNoEngineGoroutines(t, before, c.front)
}
