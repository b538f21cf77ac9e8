package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/license"
)

func stream(t *testing.T, e *core.Engine, id model.TrackID, tier model.Tier) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	tr, err := e.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, err
	}
	r := tr.Stream(ctx)
	defer r.Close()
	return io.ReadAll(r)
}

// TestRelayRestart: a device streams the demo album's exact encode; with
// the relay stopped an uncached track is offline; after Restart on the
// same data directory and URL the device (token, catalog key) works again.
func TestRelayRestart(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	if len(r.Tracks) != 4 || r.Album == "" || len(r.CatalogKey) != 32 {
		t.Fatalf("relay: %d tracks, album %q, key %d bytes", len(r.Tracks), r.Album, len(r.CatalogKey))
	}
	e := testbed.Device(t, r, "ada")
	got, err := stream(t, e, r.Tracks[0], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Encoded(r.Tracks[0], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stream of %d bytes differs from the %d-byte encode", len(got), len(want))
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := stream(t, e, r.Tracks[1], model.TierLow); !errors.Is(err, core.ErrOffline) {
		t.Fatalf("relay stopped: got %v, want ErrOffline", err)
	}
	if err := r.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(context.Background()); err == nil {
		t.Fatal("Restart of a running relay succeeded")
	}
	if _, err := stream(t, e, r.Tracks[1], model.TierLow); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := r.Encoded("tr-none", model.TierLow); !errors.Is(err, testbed.ErrNotDemoTrack) {
		t.Fatalf("unknown track: got %v", err)
	}
}

// TestOptions: an empty relay has no tracks; the license server answers
// its admin route only when mounted (404 without: no such route; 404
// with the admin token when mounted: ada has no subscription, and 401
// without it).
func TestOptions(t *testing.T) {
	const admin = "testbed-admin-token-0123456789"
	for _, tc := range []struct {
		name     string
		opts     testbed.Options
		tracks   int
		wantCode int // with the admin token
		anonCode int // without a token
	}{
		{"empty", testbed.DefaultOptions().WithDemoAlbum(false), 0, http.StatusNotFound, http.StatusNotFound},
		{"licenses", testbed.DefaultOptions().WithDemoAlbum(false).WithLicenses(true).WithLicenseOptions(
			func(o license.Options) license.Options { return o.WithAdminToken(admin) }), 0, http.StatusNotFound, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testbed.NewRelay(t, tc.opts)
			if len(r.Tracks) != tc.tracks {
				t.Fatalf("%d tracks, want %d", len(r.Tracks), tc.tracks)
			}
			for _, c := range []struct {
				token string
				want  int
			}{{admin, tc.wantCode}, {"", tc.anonCode}} {
				req, err := http.NewRequest("GET", r.URL+"/v1/admin/subscriptions/ada", nil)
				if err != nil {
					t.Fatal(err)
				}
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.want {
					t.Fatalf("admin route, token %q: %s, want %d", c.token, resp.Status, c.want)
				}
			}
		})
	}
}
