package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

// TestEmbargo schedules the demo album's release an hour ahead of the
// relay's (fake) clock: before it, GET /v1/releases lists it, its blobs
// and manifests are served, but no stream key and no license is issued
// (403, by the relay's clock, whatever the device's); from the release
// instant on, both are.
func TestEmbargo(t *testing.T) {
	clock := &fakeClock{t: time.Now().Truncate(time.Second)}
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithClock(clock.Now) }).
		WithLicenseOptions(func(o license.Options) license.Options { return o.WithClock(clock.Now) }))
	tok := testbed.Device(t, r, "alice").Token()
	releaseAt := clock.Now().Add(time.Hour)
	ctx := context.Background()
	if err := r.Server().Catalog().ScheduleRelease(ctx, r.Album, releaseAt); err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, r.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	track := r.Tracks[0]
	streamKey := api.StreamKeyRequest{Track: track, Tier: model.TierNormal}
	issue := api.IssueRequest{Albums: []model.AlbumID{r.Album}, Tier: model.TierNormal}

	code, body := do("GET", "/v1/releases", nil)
	var sched api.ReleaseSchedule
	if code != 200 || json.Unmarshal(body, &sched) != nil {
		t.Fatalf("releases: %d %s", code, body)
	}
	if len(sched.Releases) != 1 || sched.Releases[0].Album != r.Album || !sched.Releases[0].ReleaseAt.Equal(releaseAt) ||
		len(sched.Releases[0].Tracks) != len(r.Tracks) || !sched.ServerTime.Equal(clock.Now()) {
		t.Fatalf("schedule %+v, want %s at %v with %d tracks", sched, r.Album, releaseAt, len(r.Tracks))
	}
	if code, body := do("GET", "/v1/albums/"+string(r.Album), nil); code != 200 || !strings.Contains(string(body), `"release_at":`) {
		t.Fatalf("album: %d %s", code, body)
	}
	for _, path := range []string{"/v1/audio/" + string(track) + "/normal/manifest", "/v1/audio/" + string(track) + "/normal/chunks/0"} {
		if code, _ := do("GET", path, nil); code != 200 {
			t.Fatalf("%s before release: %d, want 200 (encrypted, pre-positionable)", path, code)
		}
	}
	for _, tc := range []struct {
		advance time.Duration
		want    int
	}{
		{0, 403},
		{time.Hour - time.Second, 403}, // one second before
		{time.Second, 200},             // the release instant
	} {
		clock.Advance(tc.advance)
		if code, body := do("POST", "/v1/keys/stream", streamKey); code != tc.want || (code == 403 && !strings.Contains(string(body), "embargoed")) {
			t.Errorf("stream key at release%+v: %d %s, want %d", clock.Now().Sub(releaseAt), code, body, tc.want)
		}
		if code, body := do("POST", "/v1/licenses", issue); code != tc.want {
			t.Errorf("license at release%+v: %d %s, want %d", clock.Now().Sub(releaseAt), code, body, tc.want)
		}
	}
	// A day after the release the album leaves the schedule.
	clock.Advance(24*time.Hour + time.Second)
	if code, body := do("GET", "/v1/releases", nil); code != 200 || !strings.Contains(string(body), `"releases":[]`) {
		t.Fatalf("releases a day later: %d %s", code, body)
	}
	// Lifting the embargo removes it from the index.
	if err := r.Server().Catalog().ScheduleRelease(ctx, r.Album, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if albums, err := r.Server().Catalog().Releases(ctx, time.Unix(1, 0), 0); err != nil || len(albums) != 0 {
		t.Fatalf("releases after lifting: %v %v", albums, err)
	}
	if err := r.Server().Catalog().ScheduleRelease(ctx, "nope", releaseAt); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("unknown album: %v", err)
	}
}
