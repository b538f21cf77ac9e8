package main

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// TestCommandsAgainstNotARelay: a device registered with a relay and
// then pointed (--relay) at a web server that is no Segue relay, one
// answering 200 with an HTML page or with `{}` to everything, printed
// "followed bob", "revoked", an empty share link, someone's empty
// profile or "no friend activity", and exited 0. Every such command now
// fails (exit 1) saying the answer is bad and asking whether that URL is
// a Segue relay; so does registering a new device there (`{}` said only
// "no token").
func TestCommandsAgainstNotARelay(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	data := filepath.Join(t.TempDir(), "ada")
	t.Setenv("SEGUE_PASSWORD", testbed.Password)
	if res := segue(t, "profile", "--data", data, "--relay", r.URL, "--user", "ada", "--signup"); res.code != 0 {
		t.Fatalf("register: exit %d\n%s", res.code, res.stderr)
	}
	src := t.TempDir()
	sub, err := fs.Sub(demoalbum.FS, "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(src, sub); err != nil {
		t.Fatal(err)
	}
	catalogFile := filepath.Join(src, "catalog.jsonl")
	if err := os.WriteFile(catalogFile, []byte(`{"type":"artist","id":"a1","name":"A"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	answers := map[string]struct{ ctype, body string }{
		"html":       {"text/html; charset=utf-8", "<html><body>Directory listing</body></html>"},
		"empty json": {"application/json", "{}"},
	}
	commands := [][]string{
		{"follow", "bob"}, {"unfollow", "bob"}, {"block", "bob"}, {"unblock", "bob"},
		{"profile", "bob"}, {"profile", "--name", "Ada"},
		{"share", "track", "t1"}, {"share", "revoke", "tok"}, {"share", "accept", "tok"},
		{"search", "hello"}, {"friends"},
		{"sync", "login", "--user", "bob", "--signup"},
	}
	for name, a := range answers {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", a.ctype)
			w.Write([]byte(a.body))
		}))
		defer fake.Close()
		// Admin commands: recs run printed "Discover Weekly : 0
		// delivered", ingest --relay nothing, catalog import "imported 0
		// artists, 0 albums, 0 tracks", all exit 0.
		for _, args := range [][]string{
			{"recs", "run", "--week", "2026-W10", "--admin-token", "x", "--relay", fake.URL},
			{"ingest", "--admin-token", "x", "--relay", fake.URL, "--album", filepath.Join(src, "album.json")},
			{"catalog", "import", "--admin-token", "x", "--relay", fake.URL, catalogFile},
		} {
			t.Run(name+"/"+args[0], func(t *testing.T) {
				res := segue(t, args...)
				if res.code != 1 || !strings.Contains(res.stderr, fake.URL) || !strings.Contains(res.stderr, "a Segue relay?)") {
					t.Errorf("exit %d, stdout %q, stderr %q; want 1 asking whether %s is a Segue relay", res.code, res.stdout, res.stderr, fake.URL)
				}
			})
		}
		for _, args := range commands {
			t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				dir := data
				if args[0] == "sync" { // registers a new device
					dir = filepath.Join(t.TempDir(), "bob")
				}
				res := segue(t, append(args, "--data", dir, "--relay", fake.URL)...)
				if res.code != 1 || !strings.Contains(res.stderr, "bad relay response (is "+fake.URL+" a Segue relay?)") {
					t.Errorf("exit %d, stdout %q, stderr %q; want 1 asking whether %s is a Segue relay", res.code, res.stdout, res.stderr, fake.URL)
				}
			})
		}
	}
}
