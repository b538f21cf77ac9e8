package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// upload is one admin ingest request body: parts in order.
type upload []struct{ field, name, body string }

func (u upload) encode(t *testing.T) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range u {
		w, err := mw.CreateFormFile(p.field, p.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), mw.FormDataContentType()
}

// demoUpload is the demo album (pre-encoded tiers: no encoder needed).
func demoUpload(t *testing.T) upload {
	t.Helper()
	sub, err := fs.Sub(demoalbum.FS, "data")
	if err != nil {
		t.Fatal(err)
	}
	read := func(n string) string {
		b, err := fs.ReadFile(sub, n)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	u := upload{{"album", "album.json", read("album.json")}}
	entries, err := fs.Glob(sub, "*.ogg")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range entries {
		u = append(u, struct{ field, name, body string }{"file", n, read(n)})
	}
	return u
}

// demoEdit returns u with old replaced by new in its album.json.
func demoEdit(t *testing.T, u upload, old, new string) upload {
	t.Helper()
	out := slices.Clone(u)
	if !strings.Contains(out[0].body, old) {
		t.Fatalf("album.json lacks %q", old)
	}
	out[0].body = strings.Replace(out[0].body, old, new, 1)
	return out
}

// storeSum hashes every key and value of st.
func storeSum(t *testing.T, st store.Store) [32]byte {
	t.Helper()
	h := sha256.New()
	err := st.Iterate(context.Background(), nil, false, func(k, v []byte) error {
		h.Write(k)
		h.Write([]byte{0})
		h.Write(v)
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestAdminIngest uploads to POST /v1/admin/ingest on a relay over real
// Badger: wrong tokens are 401, files and requests over the limits 413, a
// corrupt master or a mismatched file list 400 naming the file with the
// catalog unchanged, and the demo album is published; no temporary file
// outlives a request.
func TestAdminIngest(t *testing.T) {
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := relay.NewWithDataDir(dd, relay.DefaultOptions("").WithAdminToken(adminToken).WithLogger(quiet))
	tmp := t.TempDir()
	const maxFile, maxRequest = 400 << 10, 3 << 20
	var published []model.Track // the WithPublished hook's calls (the search index's)
	srv.MountIngest(relay.DefaultIngestOptions().WithMaxFile(maxFile).WithMaxRequest(maxRequest).WithTempDir(tmp).
		WithPublished(func(_ context.Context, tracks []model.Track) error {
			published = append(published, tracks...)
			return nil
		}))
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	post := func(t *testing.T, body io.Reader, contentType, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, hs.URL+api.AdminIngestPath, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	album := func(tracks string) string {
		return `{"album":"Bad","album_artists":["X"],"tracks":[` + tracks + `]}`
	}
	demo := demoUpload(t)
	big := strings.Repeat("x", maxFile+1)
	// many is 13 files of 250 KiB, each under maxFile, together over maxRequest.
	many := upload{{"album", "album.json", album(`{"file":"f0.wav","title":"T","artists":["X"]}`)}}
	for i := range 13 {
		many = append(many, struct{ field, name, body string }{"file", fmt.Sprintf("f%d.wav", i), big[:250<<10]})
	}
	// long, wide and euros are input over relay.MaxEchoedInput bytes: no
	// error may echo more of them.
	long, wide, euros := strings.Repeat("x", 200)+".wav", strings.Repeat("é", 60)+".wav", strings.Repeat("€", 60)
	cases := []struct {
		name  string
		u     upload
		token string
		code  int
		want  string
	}{
		{"long name not uploaded", upload{{"album", "album.json", album(`{"file":"` + long + `","title":"T","artists":["X"]}`)}},
			adminToken, http.StatusBadRequest, "which was not uploaded"},
		{"long name not named", upload{{"album", "album.json", album(`{"file":"a.wav","title":"T","artists":["X"]}`)}, {"file", "a.wav", "x"}, {"file", long, "x"}},
			adminToken, http.StatusBadRequest, "is not named in"},
		{"long name uploaded twice", upload{{"album", "album.json", album(`{"file":"` + long + `","title":"T","artists":["X"]}`)}, {"file", long, "x"}, {"file", long, "x"}},
			adminToken, http.StatusBadRequest, "uploaded twice"},
		{"wide bad file name", upload{{"album", "album.json", album(`{"file":"a.wav","title":"T","artists":["X"]}`)}, {"file", "../" + wide, "x"}},
			adminToken, http.StatusBadRequest, "want a relative slash-separated path"},
		{"long artist name", demoEdit(t, demo, `"artists": [
        "Segue Ensemble"`, `"artists": ["`+strings.Repeat("x", 1100)+`"`), adminToken, http.StatusBadRequest, "artist name"},
		{"long tier", demoEdit(t, demo, `"high": "01.high.ogg"`, `"`+long+`": "01.high.ogg"`), adminToken, http.StatusBadRequest, "unknown tier"},
		{"long release date", demoEdit(t, demo, `"release_date": "2026-01-01"`, `"release_date": "`+euros+`"`), adminToken, http.StatusBadRequest, "release_date"},
		{"long title with a control byte", demoEdit(t, demo, `"title": "Arrival"`, `"title": "`+long+`\u0001"`), adminToken, http.StatusBadRequest, "title"},
		{"long master_sha256", upload{{"album", "album.json", album(`{"tiers":{"low":"a.ogg"},"master_sha256":"` + long + `","title":"T","artists":["X"]}`)}, {"file", "a.ogg", "x"}},
			adminToken, http.StatusBadRequest, "master_sha256"},
		{"wide unexpected part", upload{{"album", "album.json", album(`{"file":"a.wav","title":"T","artists":["X"]}`)}, {wide, "a.wav", "x"}},
			adminToken, http.StatusBadRequest, "unexpected part"},
		{"no token", demo, "", http.StatusUnauthorized, ""},
		{"wrong token", demo, "not-the-admin", http.StatusUnauthorized, ""},
		{"file over the limit", upload{{"album", "album.json", album(`{"file":"big.wav","title":"T","artists":["X"]}`)}, {"file", "big.wav", big}},
			adminToken, http.StatusRequestEntityTooLarge, "big.wav"},
		{"request over the limit", many, adminToken, http.StatusRequestEntityTooLarge, "limit is 3145728"},
		{"corrupt master", upload{{"album", "album.json", album(`{"file":"bad.wav","title":"T","artists":["X"]}`)},
			{"file", "bad.wav", "RIFF\x24\x00\x00\x00WAVEfmt garbage garbage garbage"}},
			adminToken, http.StatusBadRequest, "bad.wav"},
		{"not audio", upload{{"album", "album.json", album(`{"file":"text.flac","title":"T","artists":["X"]}`)},
			{"file", "text.flac", strings.Repeat("this is not audio. ", 100)}},
			adminToken, http.StatusBadRequest, "text.flac"},
		{"file not uploaded", upload{{"album", "album.json", album(`{"file":"gone.wav","title":"T","artists":["X"]}`)}},
			adminToken, http.StatusBadRequest, "gone.wav"},
		{"file not named", upload{{"album", "album.json", album(`{"file":"a.wav","title":"T","artists":["X"]}`)}, {"file", "a.wav", "x"}, {"file", "extra.wav", "x"}},
			adminToken, http.StatusBadRequest, "extra.wav"},
		{"path escaping the upload", upload{{"album", "album.json", album(`{"file":"../a.wav","title":"T","artists":["X"]}`)}, {"file", "../a.wav", "x"}},
			adminToken, http.StatusBadRequest, "a.wav"},
		{"no album", upload{{"file", "a.wav", "x"}}, adminToken, http.StatusBadRequest, "album"},
		// Both were 500: the track's identity was read from "(no file)".
		{"only an unknown tier", upload{{"album", "album.json", album(`{"tiers":{"bogus":"a.ogg"},"title":"T","artists":["X"]}`)}, {"file", "a.ogg", "x"}},
			adminToken, http.StatusBadRequest, `unknown tier \"bogus\"`},
		{"no file", upload{{"album", "album.json", album(`{"title":"T","artists":["X"]}`)}}, adminToken, http.StatusBadRequest, "neither a master nor pre-encoded tiers"},
		{"bad album json", upload{{"album", "album.json", "{"}}, adminToken, http.StatusBadRequest, "album.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := storeSum(t, dd.Store)
			body, ct := tc.u.encode(t)
			code, msg := post(t, bytes.NewReader(body), ct, tc.token)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %s, want %d naming %q", code, msg, tc.code, tc.want)
			}
			t.Logf("%d %s", code, msg)
			for _, in := range []string{long, wide, euros} {
				n := relay.MaxEchoedInput + 1
				for !utf8.RuneStart(in[n]) {
					n++
				}
				if strings.Contains(msg, in[:n]) {
					t.Fatalf("%s echoes more than %d bytes of a name", msg, relay.MaxEchoedInput)
				}
			}
			if storeSum(t, dd.Store) != before {
				t.Fatal("the refused ingest changed the catalog")
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Fatalf("%d temporary entries left", len(left))
			}
		})
	}
	t.Run("request over the limit, no length", func(t *testing.T) {
		body, ct := upload{{"album", "album.json", album(`{"file":"a.wav","title":"T","artists":["X"]}`)}, {"file", "a.wav", strings.Repeat("y", maxRequest)}}.encode(t)
		code, msg := post(t, io.MultiReader(bytes.NewReader(body)), ct, adminToken)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s, want 413", code, msg)
		}
	})
	t.Run("demo album", func(t *testing.T) {
		body, ct := demo.encode(t)
		code, msg := post(t, bytes.NewReader(body), ct, adminToken)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, msg)
		}
		var res api.IngestResponse
		if err := json.Unmarshal([]byte(msg), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Tracks) != 4 || len(res.Albums) != 1 || res.Albums[0].Title != "Segue Demo" {
			t.Fatalf("answer %+v", res)
		}
		a, err := srv.Catalog().Album(ctx, res.Albums[0].ID)
		if err != nil || len(a.TrackIDs) != 4 {
			t.Fatalf("published album: %+v %v", a, err)
		}
		if len(published) != 4 || published[0].ID != res.Tracks[0].ID || published[0].ISRC == "" {
			t.Errorf("published hook got %d tracks: %+v", len(published), published)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("%d temporary entries left", len(left))
		}
	})
}
