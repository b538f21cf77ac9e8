package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// captureSink keeps every frame written, at a fixed format.
type captureSink struct {
	rate int
	mu   sync.Mutex
	buf  []float32
}

func (c *captureSink) Format() (int, int) { return c.rate, demoalbum.Channels }
func (c *captureSink) Write(ctx context.Context, f []float32) error {
	c.mu.Lock()
	c.buf = append(c.buf, f...)
	c.mu.Unlock()
	return ctx.Err()
}
func (c *captureSink) Close() error { return nil }

// playToEnd starts playback with start and waits until the queue ended.
func playToEnd(t *testing.T, p *player.Player, start func() error) {
	t.Helper()
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := start(); err != nil {
		t.Fatal(err)
	}
	started := false
	timeout := time.After(60 * time.Second)
	for {
		select {
		case st := <-sub:
			if st.Err != nil && !errors.Is(st.Err, player.ErrCrossfadeShortened) {
				t.Fatalf("player: %v", st.Err)
			}
			started = started || st.State == player.StatePlaying || st.State == player.StateBuffering
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				return
			}
		case <-timeout:
			t.Fatal("playback did not end")
		}
	}
}

// TestAlbumMatchesNativeEngine plays the demo album through the web
// engine and through core.Engine at 48 kHz (so the resampler runs) and
// requires the same samples, bit for bit.
func TestAlbumMatchesNativeEngine(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	const rate = 48000
	popts := player.DefaultOptions().WithTier(model.TierLow)

	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions().WithPlayer(popts))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.PlayAlbum(ctx, r.Album, 0); err == nil {
		t.Fatal("PlayAlbum before login and player succeeded")
	}
	if err := e.SignUp(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "web", testbed.Password); err != nil {
		t.Fatal(err)
	}
	web := &captureSink{rate: rate}
	p, err := e.OpenPlayer(web)
	if err != nil {
		t.Fatal(err)
	}
	playToEnd(t, p, func() error { return e.PlayAlbum(ctx, r.Album, 0) })

	n := testbed.Device(t, r, "native")
	native := &captureSink{rate: rate}
	np, err := n.OpenPlayer(native, popts)
	if err != nil {
		t.Fatal(err)
	}
	playToEnd(t, np, func() error { return n.PlayAlbum(ctx, r.Album, 0) })

	want := int64(demoalbum.TotalSamples)*rate/int64(demoalbum.Rate) - 1
	if got := int64(len(web.buf) / 2); got < want || got > want+2 {
		t.Fatalf("web engine wrote %d frames, want ≈ %d", got, want)
	}
	if len(web.buf) != len(native.buf) {
		t.Fatalf("web %d samples, native %d", len(web.buf), len(native.buf))
	}
	for i := range web.buf {
		if web.buf[i] != native.buf[i] {
			t.Fatalf("sample %d: web %v, native %v", i, web.buf[i], native.buf[i])
		}
	}
	evs, err := e.History().Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(r.Tracks) {
		t.Fatalf("%d play events, want %d", len(evs), len(r.Tracks))
	}
	for _, ev := range evs {
		if ev.Device != e.DeviceID() || ev.Tier != model.TierLow {
			t.Errorf("event %+v: want device %s, tier low", ev, e.DeviceID())
		}
	}
}

