package social_test

import (
	"bytes"
	"encoding/json"
	"image/png"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// hasWaveform reports whether a share card has waveform bars: the
// waveform's band (x 600–1140, y 380–540) holds more than the
// background's one colour.
func hasWaveform(t *testing.T, b []byte) bool {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	colors := map[[4]uint32]bool{}
	for y := 380; y < 540; y++ {
		for x := 600; x < 1140; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(colors) > 1
}

// TestShareEmbargo: while an album is embargoed (by the relay's clock,
// which the social service follows), nothing derived from its audio
// leaves the relay through share links: shares of its tracks and of the
// album are refused (403), a share made before the embargo was scheduled
// and a public playlist holding one of its tracks keep their page, but
// their previews are 403 and their cards carry no waveform, even one
// stored before. From the release instant on, everything is served. The
// fake clock stands a second before the release, then at it.
func TestShareEmbargo(t *testing.T) {
	ctx := t.Context()
	var clock atomic.Int64 // the relay's now, Unix nanoseconds
	clock.Store(time.Now().Truncate(time.Second).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithClock(now) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			social.NewForRelay(dd, srv, social.DefaultOptions().WithPreview(5*time.Second).
				WithPreviewRate(time.Millisecond, 1000, 4).WithShareRate(time.Millisecond, 1000).
				WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
		}))
	ada := testbed.Device(t, r, "ada")
	te := r.Tracks[0]

	// Before any embargo: a track share whose card stores te's waveform.
	old, err := ada.Share(ctx, api.ShareTrack, string(te))
	if err != nil {
		t.Fatal(err)
	}
	oldAlbum, err := ada.Share(ctx, api.ShareAlbum, string(r.Album))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, img := do(t, "GET", old.URL+".png", "", ""); code != http.StatusOK || !hasWaveform(t, img) {
		t.Fatalf("card before the embargo: %d, waveform %v", code, code == http.StatusOK && hasWaveform(t, img))
	}
	pl, _ := syncedPlaylist(t, ada, "ada", "Upcoming", true, te)

	release := now().Add(time.Hour)
	if err := r.Server().Catalog().ScheduleRelease(ctx, r.Album, release); err != nil {
		t.Fatal(err)
	}
	playlist, err := ada.Share(ctx, api.SharePlaylist, pl.String())
	if err != nil {
		t.Fatalf("a public playlist holding an embargoed track is shareable: %v", err)
	}

	create := func(kind, id string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(api.ShareRequest{Kind: kind, ID: id})
		code, _, b := do(t, "POST", r.URL+"/v1/shares", ada.Token(), string(body))
		return code, string(b)
	}
	for _, step := range []struct {
		name     string
		at       time.Time
		released bool
	}{
		{"a second before the release", release.Add(-time.Second), false},
		{"at the release", release, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			clock.Store(step.at.UnixNano())
			wantCreate, wantAudio := http.StatusForbidden, http.StatusForbidden
			if step.released {
				wantCreate, wantAudio = http.StatusCreated, http.StatusOK
			}
			for _, c := range []struct{ kind, id string }{{api.ShareTrack, string(te)}, {api.ShareAlbum, string(r.Album)}} {
				code, body := create(c.kind, c.id)
				if code != wantCreate || (!step.released && !strings.Contains(body, "embargoed")) {
					t.Errorf("create a %s share: %d %s, want %d", c.kind, code, body, wantCreate)
				}
			}
			for _, sh := range []api.Share{old, oldAlbum, playlist} {
				if code, _, _ := do(t, "GET", sh.URL, "", ""); code != http.StatusOK {
					t.Errorf("%s page: %d, want 200", sh.Kind, code)
				}
				code, _, body := do(t, "GET", sh.URL+"/preview", "", "")
				var p api.SharePreview
				if code != http.StatusOK || json.Unmarshal(body, &p) != nil || len(p.Tracks) == 0 || p.Tracks[0].ID != te {
					t.Fatalf("%s preview: %d %s", sh.Kind, code, body)
				}
				code, hdr, body := do(t, "GET", sh.URL+"/preview/0", "", "")
				if code != wantAudio {
					t.Errorf("%s preview audio: %d, want %d (%.100s)", sh.Kind, code, wantAudio, body)
				}
				var a api.PreviewAudio
				if step.released && (cbor.Unmarshal(body, &a) != nil || a.Manifest.TrackID != te || len(a.Audio) == 0) {
					t.Errorf("%s preview audio after the release: not te's audio", sh.Kind)
				}
				if !step.released && (hdr.Get("Content-Type") != "application/json" || bytes.Contains(body, []byte("OggS"))) {
					t.Errorf("%s preview audio before the release: %s %.100q", sh.Kind, hdr.Get("Content-Type"), body)
				}
				code, _, img := do(t, "GET", sh.URL+".png", "", "")
				if code != http.StatusOK {
					t.Fatalf("%s card: %d", sh.Kind, code)
				}
				if _, err := png.Decode(bytes.NewReader(img)); err != nil {
					t.Fatalf("%s card: %v", sh.Kind, err)
				}
				if got := hasWaveform(t, img); got != step.released {
					t.Errorf("%s card has a waveform: %v, want %v", sh.Kind, got, step.released)
				}
			}
		})
	}
}
