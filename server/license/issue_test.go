package license_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestIssuePerTrack posts license requests naming unknown and embargoed
// tracks to a real relay: a per-track request gets a license of the
// others and the refused tracks with their reasons (no license at all
// when none is licensable), while a request without per_track, as older
// devices send, still fails whole with the status it always had.
func TestIssuePerTrack(t *testing.T) {
	var dd *catalog.DataDir
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).
		WithMount(func(d *catalog.DataDir, _ *relay.Server) { dd = d }))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	if code, b := post(t, client, r.URL, "/v1/accounts", "", api.AccountRequest{Username: "cy", Password: testbed.Password}); code != http.StatusCreated {
		t.Fatalf("sign up: %d %s", code, b)
	}
	tok, id := registerDevice(t, client, r.URL, "cy", "phone")
	good, other := r.Tracks[0], r.Tracks[1]
	const bogus = model.TrackID("trBOGUS")
	issue := func(t *testing.T, req api.IssueRequest) (int, string, []byte) {
		t.Helper()
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		hr, err := http.NewRequest(http.MethodPost, r.URL+"/v1/licenses", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get(api.StatementHeader) == "" && resp.StatusCode == http.StatusOK {
			t.Fatal("answer without a signed statement")
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		return resp.StatusCode, mt, body
	}
	// licensed opens a license envelope and returns its tracks.
	licensed := func(t *testing.T, env []byte) []model.TrackID {
		t.Helper()
		l, err := crypto.OpenLicense(r.CatalogKey, id, env)
		if err != nil {
			t.Fatal(err)
		}
		var got []model.TrackID
		for _, e := range l.Entries {
			got = append(got, e.TrackID)
		}
		return got
	}
	tests := []struct {
		name        string
		embargo     bool // the demo album is not released yet
		req         api.IssueRequest
		code        int
		ctype       string
		licensed    []model.TrackID // the answer's license covers exactly these
		unavailable []api.Unavailable
	}{
		{"per track, one unknown", false, api.IssueRequest{Tracks: []model.TrackID{good, bogus, other, bogus}, Tier: model.TierLow, PerTrack: true},
			http.StatusOK, api.IssueAnswerType, []model.TrackID{good, other}, []api.Unavailable{{Track: bogus, Reason: api.UnavailableNotFound}}},
		{"per track, all unknown", false, api.IssueRequest{Tracks: []model.TrackID{bogus}, Tier: model.TierLow, PerTrack: true},
			http.StatusOK, api.IssueAnswerType, nil, []api.Unavailable{{Track: bogus, Reason: api.UnavailableNotFound}}},
		{"per track, all known", false, api.IssueRequest{Tracks: []model.TrackID{good}, Tier: model.TierLow, PerTrack: true},
			http.StatusOK, api.IssueAnswerType, []model.TrackID{good}, nil},
		{"per track, no tracks", false, api.IssueRequest{Tier: model.TierLow, PerTrack: true}, http.StatusBadRequest, "application/json", nil, nil},
		{"per track, embargoed", true, api.IssueRequest{Tracks: []model.TrackID{good, bogus}, Tier: model.TierLow, PerTrack: true},
			http.StatusOK, api.IssueAnswerType, nil, []api.Unavailable{{Track: good, Reason: api.UnavailableEmbargoed}, {Track: bogus, Reason: api.UnavailableNotFound}}},
		{"whole, one unknown", false, api.IssueRequest{Tracks: []model.TrackID{good, bogus}, Tier: model.TierLow}, http.StatusNotFound, "application/json", nil, nil},
		{"whole, embargoed", true, api.IssueRequest{Tracks: []model.TrackID{good}, Tier: model.TierLow}, http.StatusForbidden, "application/json", nil, nil},
		{"whole, all known", false, api.IssueRequest{Tracks: []model.TrackID{good, other}, Tier: model.TierLow}, http.StatusOK, "application/cbor", []model.TrackID{good, other}, nil},
		// More distinct tracks than one license holds: 413 before any
		// lookup (each was looked up and answered unavailable).
		{"per track, over a license", false, api.IssueRequest{Tracks: manyTracks(crypto.MaxLicenseEntries + 1), Tier: model.TierLow, PerTrack: true},
			http.StatusRequestEntityTooLarge, "application/json", nil, nil},
		{"whole, over a license", false, api.IssueRequest{Tracks: manyTracks(crypto.MaxLicenseEntries + 1), Tier: model.TierLow},
			http.StatusRequestEntityTooLarge, "application/json", nil, nil},
		// An unknown id is named in the error, but no more than 64
		// bytes of it (it was quoted whole, twice for a track).
		{"whole, long unknown track", false, api.IssueRequest{Tracks: []model.TrackID{model.TrackID(strings.Repeat("x", 3000))}, Tier: model.TierLow},
			http.StatusNotFound, "application/json", nil, nil},
		{"whole, long unknown album", false, api.IssueRequest{Albums: []model.AlbumID{model.AlbumID(strings.Repeat("x", 3000))}, Tier: model.TierLow},
			http.StatusNotFound, "application/json", nil, nil},
		{"whole, long unknown valid id", false, api.IssueRequest{Tracks: []model.TrackID{model.TrackID(strings.Repeat("x", model.MaxIDLen))}, Tier: model.TierLow},
			http.StatusNotFound, "application/json", nil, nil},
		// One album named again and again is read and counted once.
		{"one album repeated", false, api.IssueRequest{Albums: slices.Repeat([]model.AlbumID{r.Album}, 40_000), Tier: model.TierLow},
			http.StatusOK, "application/cbor", r.Tracks, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var at time.Time
			if tc.embargo {
				at = time.Now().Add(24 * time.Hour)
			}
			if err := dd.Catalog.ScheduleRelease(context.Background(), r.Album, at); err != nil {
				t.Fatal(err)
			}
			code, ctype, body := issue(t, tc.req)
			if code != tc.code || ctype != tc.ctype {
				t.Fatalf("answer %d %s, want %d %s: %.256q", code, ctype, tc.code, tc.ctype, body)
			}
			if code != http.StatusOK {
				if bytes.Contains(body, bytes.Repeat([]byte("x"), relay.MaxEchoedInput+1)) {
					t.Fatalf("error %.300q echoes more than %d bytes of an id", body, relay.MaxEchoedInput)
				}
				return
			}
			env := body
			if ctype == api.IssueAnswerType {
				var ans api.IssueAnswer
				if err := cbor.Unmarshal(body, &ans); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ans.Unavailable, tc.unavailable) {
					t.Fatalf("unavailable %v, want %v", ans.Unavailable, tc.unavailable)
				}
				env = ans.License
			}
			if len(env) == 0 {
				if tc.licensed != nil {
					t.Fatal("no license")
				}
				return
			}
			if got := licensed(t, env); !slices.Equal(got, tc.licensed) {
				t.Fatalf("license covers %v, want %v", got, tc.licensed)
			}
		})
	}
}

// manyTracks returns n distinct track ids the catalog does not hold.
func manyTracks(n int) []model.TrackID {
	ids := make([]model.TrackID, n)
	for i := range ids {
		ids[i] = model.TrackID(strconv.FormatInt(int64(i), 36))
	}
	return ids
}