// TestLoginRefusals covers credentials checked before sending, a wrong
// password, and a relay that later presents another catalog key.
func TestLoginRefusals(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, c := range []struct{ user, pass string }{{"", "x"}, {"x", ""}, {string(make([]byte, 300)), "x"}} {
		if err := e.Login(ctx, c.user, c.pass); !errors.Is(err, engine.ErrBadCredentials) {
			t.Errorf("Login(%q, %q) = %v, want ErrBadCredentials", c.user, c.pass, err)
		}
	}
	if err := e.SignUp(ctx, "ada", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "ada", "wrong password"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if _, _, err := e.Album(ctx, r.Album); !errors.Is(err, engine.ErrNotLoggedIn) {
		t.Fatalf("Album before login = %v, want ErrNotLoggedIn", err)
	}
	st := store.NewMemory()
	if err := st.Set(ctx, []byte("cfg/catalog-key"), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	e2, err := engine.Open(ctx, r.URL, st, &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.Login(ctx, "ada", testbed.Password); !errors.Is(err, engine.ErrCatalogKeyMismatch) {
		t.Fatalf("Login against another catalog key = %v, want ErrCatalogKeyMismatch", err)
	}
	if _, err := engine.Open(ctx, "ftp://x", store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions()); err == nil {
		t.Fatal("Open accepted an ftp relay URL")
	}
}

// TestTokenExpiry: when the relay's token lifetime ends, calls fail with
// ErrUnauthorized and the listener hears it once; signing in again keeps
// the device (same id) and works.
func TestTokenExpiry(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithTokenTTL(2 * time.Second)
	}))
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var told atomic.Int32
	e.OnUnauthorized(func() { told.Add(1) })
	if err := e.SignUp(ctx, "ada", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "ada", testbed.Password); err != nil {
		t.Fatal(err)
	}
	id := e.DeviceID()
	if _, _, err := e.Album(ctx, r.Album); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	for range 2 {
		if _, _, err := e.Album(ctx, r.Album); !errors.Is(err, engine.ErrUnauthorized) {
			t.Fatalf("Album with an expired token = %v, want ErrUnauthorized", err)
		}
	}
	if told.Load() != 1 {
		t.Fatalf("listener told %d times, want once", told.Load())
	}
	if err := e.Login(ctx, "ada", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Album(ctx, r.Album); err != nil || e.DeviceID() != id {
		t.Fatalf("after signing in again: %v, device %s (was %s)", err, e.DeviceID(), id)
	}
}

// TestPlayAlbumBadStart: a play from an index past the album's last
// track is refused with ErrBadStart and leaves the player idle, whether
// the album's answer was in memory or fetched for the play (before, the
// player clamped the index and played the last track); AlbumTracks
// knows the album once Album fetched it.
func TestPlayAlbumBadStart(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.SignUp(ctx, "start", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, "start", testbed.Password); err != nil {
		t.Fatal(err)
	}
	p, err := e.OpenPlayer(player.NewDiscardSink(44100, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.AlbumTracks(r.Album); ok {
		t.Fatal("AlbumTracks knows the album before Album fetched it")
	}
	n := len(r.Tracks)
	for _, step := range []string{"fetched for the play", "in memory"} {
		if err := e.PlayAlbumFrom(ctx, r.Album, n, 0); !errors.Is(err, engine.ErrBadStart) {
			t.Errorf("%s: PlayAlbumFrom(start %d of %d tracks) = %v, want ErrBadStart", step, n, n, err)
		}
		if got, ok := e.AlbumTracks(r.Album); !ok || got != n {
			t.Errorf("%s: AlbumTracks = %d, %v; want %d, true", step, got, ok, n)
		}
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	if st := <-sub; st.State != player.StateIdle || st.Track != "" {
		t.Errorf("after the refused plays the player is %v with track %q, want idle with none", st.State, st.Track)
	}
}

// TestLoginAnotherAccount: a browser signed in to one account refuses a
// Login as another with ErrOtherAccount, before anything is sent, even
// once the relay has let the device go (deregistered from another of the
// account's devices) — before, the second account then signed in on the
// first one's downloads, licences and queued plays; the record survives
// a reopen of the key store. SignOut deregisters the device (its token
// is refused after), counts a device the relay already let go as signed
// out, and keeps the token when the relay cannot be reached.
func TestLoginAnotherAccount(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	ks := &crypto.MemoryKeyStore{}
	e, err := engine.Open(ctx, r.URL, store.NewMemory(), ks, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, u := range []string{"ada", "bob"} {
		if err := e.SignUp(ctx, u, testbed.Password); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Login(ctx, "ada", testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Device(t, r, "ada").Deregister(ctx, e.DeviceID()); err != nil {
		t.Fatal(err)
	}
	reopened, err := engine.Open(ctx, r.URL, store.NewMemory(), ks, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	for _, c := range []struct {
		name string
		e    *engine.Engine
	}{{"same engine", e}, {"reopened", reopened}} {
		if err := c.e.Login(ctx, "bob", testbed.Password); !errors.Is(err, engine.ErrOtherAccount) {
			t.Errorf("%s: Login as bob after ada = %v, want ErrOtherAccount", c.name, err)
		}
	}
	if err := e.Login(ctx, "ada", testbed.Password); err != nil {
		t.Fatalf("ada signing in again: %v", err)
	}
	tok := e.Token()
	if err := e.SignOut(ctx); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if e.Token() != "" {
		t.Error("a token is held after SignOut")
	}
	if _, _, err := e.Album(ctx, r.Album); !errors.Is(err, engine.ErrNotLoggedIn) {
		t.Errorf("Album after SignOut = %v, want ErrNotLoggedIn", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/me with the signed-out device's token: %s, want 401", resp.Status)
	}
	// The page's other tab: its token is refused already.
	if err := reopened.SignOut(ctx); err != nil {
		t.Errorf("SignOut of a device the relay let go = %v, want nil", err)
	}
	if err := e.SignOut(ctx); err != nil {
		t.Errorf("SignOut without a token = %v, want nil", err)
	}
	down := &crypto.MemoryKeyStore{}
	if err := down.Save(ctx, "token", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	off, err := engine.Open(ctx, "http://127.0.0.1:1", store.NewMemory(), down, engine.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if err := off.SignOut(ctx); err == nil || off.Token() != "kept" {
		t.Errorf("SignOut with the relay unreachable = %v, token %q; want an error and the token kept", err, off.Token())
	}
}

// TestDamagedPin: a pinned catalog key that cannot be one (a record
// written by hand or cut short) is deleted when the engine opens, and the
// relay's key is pinned again at sign-in; the album then loads. Before,
// Open failed ("pinned catalog key is 5 bytes") and the page could
// neither open nor sign in on any load until its site data were cleared
// by hand. A pinned key of the right size that is not the relay's is
// still refused (TestLoginRefusals).
func TestDamagedPin(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	for i, pin := range [][]byte{{}, {1, 2, 3, 4, 5}, make([]byte, 33)} {
		st := store.NewMemory()
		if err := st.Set(ctx, []byte("cfg/catalog-key"), pin); err != nil {
			t.Fatal(err)
		}
		e, err := engine.Open(ctx, r.URL, st, &crypto.MemoryKeyStore{}, engine.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatalf("%d-byte pin: Open = %v", len(pin), err)
		}
		user := fmt.Sprintf("pin%d", i)
		if err := e.SignUp(ctx, user, testbed.Password); err != nil {
			t.Fatal(err)
		}
		if err := e.Login(ctx, user, testbed.Password); err != nil {
			t.Fatalf("%d-byte pin: Login = %v", len(pin), err)
		}
		if _, _, err := e.Album(ctx, r.Album); err != nil {
			t.Fatalf("%d-byte pin: Album = %v", len(pin), err)
		}
		if got, err := st.Get(ctx, []byte("cfg/catalog-key")); err != nil || len(got) != 32 {
			t.Errorf("%d-byte pin: pinned after sign-in %d bytes, %v; want the relay's 32-byte key", len(pin), len(got), err)
		}
		e.Close()
	}
}
