package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/server/relay"
)

const importAdmin = "catalog-admin-token-0123456789"

// importRelay starts a real relay (Badger, the demo album ingested) with
// the search mounted as `segue relay` mounts it; svc is the current
// Service (replaced on Restart).
func importRelay(t *testing.T) (*testbed.Relay, func() *Service) {
	t.Helper()
	var mu sync.Mutex
	var svc *Service
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithAdminToken(importAdmin) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			s, err := MountForDataDir(context.Background(), dd, srv)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			svc = s
			mu.Unlock()
		}))
	return r, func() *Service { mu.Lock(); defer mu.Unlock(); return svc }
}

func postImport(t *testing.T, base, token, body string) (int, ImportResponse) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+AdminImportPath, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out ImportResponse
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func searchFor(t *testing.T, base, tok, q string) ResponseJSON {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/search?q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r ResponseJSON
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("search %q: %d %s", q, resp.StatusCode, b)
	}
	return r
}

const importFile = `{"type":"artist","id":"ar-acdc","name":"AC/DC","popularity":90}
{"type":"artist","id":"ar-pink","name":"P!nk","popularity":50}
{"type":"album","id":"al-hth","title":"Highway to Hell","artist_ids":["ar-acdc"],"release_date":"1979-07-27","label":"Atlantic","genres":["rock"]}
{"type":"track","id":"im-1","title":"Touch Too Much","artist_ids":["ar-acdc"],"featured_artist_ids":["ar-pink"],"album_id":"al-hth","duration_ms":266000,"disc_number":1,"track_number":4,"isrc":"AUAP07900004","popularity":70}
{"type":"track","id":"im-demo","title":"Imported Demo Track","artist_ids":["ar-acdc"],"album_id":"al-hth","duration_ms":60000,"disc_number":1,"track_number":9,"isrc":"XXSEG2600001"}
`

