package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
)

// TestCatalogImportCommand generates a catalog file, imports it into a
// relay data directory, and checks a file with a bad line is refused
// with its line number and nothing else imported.
func TestCatalogImportCommand(t *testing.T) {
	tmp := t.TempDir()
	data, file := filepath.Join(tmp, "relay"), filepath.Join(tmp, "cat.jsonl")
	dd, err := catalog.OpenDataDirWith(context.Background(), data, catalog.DefaultDataDirOptions().WithInit(catalog.InitNew))
	if err != nil {
		t.Fatal(err)
	}
	dd.Close()
	if r := segue(t, "catalog", "generate", "--tracks", "2000", "--seed", "3", file); r.code != 0 || !strings.Contains(r.stdout, "2000 tracks") {
		t.Fatalf("generate: %+v", r)
	}
	if r := segue(t, "catalog", "import", "--data", data, file); r.code != 0 || !strings.Contains(r.stdout, "imported 200 artists") {
		t.Fatalf("import: %+v", r)
	}
	bad := filepath.Join(tmp, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"type":"artist","id":"new","name":"New"}`+"\n"+`{"type":"album","id":"x","title":"X","artist_ids":["missing"]}`+"\n"), 0o600)
	r := segue(t, "catalog", "import", "--data", data, bad)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.jsonl:2: ") || !strings.Contains(r.stderr, `"missing"`) {
		t.Fatalf("bad file: %+v", r)
	}
	dd, err = catalog.OpenDataDir(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	im := metadata.New(dd.Store, nil, metadata.DefaultOptions())
	if _, err := im.Artist(context.Background(), "new"); err == nil {
		t.Error("the refused file's first line was imported")
	}
	if a, err := im.Artist(context.Background(), "ar0000000"); err != nil || a.Name != "AC/DC" {
		t.Errorf("generated artist: %+v %v", a, err)
	}
	for _, args := range [][]string{{"catalog"}, {"catalog", "import", file}, {"catalog", "import", "--data", data}, {"catalog", "nope"}} {
		if r := segue(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}

// TestInterruptedSaysSo: Ctrl-C during `segue catalog import` (or `segue
// demo`, `segue download`) ended with the cause deep in a chain ("segue
// catalog: metadata: read isrc: context canceled"); a command cut short by
// the signal now says "interrupted" first, and the import run again
// succeeds.
func TestInterruptedSaysSo(t *testing.T) {
	tmp := t.TempDir()
	data, file := filepath.Join(tmp, "relay"), filepath.Join(tmp, "cat.jsonl")
	if r := segue(t, "catalog", "generate", "--tracks", "2000", file); r.code != 0 {
		t.Fatalf("generate: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb strings.Builder
	if code := run(ctx, []string{"catalog", "import", "--data", data, file}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "segue catalog: interrupted: ") {
		t.Fatalf("interrupted import: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if r := segue(t, "catalog", "import", "--data", data, file); r.code != 0 || !strings.Contains(r.stdout, "imported 200 artists") {
		t.Fatalf("import again: %+v", r)
	}
}

// TestCatalogImportThroughRelayAnswers: `segue catalog import --relay`
// printed "imported 0 artists, 0 albums, 0 tracks" and exited 0 for an
// answer without its counts (`{}`, `null`, a count null), as for a
// relay that imported nothing. A 200 answer must now hold the three
// counts (0 stays 0) and nothing after them, within 1 MiB; otherwise
// the command fails with core.ErrBadResponse's text asking whether the
// URL is a Segue relay, or names the bound.
func TestCatalogImportThroughRelayAnswers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "one.jsonl")
	if err := os.WriteFile(file, []byte(`{"type":"artist","id":"a1","name":"A"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// padded is the relay's answer with counts c, padded to n bytes.
	padded := func(c string, n int) string {
		head := `{"error":"",` + c + `,"pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	const counts = `"artists":1,"albums":0,"tracks":0`
	notRelay := "bad relay response (is %s a Segue relay?)"
	cases := []struct {
		name   string
		code   int
		body   string
		stdout string // on success
		stderr string // on failure; %s: the server's URL
	}{
		{"relay's answer", 200, `{"error":"",` + counts + `}`, "imported 1 artists, 0 albums, 0 tracks", ""},
		{"nothing imported", 200, `{"error":"","artists":0,"albums":0,"tracks":0}`, "imported 0 artists, 0 albums, 0 tracks", ""},
		{"empty object", 200, `{}`, "", notRelay},
		{"null", 200, `null`, "", notRelay},
		{"a count null", 200, `{"artists":null,"albums":0,"tracks":0}`, "", notRelay},
		{"a count missing", 200, `{"artists":1,"albums":0}`, "", notRelay},
		{"negative count", 200, `{"artists":-1,"albums":0,"tracks":0}`, "", notRelay},
		{"garbage", 200, `<html>Directory listing</html>`, "", notRelay},
		{"trailing data", 200, `{` + counts + `}{}`, "", notRelay},
		{"1 MiB", 200, padded(counts, 1<<20), "imported 1 artists", ""},
		{"oversized", 200, padded(counts, 1<<20+1), "", "more than 1048576 bytes"},
		{"refusal without a message", 502, `<html>Bad Gateway</html>`, "", "relay answered 502 Bad Gateway"},
		{"refusal", 409, `{"error":"another catalog import is running"}`, "", "409 Conflict: another catalog import is running"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.code)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			r := segue(t, "catalog", "import", "--relay", srv.URL, "--admin-token", "x", file)
			if c.stderr == "" {
				if r.code != 0 || !strings.Contains(r.stdout, c.stdout) {
					t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, c.stdout)
				}
				return
			}
			want := c.stderr
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, srv.URL)
			}
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

// TestCatalogGenerateInterrupted: Ctrl-C did not stop `segue catalog
// generate` (it wrote the whole file and exited 0), and a write that
// failed (a full disk) left the partial file under its name, which an
// import cut at a line boundary takes for a smaller catalog. Interrupted
// now, it says so, exits 1 and leaves the path as it was: absent, or the
// previous file.
func TestCatalogGenerateInterrupted(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		old  []byte // the file at the path before, nil: none
	}{
		{"new file", nil},
		{"over an older file", []byte("{\"type\":\"artist\",\"id\":\"ar1\",\"name\":\"A\"}\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".jsonl")
			if tc.old != nil {
				if err := os.WriteFile(file, tc.old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out, errb strings.Builder
			code := run(ctx, []string{"catalog", "generate", "--tracks", "20000", file}, &out, &errb)
			if code != 1 || !strings.HasPrefix(errb.String(), "segue catalog: interrupted: ") {
				t.Fatalf("exit %d, want 1 and interrupted\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
			}
			b, err := os.ReadFile(file)
			switch {
			case tc.old == nil && !os.IsNotExist(err):
				t.Fatalf("%s exists (%d bytes, %v), want none", file, len(b), err)
			case tc.old != nil && string(b) != string(tc.old):
				t.Fatalf("%s holds %d bytes (%v), want the older file", file, len(b), err)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
			if len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}
