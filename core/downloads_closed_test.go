package core_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// TestClosedManagerChangesNothing: a download manager kept by the app
// after CloseDownloads refuses every change, and every read of the store
// or the blob files the next manager owns, with download.ErrClosed. Its
// Remove used to delete the download's records and blob files under the
// manager OpenDownloads made next, which still reported the track
// downloaded; its Renew still renewed over the network.
func TestClosedManagerChangesNothing(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	ctx := t.Context()
	opts := download.DefaultOptions().WithLogger(quiet())
	old, err := e.OpenDownloads(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ref := download.Ref{Kind: download.KindTrack, ID: string(r.Tracks[0]), Tier: model.TierLow}
	if err := old.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := old.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.CloseDownloads(); err != nil {
		t.Fatal(err)
	}
	m, err := e.OpenDownloads(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Add":              func() error { return old.Add(ctx, ref) },
		"Remove":           func() error { return old.Remove(ctx, ref) },
		"Refresh":          func() error { return old.Refresh(ctx, ref) },
		"RefreshPlaylist":  func() error { return old.RefreshPlaylist(ctx, "p") },
		"Renew":            func() error { return old.Renew(ctx) },
		"Verify":           func() error { _, err := old.Verify(ctx); return err },
		"SetAllowMetered":  func() error { return old.SetAllowMetered(ctx, true) },
		"ContentKey":       func() error { _, err := old.ContentKey(ctx, r.Tracks[0], model.TierLow); return err },
		"Blob":             func() error { _, _, err := old.Blob(ctx, [32]byte{}); return err },
		"TrackInfo":        func() error { _, _, err := old.TrackInfo(ctx, r.Tracks[0]); return err },
		"AlbumInfo":        func() error { _, _, _, err := old.AlbumInfo(ctx, model.AlbumID("a")); return err },
		"ObserveStatement": func() error { return old.ObserveStatement(ctx, "x", []byte{1}) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, download.ErrClosed) {
			t.Errorf("%s on the closed manager: %v, want download.ErrClosed", name, err)
		}
	}
	// The download still plays with the relay gone.
	r.Stop()
	e.SetOfflineMode(true)
	tr, err := e.OpenTrack(ctx, r.Tracks[0], model.TierLow)
	if err != nil {
		t.Fatalf("open the downloaded track offline: %v", err)
	}
	s := tr.Stream(ctx)
	defer s.Close()
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatalf("read the downloaded track offline: %v", err)
	}
	if _, ok, err := m.TrackInfo(ctx, r.Tracks[0]); err != nil || !ok {
		t.Error("the open manager lost the track's metadata")
	}
}

// TestClosedManagerKeepsClock: a download manager kept by the app after
// CloseDownloads no longer writes the trusted clock, which belongs to the
// manager OpenDownloads makes next. Its Status, TrustedNow and RaiseClock
// used to persist its own clock over the one a later manager had saved,
// so the trusted time that manager had reached was lost at the next open
// (trusted time went back: licenses past their expiry played again).
func TestClosedManagerKeepsClock(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	ctx := t.Context()
	opts := download.DefaultOptions().WithLogger(quiet())
	old, err := e.OpenDownloads(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CloseDownloads(); err != nil {
		t.Fatal(err)
	}
	m, err := e.OpenDownloads(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(72 * time.Hour)
	m.RaiseClock(ctx, ahead)
	if err := e.CloseDownloads(); err != nil { // persists m's clock
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Status", func() error { _, err := old.Status(ctx); return err }},
		{"TrustedNow", func() error { old.TrustedNow(ctx); return nil }},
		{"RaiseClock", func() error { old.RaiseClock(ctx, time.Now().Add(time.Hour)); return nil }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil && !errors.Is(err, download.ErrClosed) {
			t.Errorf("%s on the closed manager: %v, want nil or download.ErrClosed", c.name, err)
		}
	}
	if _, err := old.Status(ctx); !errors.Is(err, download.ErrClosed) {
		t.Errorf("Status on the closed manager: %v, want download.ErrClosed", err)
	}
	again, err := e.OpenDownloads(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if now := again.TrustedNow(ctx); now.Before(ahead) {
		t.Errorf("trusted time after reopening: %s, want at least %s (the open manager's, not the closed one's)", now, ahead)
	}
}
