package social_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/server/social"
)

// decodeOgg decodes an Ogg Vorbis stream to interleaved samples.
func decodeOgg(t *testing.T, b []byte) []float32 {
	t.Helper()
	sr := vorbis.NewStreamReader(bytes.NewReader(b), vorbis.DefaultOptions())
	var out []float32
	for {
		pcm, err := sr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = vorbis.Interleave(out, pcm)
	}
}

// TestSharePreview: without an account, a share link's preview lists
// the item's tracks (no user name in it) and serves each track's first
// 5 s (the configured preview) in clear — exactly that many frames,
// equal to the start of the full stream, much less than the whole
// track — and nothing past the list; a revoked link's preview is 404;
// requests beyond the per-address burst get 429.
func TestSharePreview(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions().WithPreview(5*time.Second).WithPreviewRate(time.Hour, 8, 4))
	ada := testbed.Device(t, r, "ada")
	sh, err := ada.Share(ctx, api.ShareTrack, string(r.Tracks[0]))
	if err != nil {
		t.Fatal(err)
	}
	code, hdr, body := do(t, "GET", sh.URL+"/preview", "", "") // 1
	var p api.SharePreview
	if code != http.StatusOK || json.Unmarshal(body, &p) != nil || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("preview: %d %v %s", code, hdr, body)
	}
	if p.Kind != api.ShareTrack || p.ID != string(r.Tracks[0]) || p.PreviewMS != 5000 || len(p.Tracks) != 1 ||
		p.Tracks[0].ID != r.Tracks[0] || p.Tracks[0].Title == "" || strings.Contains(string(body), "ada") {
		t.Fatalf("preview %s", body)
	}
	code, hdr, body = do(t, "GET", sh.URL+"/preview/0", "", "") // 2
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/cbor" {
		t.Fatalf("preview audio: %d %v %s", code, hdr, body)
	}
	var a api.PreviewAudio
	if err := cbor.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	m := a.Manifest
	if err := m.Validate(); err != nil {
		t.Fatalf("preview manifest: %v", err)
	}
	if m.TrackID != r.Tracks[0] || m.Tier != model.TierNormal || m.TotalSamples != int64(5*m.SampleRate) || m.Timing != nil {
		t.Fatalf("preview manifest %+v", m)
	}
	full, err := r.Encoded(r.Tracks[0], model.TierNormal)
	if err != nil {
		t.Fatal(err)
	}
	got, want := decodeOgg(t, append(bytes.Clone(a.Header), a.Audio...)), decodeOgg(t, full)
	if int64(len(got)) != m.TotalSamples*int64(m.Channels) || !slices.Equal(got, want[:len(got)]) {
		t.Fatalf("preview decodes to %d values (want %d), equal to the track's start: %v", len(got), m.TotalSamples*2, slices.Equal(got, want[:min(len(got), len(want))]))
	}
	if len(a.Header)+len(a.Audio) > len(full)/2 {
		t.Fatalf("5 s preview of a %d-byte track is %d bytes", len(full), len(a.Header)+len(a.Audio))
	}
	t.Logf("5 s preview: %d of %d bytes", len(a.Header)+len(a.Audio), len(full))
	if code, _, _ := do(t, "GET", sh.URL+"/preview/1", "", ""); code != http.StatusNotFound { // 3
		t.Fatalf("track past the list: %d", code)
	}
	if code, _, _ := do(t, "GET", sh.URL+"/preview/01", "", ""); code != http.StatusBadRequest { // 4
		t.Fatalf("bad index: %d", code)
	}

	album, err := ada.Share(ctx, api.ShareAlbum, string(r.Album))
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := do(t, "GET", album.URL+"/preview", "", ""); code != http.StatusOK || json.Unmarshal(body, &p) != nil || len(p.Tracks) != 4 || p.Kind != api.ShareAlbum { // 5
		t.Fatalf("album preview: %d %s", code, body)
	}
	if code, _, body := do(t, "GET", album.URL+"/preview/3", "", ""); code != http.StatusOK || cbor.Unmarshal(body, &a) != nil || a.Manifest.TrackID != r.Tracks[3] { // 6
		t.Fatalf("album track 4 preview: %d", code)
	}

	if err := ada.RevokeShare(ctx, sh.Token); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{sh.URL + "/preview", sh.URL + "/preview/0"} { // 7, 8
		if code, _, _ := do(t, "GET", u, "", ""); code != http.StatusNotFound {
			t.Fatalf("%s after revoke: %d", u, code)
		}
	}
	if code, hdr, _ := do(t, "GET", album.URL+"/preview", "", ""); code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" { // 9
		t.Fatalf("ninth request from one address: %d %v", code, hdr)
	}
}
