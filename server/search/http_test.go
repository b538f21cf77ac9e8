package search

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// deviceToken creates the account ada and registers a device on the
// relay at base, returning the device's bearer token.
func deviceToken(t *testing.T, base string) string {
	t.Helper()
	return deviceTokenFor(t, base, "ada")
}

// deviceTokenFor is deviceToken for the account user.
func deviceTokenFor(t *testing.T, base, user string) string {
	t.Helper()
	post := func(path string, body any) []byte {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
		}
		return out
	}
	post("/v1/accounts", map[string]string{"username": user, "password": "correct horse battery"})
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sp, hp := id.SignPublic(), id.HPKEPublic()
	var reg api.RegisterResponse
	body := post("/v1/devices", api.RegisterRequest{Username: user, Password: "correct horse battery", Name: "phone",
		SignPub: sp, HPKEPub: hp, Issued: now.Unix(), Sig: id.Sign(crypto.DeviceProofMessage(user, "phone", sp, hp, now))})
	if err := json.Unmarshal(body, &reg); err != nil {
		t.Fatal(err)
	}
	return reg.Token
}

// TestHTTPSearch runs GET /v1/search on a real relay over Badger.
func TestHTTPSearch(t *testing.T) {
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	quiet := slog.New(slog.DiscardHandler)
	srv := relay.NewWithDataDir(dd, relay.DefaultOptions("").WithArgonParams(relay.FastArgonParams).WithLogger(quiet))
	ix, err := OpenIndex(ctx, dd.Store, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, fixture...); err != nil {
		t.Fatal(err)
	}
	NewServer(ix).Mount(srv)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	tok := deviceToken(t, hs.URL)

	get := func(query, token string) (int, ResponseJSON, string) {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/search?"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r ResponseJSON
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, r, string(b)
	}

	code, r, body := get("q="+url.QueryEscape("bjrok jog"), tok)
	if code != 200 || len(r.Results) == 0 || r.Results[0].ID != "t3" {
		t.Fatalf("bjrok jog: %d %s", code, body)
	}
	top := r.Results[0]
	want := map[string]string{"title": "Jóg", "artists": "Björk"}
	for _, h := range top.Highlights {
		var text string
		switch h.Field {
		case "title":
			text = top.Title
		case "artists":
			text = top.Artists[h.Index]
		default:
			text = top.Album
		}
		if got := text[h.Start:h.End]; got != want[h.Field] {
			t.Errorf("highlight of %s: %q, want %q", h.Field, got, want[h.Field])
		}
		delete(want, h.Field)
	}
	if len(want) != 0 {
		t.Errorf("missing highlights %v in %+v", want, top.Highlights)
	}
	code, r, _ = get("q=beatles&types=artist", tok)
	if code != 200 || len(r.Results) != 1 || r.Results[0].Kind != string(KindArtist) {
		t.Errorf("types=artist: %d %+v", code, r)
	}
	code, r, _ = get("q=beatles&limit=1&offset=1", tok)
	if code != 200 || r.Total != 3 || len(r.Results) != 1 || r.Limit != 1 || r.Offset != 1 {
		t.Errorf("paging: %d %+v", code, r)
	}
	code, r, body = get("q=xqzvwk", tok)
	if code != 200 || len(r.Results) != 0 || !strings.Contains(body, `"results":[]`) {
		t.Errorf("nothing close: %d %s", code, body)
	}

	for _, tc := range []struct {
		name, query, token string
		want               int
	}{
		{"no token", "q=abba", "", 401},
		{"bad token", "q=abba", "nope", 401},
		{"q too long", "q=" + strings.Repeat("a", core.MaxQueryBytes+1), tok, 400},
		{"q not utf-8", "q=%ff", tok, 400},
		{"too many words", "q=" + strings.Repeat("a+", core.MaxQueryWords+1), tok, 400},
		{"limit 0", "q=a&limit=0", tok, 400},
		{"limit over max", "q=a&limit=51", tok, 400},
		{"limit not a number", "q=a&limit=x", tok, 400},
		{"negative offset", "q=a&offset=-1", tok, 400},
		{"offset over max", "q=a&offset=1001", tok, 400},
		{"unknown type", "q=a&types=song", tok, 400},
		{"playlists asked for", "q=road&types=playlist", tok, 200},
		{"limit at max", "q=a&limit=50&offset=1000", tok, 200},
		{"empty q", "q=", tok, 200},
	} {
		if code, _, body := get(tc.query, tc.token); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	// A private playlist without an owner is never served, even without
	// types.
	_, r, _ = get("q=road+trip", tok)
	for _, res := range r.Results {
		if res.Kind == string(KindPlaylist) {
			t.Errorf("a playlist was served: %+v", res)
		}
	}
}

// TestIndexCatalog indexes the demo album of a real relay and finds its
// first track by a title with a typo.
func TestIndexCatalog(t *testing.T) {
	ctx := context.Background()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	ix, err := OpenIndex(ctx, store.NewMemory(), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := NewService(ix, r.Server().Catalog(), metadata.DefaultOptions()).IndexCatalog(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := r.Server().Catalog().Track(ctx, r.Tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	al, _ := r.Server().Catalog().Album(ctx, r.Album)
	if ix.Len() != len(r.Tracks)+1+len(al.ArtistIDs) {
		t.Errorf("%d entries for %d tracks, 1 album and %d artists", ix.Len(), len(r.Tracks), len(al.ArtistIDs))
	}
	// Damage the longest word of the title with a swap (in budget).
	words := strings.Fields(tr.Title)
	long := 0
	for i, w := range words {
		if len([]rune(w)) > len([]rune(words[long])) {
			long = i
		}
	}
	rs := []rune(words[long])
	if len(rs) < 5 {
		t.Skipf("demo title %q has no word long enough for a typo", tr.Title)
	}
	rs[1], rs[2] = rs[2], rs[1]
	words[long] = string(rs)
	q, _ := core.ParseQuery(strings.Join(words, " "))
	hits, _, err := ix.Search(Request{Query: q, Kinds: []Kind{KindTrack}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Entry.ID != string(tr.ID) {
		t.Errorf("%q (for %q) → %+v", strings.Join(words, " "), tr.Title, hits)
	}
}

// TestHTTPSearchRate: one user gets RateBurst searches at once, then 429
// with Retry-After (bad queries count too: the bucket is taken before the
// query is read); another user is not held back, and the first searches
// again a second later.
func TestHTTPSearchRate(t *testing.T) {
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	srv := relay.NewWithDataDir(dd, relay.DefaultOptions("").WithArgonParams(relay.FastArgonParams).WithLogger(slog.New(slog.DiscardHandler)))
	ix, err := OpenIndex(ctx, dd.Store, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, fixture...); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s := NewServer(ix)
	s.now = func() time.Time { return now }
	s.Mount(srv)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ada := deviceToken(t, hs.URL)
	get := func(token, q string) (int, http.Header) {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/search?q="+url.QueryEscape(q), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for i := range RateBurst {
		q := "beatles"
		if i%2 == 1 {
			q = strings.Repeat("x", 300)
		}
		if code, _ := get(ada, q); code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("search %d of the burst: %d", i+1, code)
		}
	}
	if code, hdr := get(ada, "beatles"); code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "1" {
		t.Fatalf("past the burst: %d Retry-After %q", code, hdr.Get("Retry-After"))
	}
	bob := deviceTokenFor(t, hs.URL, "bob")
	if code, _ := get(bob, "beatles"); code != http.StatusOK {
		t.Fatalf("another user: %d", code)
	}
	now = now.Add(time.Second)
	if code, _ := get(ada, "beatles"); code != http.StatusOK {
		t.Fatalf("a second later: %d", code)
	}
}