// TestAdminImport imports metadata through POST /v1/admin/catalog/import
// on a real relay: the admin token is required, an invalid file is
// refused with per-line errors and changes nothing, a valid one is
// searchable at once (typo, featured artist), the demo track with an
// imported ISRC plays through the imported track, the import writes the
// index snapshot, and everything survives a restart.
func TestAdminImport(t *testing.T) {
	r, svc := importRelay(t)
	tok := deviceToken(t, r.URL)

	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", importFile, 401},
		{"device token", tok, importFile, 401},
		{"empty", importAdmin, "", 400},
	} {
		if code, _ := postImport(t, r.URL, tc.token, tc.body); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	// Over the size limit: 413; while another import runs: 409.
	svc().maxImport = 100
	if code, _ := postImport(t, r.URL, importAdmin, importFile); code != 413 {
		t.Errorf("over the limit: %d", code)
	}
	svc().maxImport = DefaultMaxImportBytes
	svc().sem <- struct{}{}
	if code, _ := postImport(t, r.URL, importAdmin, importFile); code != 409 {
		t.Errorf("concurrent import: %d", code)
	}
	<-svc().sem
	bad := importFile + `{"type":"track","id":"im-2","title":"x","artist_ids":["ar-nobody"],"album_id":"al-hth","duration_ms":1,"disc_number":1,"track_number":1}` + "\n"
	code, out := postImport(t, r.URL, importAdmin, bad)
	if code != 400 || out.ErrorCount != 1 || out.Errors[0].Line != 6 || !strings.Contains(out.Errors[0].Err, "ar-nobody") {
		t.Fatalf("invalid file: %d %+v", code, out)
	}
	if res := searchFor(t, r.URL, tok, "touch too much"); len(res.Results) != 0 {
		t.Fatalf("a refused import is searchable: %+v", res.Results)
	}

	snap := filepath.Join(r.DataDir, SnapshotFile)
	before, err := os.ReadFile(snap) // written when the relay opened the index
	if err != nil {
		t.Fatalf("no index snapshot after the open: %v", err)
	}
	code, out = postImport(t, r.URL, importAdmin, importFile)
	if code != 200 || out.Artists != 2 || out.Albums != 1 || out.Tracks != 2 {
		t.Fatalf("import: %d %+v", code, out)
	}
	check := func(when string) {
		t.Helper()
		res := searchFor(t, r.URL, tok, "toucj too mcuh")
		if len(res.Results) == 0 || res.Results[0].ID != "im-1" || res.Results[0].Audio != "" {
			t.Fatalf("%s: typo query → %+v", when, res.Results)
		}
		if a := res.Results[0].Artists; len(a) != 2 || a[1] != "P!nk" {
			t.Errorf("%s: artists %v", when, a)
		}
		res = searchFor(t, r.URL, tok, "pink touch")
		if len(res.Results) == 0 || res.Results[0].ID != "im-1" {
			t.Errorf("%s: featured artist query → %+v", when, res.Results)
		}
		// The demo track with the imported ISRC is attached at start:
		// one result, the imported track, playing the demo audio.
		res = searchFor(t, r.URL, tok, "imported demo")
		if len(res.Results) == 0 || res.Results[0].ID != "im-demo" || res.Results[0].Audio != string(r.Tracks[0]) {
			t.Errorf("%s: attached track → %+v", when, res.Results)
		}
		if _, own := svc().Index.Lookup(KindTrack, string(r.Tracks[0])); own {
			t.Errorf("%s: the attached demo track is still its own entry", when)
		}
	}
	// The running relay attaches what its ingest publishes (as the
	// relay's ingest hook does); here the demo track is already there.
	dt, err := r.Server().Catalog().Track(context.Background(), r.Tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := svc().Published(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := svc().IndexCatalog(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, _ := svc().Meta.Audio(context.Background(), "im-demo"); a != string(dt.ID) {
		t.Fatalf("audio of im-demo: %q", a)
	}
	check("after import")
	// The import wrote the index snapshot (with its entries) anew.
	if after, err := os.ReadFile(snap); err != nil || bytes.Equal(after, before) {
		t.Errorf("index snapshot not rewritten by the import (%v)", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after restart")
}

// TestImportIndexedWholeAfterCancel: a caller that goes away once the
// import has committed (an admin client disconnecting while the relay
// indexes) no longer leaves the index without the rest of the records
// until the next start: before, the import answered "imported, but
// indexing failed" and the tracks after the first chunk were not found.
func TestImportIndexedWholeAfterCancel(t *testing.T) {
	ix, _ := openMemory(t, DefaultOptions())
	var file strings.Builder
	file.WriteString(`{"type":"artist","id":"ar1","name":"Harbour Ensemble"}` + "\n")
	file.WriteString(`{"type":"album","id":"al1","title":"Harbour","artist_ids":["ar1"]}` + "\n")
	const tracks = 5
	for i := range tracks {
		fmt.Fprintf(&file, `{"type":"track","id":"tr%d","title":"Harbour Light %d","artist_ids":["ar1"],"album_id":"al1","duration_ms":1000,"disc_number":1,"track_number":%d}`+"\n", i, i, i+1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := 0
	im := NewImporter(ix, metadata.DefaultOptions().WithChunk(1).WithLogger(slog.New(slog.DiscardHandler)))
	_, err := im.Import(ctx, func() (io.ReadCloser, error) {
		opened++
		lines := strings.SplitAfter(file.String(), "\n")
		if opened == 3 { // validation, writing, then indexing: cancel after its first record
			return io.NopCloser(io.MultiReader(strings.NewReader(lines[0]), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, io.EOF
			}), strings.NewReader(strings.Join(lines[1:], "")))), nil
		}
		return io.NopCloser(strings.NewReader(file.String())), nil
	})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	for i := range tracks {
		if _, ok := ix.Lookup(KindTrack, fmt.Sprint("tr", i)); !ok {
			t.Errorf("track tr%d imported but not indexed", i)
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
