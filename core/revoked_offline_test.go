package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player"
)

// TestUnauthorizedChecksRevocation: a device deregistered while it held
// downloads, whose next authenticated request the relay answers 401,
// checks with a signed renewal and loses offline playback then, not at
// its scheduled renewal weeks later.
func TestUnauthorizedChecksRevocation(t *testing.T) {
	const tier = model.TierLow
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	ctx := t.Context()
	e := tbed.Device(t, r, testUser)
	dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(r.Tracks[0]), Tier: tier}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dl.ContentKey(ctx, r.Tracks[0], tier); err != nil {
		t.Fatalf("before deregistration: %v", err)
	}
	deregister(t, r, e)
	// The engine's own background requests (the local search index
	// describing the download) may meet the 401 first: the key is then
	// already revoked, never unlicensed.
	if _, err := dl.ContentKey(ctx, r.Tracks[0], tier); err != nil && !errors.Is(err, core.ErrLicenseRevoked) {
		t.Fatalf("just after deregistration: %v, want the key or ErrLicenseRevoked", err)
	}
	if _, err := e.TrackInfo(ctx, r.Tracks[1]); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("TrackInfo of a deregistered device = %v, want ErrUnauthorized", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := dl.ContentKey(ctx, r.Tracks[0], tier)
		if errors.Is(err, core.ErrLicenseRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("content key 10 s after the relay refused the deregistered device: %v, want ErrLicenseRevoked", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRevokedSkippedAtOnce: a downloaded track whose license was revoked
// is skipped at once with a warning (player.ErrUnplayable,
// ErrLicenseRevoked) and the rest plays; it used to be retried as a
// stall for the player's 30 s stall timeout, track after track.
func TestRevokedSkippedAtOnce(t *testing.T) {
	const tier = model.TierNormal
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	ctx := t.Context()
	e := tbed.Device(t, r, testUser)
	dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(r.Tracks[0]), Tier: tier}); err != nil {
		t.Fatal(err)
	}
	if err := dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	deregister(t, r, e)
	if err := dl.Renew(ctx); !errors.Is(err, core.ErrLicenseRevoked) {
		t.Fatalf("renew after deregistration = %v, want ErrLicenseRevoked", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	run := playThroughEngine(t, e, noGain(tier), func(*player.Player) error {
		return e.PlayTracks(ctx, model.PlayContext{Kind: "playlist", ID: "revoked"}, []model.TrackID{r.Tracks[0]}, 0)
	}, nil)
	if el := time.Since(began); el > 10*time.Second {
		t.Fatalf("the revoked track held the play for %v", el)
	}
	var warned []error
	for _, st := range run.statuses {
		if st.Err != nil {
			warned = append(warned, st.Err)
		}
	}
	if len(warned) != 1 || !errors.Is(warned[0], player.ErrUnplayable) || !errors.Is(warned[0], core.ErrLicenseRevoked) {
		t.Fatalf("warnings %v: want one skip of the revoked track (unplayable, revoked)", warned)
	}
}

// deregister deletes e's device at the relay (DELETE /v1/devices/{id}
// with its own token).
func deregister(t *testing.T, r *tbed.Relay, e *core.Engine) {
	t.Helper()
	tbed.Deregister(t, r.URL, e.DeviceID(), e.Token())
}
