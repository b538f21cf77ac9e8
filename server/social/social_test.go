package social_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// socialRelay starts a real relay (Badger, demo album) with the social
// service mounted with opts.
func socialRelay(t *testing.T, opts social.Options) *testbed.Relay {
	t.Helper()
	return testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, opts.WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
}

// status returns the HTTP status of an engine call's error (0 for nil).
func status(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var se *fetch.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("not an HTTP answer: %v", err)
	}
	return se.Code
}

// do sends a raw request with token (none when "") and returns the
// status and body.
func do(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func users(t *testing.T, e *core.Engine, set string) []model.UserID {
	t.Helper()
	u, err := e.Users(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFollowGraphAndAuthz(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob, carol := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob"), testbed.Device(t, r, "carol")

	if err := ada.Follow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := users(t, ada, "friends"); len(got) != 0 {
		t.Fatalf("friends before bob follows back: %v", got)
	}
	if err := bob.Follow(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := carol.Follow(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if got := users(t, ada, "friends"); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("ada's friends = %v, want [bob]", got)
	}
	if got := users(t, ada, "followers"); len(got) != 2 || got[0] != "bob" || got[1] != "carol" {
		t.Fatalf("ada's followers = %v", got)
	}
	p, err := carol.Profile(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if p.Followers != 2 || p.Following != 1 || !p.YouFollow || p.FollowsYou || p.Friends || p.HideActivity != nil {
		t.Fatalf("carol sees ada's profile %+v", p)
	}

	// The caller comes from the token only: a body naming another user
	// changes nothing, no token is 401.
	code, _, _ := do(t, "POST", r.URL+"/v1/follows/carol", carol.Token(), `{"user":"ada","follower":"ada"}`)
	if code != http.StatusBadRequest { // carol following herself
		t.Fatalf("carol follows carol: %d, want 400", code)
	}
	if got := users(t, ada, "follows"); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("ada follows %v after carol's request", got)
	}
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"POST", "/v1/follows/bob", "", http.StatusUnauthorized},
		{"GET", "/v1/friends", "", http.StatusUnauthorized},
		{"POST", "/v1/follows/nobody", carol.Token(), http.StatusNotFound},
		{"POST", "/v1/follows/Bad%20Name", carol.Token(), http.StatusBadRequest},
		{"POST", "/v1/blocks/carol", carol.Token(), http.StatusBadRequest},
		{"GET", "/v1/users/nobody", carol.Token(), http.StatusNotFound},
		{"PUT", "/v1/profile", carol.Token(), http.StatusBadRequest}, // no body
	} {
		if code, _, body := do(t, tc.method, r.URL+tc.path, tc.token, ""); code != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	long := strings.Repeat("x", social.MaxDisplayName+1)
	if err := carol.SetProfile(ctx, api.ProfileSettings{DisplayName: &long}); status(t, err) != http.StatusBadRequest {
		t.Fatalf("overlong display name: %v", err)
	}

	// ada blocks carol: carol's follow goes, she cannot follow again nor
	// see ada's profile (404, as for no such user), ada cannot follow her.
	if err := ada.Block(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if got := users(t, ada, "followers"); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("ada's followers after the block = %v", got)
	}
	if err := carol.Follow(ctx, "ada"); status(t, err) != http.StatusNotFound {
		t.Fatalf("blocked carol follows ada: %v", err)
	}
	if _, err := carol.Profile(ctx, "ada"); status(t, err) != http.StatusNotFound {
		t.Fatalf("blocked carol sees ada's profile: %v", err)
	}
	if err := ada.Follow(ctx, "carol"); status(t, err) != http.StatusForbidden {
		t.Fatalf("ada follows the user she blocked: %v", err)
	}
	if got := users(t, ada, "blocks"); len(got) != 1 || got[0] != "carol" {
		t.Fatalf("ada's blocks = %v", got)
	}

	// The graph survives a restart.
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := users(t, ada, "friends"); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("ada's friends after restart = %v", got)
	}
	if err := carol.Follow(ctx, "ada"); status(t, err) != http.StatusNotFound {
		t.Fatalf("block forgotten after restart: %v", err)
	}
	if err := ada.Unblock(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := carol.Follow(ctx, "ada"); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
}

// TestUnfollowUnblockRefusals: unfollowing or unblocking a user who does
// not exist is 404 as following one is (both used to answer 204), and
// oneself 400; unfollowing a user who blocked you is 404 as following
// them is (the block stays unrevealed), while unblocking them works as
// blocking them does; a follow or block you do not have is a no-op, one
// you have is removed.
func TestUnfollowUnblockRefusals(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, carol := testbed.Device(t, r, "ada"), testbed.Device(t, r, "carol")
	testbed.Device(t, r, "bob")
	if err := carol.Block(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op   string
		user model.UserID
		want int // HTTP status; 0 for success
	}{
		{"follow", "nobody", http.StatusNotFound},
		{"unfollow", "nobody", http.StatusNotFound},
		{"unblock", "nobody", http.StatusNotFound},
		{"unfollow", "ada", http.StatusBadRequest},
		{"unblock", "ada", http.StatusBadRequest},
		{"unfollow", "bob", 0},
		{"unblock", "bob", 0},
		{"unfollow", "carol", http.StatusNotFound},
		{"unblock", "carol", 0},
		{"follow", "bob", 0},
		{"unfollow", "bob", 0},
		{"block", "bob", 0},
		{"unblock", "bob", 0},
	} {
		ops := map[string]func(context.Context, model.UserID) error{"follow": ada.Follow, "unfollow": ada.Unfollow, "block": ada.Block, "unblock": ada.Unblock}
		if got := status(t, ops[c.op](ctx, c.user)); got != c.want {
			t.Errorf("ada %s %s: status %d, want %d", c.op, c.user, got, c.want)
		}
	}
	for _, set := range []string{"follows", "blocks"} {
		if got := users(t, ada, set); len(got) != 0 {
			t.Errorf("ada's %s at the end: %v", set, got)
		}
	}
}

func TestFollowLimit(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions().WithMaxFollowing(1))
	ada := testbed.Device(t, r, "ada")
	testbed.Device(t, r, "bob")
	testbed.Device(t, r, "carol")
	if err := ada.Follow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := ada.Follow(ctx, "bob"); err != nil {
		t.Fatalf("following again is a no-op: %v", err)
	}
	if err := ada.Follow(ctx, "carol"); status(t, err) != http.StatusForbidden {
		t.Fatalf("second follow over a limit of 1: %v", err)
	}
}

// watcher collects one engine's activity stream.
type watcher struct {
	mu  sync.Mutex
	got []api.Activity
	at  []time.Time
}

func watch(t *testing.T, e *core.Engine) *watcher {
	t.Helper()
	w := &watcher{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := e.WatchFriends(ctx, func(a api.Activity) {
			w.mu.Lock()
			w.got = append(w.got, a)
			w.at = append(w.at, time.Now())
			w.mu.Unlock()
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("watch: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// waitFor waits up to d for the watcher to hold an activity of track,
// returning when it arrived.
func (w *watcher) waitFor(track model.TrackID, d time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for i, a := range w.got {
			if a.Track == track {
				at := w.at[i]
				w.mu.Unlock()
				return at, true
			}
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false
}

func friends(t *testing.T, a, b *core.Engine, an, bn model.UserID) {
	t.Helper()
	if err := a.Follow(t.Context(), bn); err != nil {
		t.Fatal(err)
	}
	if err := b.Follow(t.Context(), an); err != nil {
		t.Fatal(err)
	}
}

// TestLiveActivity: three users on a real relay. bob (ada's friend) sees
// ada's track within 2 s over his stream; carol (a follower, not a
// friend) never does; a private session publishes nothing; hiding
// activity empties the feed; a block stops delivery.
func TestLiveActivity(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob, carol := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob"), testbed.Device(t, r, "carol")
	friends(t, ada, bob, "ada", "bob")
	if err := carol.Follow(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	name := "Ada L."
	if err := ada.SetProfile(ctx, api.ProfileSettings{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	wb, wc := watch(t, bob), watch(t, carol)
	time.Sleep(200 * time.Millisecond) // streams open

	t0 := time.Now()
	post := api.ActivityPost{Track: r.Tracks[0], Context: model.PlayContext{Kind: "album", ID: string(r.Album)}, Playing: true}
	if err := ada.PublishActivity(ctx, post); err != nil {
		t.Fatal(err)
	}
	at, ok := wb.waitFor(r.Tracks[0], 2*time.Second)
	if !ok {
		t.Fatal("bob did not see ada's track within 2 s")
	}
	t.Logf("delivered in %v", at.Sub(t0))
	feed, err := bob.FriendActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 1 || feed[0].User != "ada" || feed[0].DisplayName != name || feed[0].Track != r.Tracks[0] ||
		feed[0].Title == "" || len(feed[0].Artists) == 0 || feed[0].Context != post.Context || !feed[0].Playing {
		t.Fatalf("bob's feed = %+v", feed)
	}
	if got, _ := carol.FriendActivity(ctx); len(got) != 0 {
		t.Fatalf("carol (not a friend) sees %+v", got)
	}

	// Private session: nothing published, the feed keeps the old track.
	if err := ada.SetPrivateSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[1], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[1], time.Second); ok {
		t.Fatal("bob saw a track of ada's private session")
	}
	if feed, _ := bob.FriendActivity(ctx); len(feed) != 1 || feed[0].Track != r.Tracks[0] {
		t.Fatalf("feed after a private play = %+v", feed)
	}
	if err := ada.SetPrivateSession(ctx, false); err != nil {
		t.Fatal(err)
	}

	// Offline mode: nothing sent, ErrOffline (before, each track change
	// of the player posted it, and each post failed with a warning when
	// the relay was out of reach).
	ada.SetOfflineMode(true)
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[1], Playing: true}); !errors.Is(err, core.ErrOffline) || !strings.HasPrefix(err.Error(), "core: ") {
		t.Fatalf("publish in offline mode: %v, want ErrOffline with the engine's prefix", err)
	}
	if _, ok := wb.waitFor(r.Tracks[1], time.Second); ok {
		t.Fatal("bob saw a track ada played in offline mode")
	}
	ada.SetOfflineMode(false)

	// Hidden activity: the relay forgets and drops it.
	hide, show := true, false
	if err := ada.SetProfile(ctx, api.ProfileSettings{HideActivity: &hide}); err != nil {
		t.Fatal(err)
	}
	if feed, _ := bob.FriendActivity(ctx); len(feed) != 0 {
		t.Fatalf("feed of a hidden user = %+v", feed)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[2], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[2], time.Second); ok {
		t.Fatal("bob saw hidden activity")
	}
	if err := ada.SetProfile(ctx, api.ProfileSettings{HideActivity: &show}); err != nil {
		t.Fatal(err)
	}

	// Blocked: bob never sees ada's activity again.
	if err := ada.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[3], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[3], time.Second); ok {
		t.Fatal("blocked bob saw ada's activity")
	}
	if feed, _ := bob.FriendActivity(ctx); len(feed) != 0 {
		t.Fatalf("blocked bob's feed = %+v", feed)
	}
	if wc.count() != 0 {
		t.Fatalf("carol's stream got %d activities", wc.count())
	}

	// Validation: unknown track, bad context.
	for _, p := range []api.ActivityPost{{Track: "nope"}, {Track: r.Tracks[0], Context: model.PlayContext{Kind: "x", ID: "y"}}, {}} {
		if err := ada.PublishActivity(ctx, p); status(t, err) != http.StatusBadRequest {
			t.Errorf("post %+v: %v, want 400", p, err)
		}
	}
}

// TestPlayerPublishes: the engine publishes on a track change of its
// own player, with the play context.
func TestPlayerPublishes(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	wb := watch(t, bob)
	sink := newSlowSink()
	if _, err := ada.OpenPlayer(sink, playerOptions()); err != nil {
		t.Fatal(err)
	}
	if err := ada.PlayAlbum(ctx, r.Album, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[1], 5*time.Second); !ok {
		t.Fatal("bob did not see the track ada's player started")
	}
	wb.mu.Lock()
	defer wb.mu.Unlock()
	last := wb.got[len(wb.got)-1]
	if last.Context.Kind != "album" || last.Context.ID != string(r.Album) {
		t.Fatalf("activity context %+v", last.Context)
	}
}

// TestSmartShufflePublishesPlaylistContext: a playlist played with
// Smart Shuffle on is the activity's context, not whatever the player
// played before (here an album): the context is the playlist, which the
// relay drops as it is not public, so bob sees none.
func TestSmartShufflePublishesPlaylistContext(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	wb := watch(t, bob)
	if _, err := ada.OpenPlayer(newSlowSink(), playerOptions()); err != nil {
		t.Fatal(err)
	}
	if err := ada.PlayAlbum(ctx, r.Album, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[1], 5*time.Second); !ok {
		t.Fatal("bob did not see the album track")
	}
	d, err := ada.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := d.Playlists().Create(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), r.Tracks[2]); err != nil {
		t.Fatal(err)
	}
	ada.SetSmartShuffle(true)
	if err := ada.PlayPlaylist(ctx, d, pl, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[2], 5*time.Second); !ok {
		t.Fatal("bob did not see the playlist's track")
	}
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if last := wb.got[len(wb.got)-1]; last.Track != r.Tracks[2] || last.Context != (model.PlayContext{}) {
		t.Fatalf("activity %s with context %+v, want no context (a private playlist)", last.Track, last.Context)
	}
}

func TestActivityStreamLimits(t *testing.T) {
	r := socialRelay(t, social.DefaultOptions().WithStreams(100, 1))
	ada := testbed.Device(t, r, "ada")
	watch(t, ada)
	time.Sleep(200 * time.Millisecond)
	code, hdr, _ := do(t, "GET", r.URL+"/v1/activity/stream", ada.Token(), "")
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("second stream of a user with a limit of 1: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
}

var metaRE = regexp.MustCompile(`<meta (?:property|name)="([^"]+)" content="([^"]*)">`)

func metas(page []byte) map[string]string {
	m := map[string]string{}
	for _, x := range metaRE.FindAllSubmatch(page, -1) {
		m[string(x[1])] = string(x[2])
	}
	return m
}

func TestShareLinks(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions().WithShareRate(time.Hour, 4))
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	sh, err := ada.Share(ctx, api.ShareTrack, string(r.Tracks[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(sh.Token) || sh.URL != r.URL+"/s/"+sh.Token || strings.Contains(sh.URL, "ada") {
		t.Fatalf("share %+v", sh)
	}
	code, hdr, page := do(t, "GET", sh.URL, "", "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Content-Security-Policy") == "" {
		t.Fatalf("page: %d %v", code, hdr)
	}
	m := metas(page)
	for _, k := range []string{"og:title", "og:description", "og:image", "og:url", "og:type", "twitter:card", "twitter:title", "twitter:image"} {
		if m[k] == "" {
			t.Errorf("page has no %s meta tag", k)
		}
	}
	if m["og:url"] != sh.URL || m["og:image"] != sh.URL+".png" || m["twitter:card"] != "summary_large_image" || m["og:type"] != "music.song" ||
		m["og:image:width"] != "1200" || m["og:image:height"] != "630" {
		t.Errorf("meta tags %v", m)
	}

	t0 := time.Now()
	code, hdr, img := do(t, "GET", sh.URL+".png", "", "")
	if code != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("card: %d %v", code, hdr)
	}
	t1 := time.Now()
	checkCard(t, img)
	if code, _, again := do(t, "GET", sh.URL+".png", "", ""); code != http.StatusOK || !bytes.Equal(again, img) {
		t.Fatalf("second card render differs (%d)", code)
	}
	t.Logf("card: first render (waveform decoded) %v, second (waveform stored) %v, %d bytes", t1.Sub(t0), time.Since(t1), len(img))

	album, err := ada.Share(ctx, api.ShareAlbum, string(r.Album))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, page := do(t, "GET", album.URL, "", ""); metas(page)["og:type"] != "music.album" {
		t.Fatalf("album page: %s", page)
	}

	// Revocation: another user's attempt is 404 and changes nothing; the
	// owner's makes the page and the card 404.
	if err := bob.RevokeShare(ctx, sh.Token); status(t, err) != http.StatusNotFound {
		t.Fatalf("bob revokes ada's share: %v", err)
	}
	if err := ada.RevokeShare(ctx, sh.Token); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{sh.URL, sh.URL + ".png", r.URL + "/s/not-a-token", r.URL + "/s/AAAAAAAAAAAAAAAAAAAAAA"} {
		if code, _, _ := do(t, "GET", u, "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", u, code)
		}
	}

	// Rate limit: a burst of 4, then 429 with Retry-After.
	for range 2 {
		if _, err := ada.Share(ctx, api.ShareTrack, string(r.Tracks[1])); err != nil {
			t.Fatal(err)
		}
	}
	code, hdr, _ = do(t, "POST", r.URL+"/v1/shares", ada.Token(), `{"kind":"track","id":"`+string(r.Tracks[1])+`"}`)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("fifth share in a burst of 4: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	if _, err := bob.Share(ctx, api.ShareTrack, string(r.Tracks[1])); err != nil {
		t.Fatalf("bob's own budget: %v", err)
	}
	dan := testbed.Device(t, r, "dan")
	for _, body := range []string{`{"kind":"track","id":"nope"}`, `{"kind":"user","id":"ada"}`, `{"kind":"track","id":"x","invite":true}`, `{"kind":"playlist","id":"x"}`} {
		code, _, b := do(t, "POST", r.URL+"/v1/shares", dan.Token(), body)
		if code != http.StatusBadRequest && code != http.StatusNotFound {
			t.Errorf("share %s: %d %s", body, code, b)
		}
	}
}

// checkCard decodes a share card and checks its size and that it is not
// blank: many distinct colours, text and waveform pixels included.
func checkCard(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s.X != 1200 || s.Y != 630 {
		t.Fatalf("card is %v", s)
	}
	colors := map[[3]uint32]bool{}
	white := 0
	for y := 0; y < 630; y += 3 {
		for x := 0; x < 1200; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if x >= 600 && y < 230 && r>>8 > 240 && g>>8 > 240 && bl>>8 > 240 {
				white++
			}
		}
	}
	if len(colors) < 200 || white < 20 {
		t.Fatalf("card looks blank: %d colours, %d white title pixels", len(colors), white)
	}
}

// TestActivitySurvivesRestart: the latest activity is committed behind
// the fan-out and flushed at shutdown, so the feed has it after a
// restart; a newer post replaces an older one.
func TestActivitySurvivesRestart(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	for _, tr := range r.Tracks[:2] {
		// An album the catalog does not have is dropped from the activity.
		post := api.ActivityPost{Track: tr, Context: model.PlayContext{Kind: "album", ID: "no-such-album"}, Playing: true}
		if err := ada.PublishActivity(ctx, post); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	feed, err := bob.FriendActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed) != 1 || feed[0].Track != r.Tracks[1] || feed[0].Context != (model.PlayContext{}) {
		t.Fatalf("feed after restart = %+v", feed)
	}
}

// TestTopArtists: counted streams (server/counting's cnt/u/ records)
// summed by artist appear on a profile only when its owner allows it
// (the owner always sees them).
func TestTopArtists(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	st := r.Server().Catalog().Store()
	month := time.Now().UTC().Format("2006-01")
	for i, tr := range r.Tracks[:2] {
		if err := st.Set(ctx, store.Key("cnt", "u", "ada", month, string(tr)), []byte(store.U64(uint64(3+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := bob.Profile(ctx, "ada"); err != nil || len(p.TopArtists) != 0 {
		t.Fatalf("top artists shown without consent: %+v %v", p, err)
	}
	own, err := ada.Profile(ctx, "ada")
	if err != nil || len(own.TopArtists) == 0 || own.TopArtists[0].Plays != 7 || own.TopArtists[0].Name == "" {
		t.Fatalf("own top artists: %+v %v", own.TopArtists, err)
	}
	yes := true
	if err := ada.SetProfile(ctx, api.ProfileSettings{ShowTopArtists: &yes}); err != nil {
		t.Fatal(err)
	}
	p, err := bob.Profile(ctx, "ada")
	if err != nil || len(p.TopArtists) == 0 || p.TopArtists[0] != own.TopArtists[0] {
		t.Fatalf("allowed top artists: %+v %v", p.TopArtists, err)
	}
}

// TestStreamKeepAlive: an idle stream gets a comment line once per
// keep-alive period.
func TestStreamKeepAlive(t *testing.T) {
	r := socialRelay(t, social.DefaultOptions().WithKeepAlive(time.Second))
	ada := testbed.Device(t, r, "ada")
	req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+"/v1/activity/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ada.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	done := make(chan string, 1)
	go func() {
		var got []byte
		buf := make([]byte, 256)
		for !bytes.Contains(got, []byte(": keep-alive\n\n")) {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		done <- string(got)
	}()
	select {
	case got := <-done:
		if !strings.HasPrefix(got, ": ready\n\n") || !strings.Contains(got, ": keep-alive\n\n") {
			t.Fatalf("stream began %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keep-alive within 5 s")
	}
}
