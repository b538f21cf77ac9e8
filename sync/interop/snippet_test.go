package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/sync/docs"
)

// snippetMarker precedes the JS block of docs/SYNC.md that
// TestSyncDocSnippet runs.
const snippetMarker = "<!-- TestSyncDocSnippet runs the block below verbatim. -->"

// docSnippet returns the ```js block after snippetMarker in docs/SYNC.md.
func docSnippet(t *testing.T) []byte {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "..", "docs", "SYNC.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(md, []byte(snippetMarker+"\n```js\n"))
	if !ok {
		t.Fatal("docs/SYNC.md: no ```js block after the snippet marker")
	}
	code, _, ok := bytes.Cut(rest, []byte("\n```\n"))
	if !ok {
		t.Fatal("docs/SYNC.md: the snippet's block is not closed")
	}
	return append(code, '\n')
}

// refusalCounter counts the relay's "refused document" log records.
type refusalCounter struct{ n *atomic.Int64 }

func (c refusalCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c refusalCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "peer: refused document" {
		c.n.Add(1)
	}
	return nil
}
func (c refusalCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c refusalCounter) WithGroup(string) slog.Handler      { return c }

// TestSyncDocSnippet runs the example of docs/SYNC.md, as printed there,
// with a stock automerge-repo client logged in as bob (with a Go
// device's token) against a real relay: bob's Go device then sees the
// entry the client appended to alice's shared playlist and the playlist
// it created (owned by bob, followed in bob's library), alice sees the
// entry, and the relay refused nothing.
func TestSyncDocSnippet(t *testing.T) {
	node := testtool.Need(t, "node")
	needModules(t)
	ctx := t.Context()
	var refusals atomic.Int64
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithLogger(slog.New(refusalCounter{&refusals})))
	open := func(user model.UserID) (*core.Engine, *core.Docs) {
		e := testbed.Device(t, r, user)
		d, err := e.OpenDocs(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
		return e, d
	}
	_, alice := open("alice")
	shared, err := alice.Playlists().Create(ctx, "Shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Playlists().SetCollaborators(ctx, shared, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Playlists().Add(ctx, shared, docs.AtEnd(), "t1"); err != nil {
		t.Fatal(err)
	}
	bobEngine, bob := open("bob")
	if err := bob.Library().SaveTracks(ctx, "liked"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Playlists().Follow(ctx, shared); err != nil {
		t.Fatal(err)
	}
	tracks := func(d *core.Docs, id docs.DocumentID) []model.TrackID {
		v, err := d.Playlists().Get(ctx, id)
		if err != nil {
			return nil
		}
		var out []model.TrackID
		for _, e := range v.Entries {
			out = append(out, e.Track)
		}
		return out
	}
	waitFor(t, "bob's device to get the shared playlist", func() bool { return slices.Contains(tracks(bob, shared), "t1") })

	file := filepath.Join(".", ".doc-snippet.mjs")
	if err := os.WriteFile(file, docSnippet(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(file) })
	cmd := exec.CommandContext(ctx, node, file, r.URL, bobEngine.Token(), shared.URL())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("node output: %v", err)
	}
	var res struct{ Library, Created string }
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("node: %q %v", line, err)
	}
	created, err := docs.ParseURL(res.Created)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice to see the client's entry", func() bool { return slices.Contains(tracks(alice, shared), "t-from-js") })
	waitFor(t, "bob's device to get the created playlist through the library", func() bool {
		v, err := bob.Playlists().Get(ctx, created)
		return err == nil && v.Info.Owner == "bob" && v.Info.Name == "From JS"
	})
	if n := refusals.Load(); n != 0 {
		t.Fatalf("the relay refused %d documents", n)
	}
}
