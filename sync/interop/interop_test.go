package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

var tokens = map[string]model.UserID{"tok-alice": "alice", "tok-bob": "bob", "tok-eve": "eve"}

// relay starts the sync endpoint on a real Badger store and real HTTP on
// 127.0.0.1 and returns its ws:// URL and repository.
func relay(t *testing.T) (string, *peer.RepoAdapter) {
	t.Helper()
	st, err := badgerstore.Open(t.Context(), t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := openRepo(t, st, repo.DefaultOptions().WithActorBinding(true))
	ep := relaysync.New(repo, st, peer.DocumentAccess, relaysync.DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))).WithAuthenticator(
		func(r *http.Request) (model.UserID, error) {
			// Go devices send the header, the JS clients the query.
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				tok = r.URL.Query().Get("token")
			}
			if u, ok := tokens[tok]; ok {
				return u, nil
			}
			return "", relaysync.ErrUnauthenticated
		}))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), repo
}

// device opens a Go device with its own Badger store and starts its
// client against url with token.
func device(t *testing.T, ctx context.Context, name, url, token string) (*peer.RepoAdapter, *client.Client) {
	t.Helper()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := openRepo(t, st, repo.DefaultOptions())
	c := client.New(repo, client.WebSocket{URL: url, Token: token, Compression: true},
		client.DefaultOptions().WithIdentity(name, name+"-store").WithBackoff(20*time.Millisecond, 200*time.Millisecond, 7))
	go c.Run(ctx)
	return repo, c
}

func entries(t *testing.T, ctx context.Context, repo *peer.RepoAdapter, id docs.DocumentID) []string {
	t.Helper()
	var out []string
	err := repo.View(ctx, id, func(doc *automerge.Doc) error {
		p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
		if err != nil {
			return err
		}
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, string(e.Track))
		}
		return err
	})
	if errors.Is(err, peer.ErrUnknownDocument) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteropNodeClient: alice (native Go device) creates a playlist
// shared with bob, a stock automerge-repo Node client logged in as bob
// appends entries through the Go relay while alice keeps editing, and
// all of them converge to the same entries in the same order.
func TestInteropNodeClient(t *testing.T) {
	node := testtool.Need(t, "node")
	needModules(t)
	ctx := t.Context()
	url, relayRepo := relay(t)
	alice, aliceClient := device(t, ctx, "alice-phone", url, "tok-alice")

	h, err := alice.R.CreatePlaylist(ctx, "alice", "Road trip")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	err = h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetCollaborators("bob"); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "go-0", "go-1", "go-2")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relay to hold the playlist", func() bool { return len(entries(t, ctx, relayRepo, id)) == 3 })

	const jsAdds, goAdds = 4, 2
	total := 3 + jsAdds + goAdds
	cmd := exec.CommandContext(ctx, node, "test.mjs", url+"?token=tok-bob", id.URL(), "4", "9")
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
	// Alice edits while bob's client syncs.
	for i := range goAdds {
		err := h.Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtStart(), "alice", model.TrackID("go-late-"+string(rune('a'+i))))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("node output: %v", err)
	}
	var res struct {
		Order []string
		Error string
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil || res.Error != "" {
		t.Fatalf("node: %q %v", line, err)
	}
	waitFor(t, "alice to see every entry", func() bool { return len(entries(t, ctx, alice, id)) == total })
	if st := aliceClient.Status(); !st.Connected || st.LastSync.IsZero() {
		t.Fatalf("alice status %+v, want connected with a last sync", st)
	}
	waitFor(t, "relay to see every entry", func() bool { return len(entries(t, ctx, relayRepo, id)) == total })
	goOrder, relayOrder := entries(t, ctx, alice, id), entries(t, ctx, relayRepo, id)
	if !slices.Equal(goOrder, res.Order) || !slices.Equal(goOrder, relayOrder) {
		t.Fatalf("diverged:\n go    %v\n node  %v\n relay %v", goOrder, res.Order, relayOrder)
	}
	if len(res.Order) != total {
		t.Fatalf("node has %d entries, want %d", len(res.Order), total)
	}
}

// openRepo opens a sync/repo.Repo over st with opts for the test's
// lifetime (the relay binds actors to users, devices do not).
func openRepo(t *testing.T, st store.Store, opts repo.Options) *peer.RepoAdapter {
	t.Helper()
	r, err := repo.Open(t.Context(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return peer.NewRepoAdapter(r)
}

// TestInteropForeignDocument: a stock automerge-repo client announces
// every document it holds. bob's client holds one document under the id
// of alice's private playlist and one naming ada as its owner, next to
// his own playlist. The relay refuses the two per document
// (doc-unavailable, error) and keeps the session: bob's playlist is
// stored, the others are not touched, and the client's WebSocket never
// closes (no reconnect loop).
func TestInteropForeignDocument(t *testing.T) {
	node := testtool.Need(t, "node")
	needModules(t)
	ctx := t.Context()
	url, relayRepo := relay(t)
	alice, _ := device(t, ctx, "alice-phone", url, "tok-alice")
	h, err := alice.R.CreatePlaylist(ctx, "alice", "private")
	if err != nil {
		t.Fatal(err)
	}
	private := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "a1"); return err }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relay to hold alice's playlist", func() bool { return len(entries(t, ctx, relayRepo, private)) == 1 })

	cmd := exec.CommandContext(ctx, node, "foreign.mjs", url+"?token=tok-bob", private.URL(), "bob")
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
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("node output: %v", err)
	}
	var ids struct{ Own, Forged string }
	if err := json.Unmarshal([]byte(line), &ids); err != nil {
		t.Fatalf("node: %q %v", line, err)
	}
	own, err := docs.ParseURL(ids.Own)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := docs.ParseURL(ids.Forged)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relay to store bob's playlist", func() bool { return slices.Equal(entries(t, ctx, relayRepo, own), []string{"t1"}) })
	// Give the client time to run into a reconnect loop if it would.
	time.Sleep(time.Second)
	stdin.Close()
	line, err = lines.ReadString('\n')
	if err != nil {
		t.Fatalf("node output: %v", err)
	}
	var res struct{ Disconnects int }
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("node: %q %v", line, err)
	}
	if res.Disconnects != 0 {
		t.Fatalf("the client's WebSocket closed %d times", res.Disconnects)
	}
	if has, err := relayRepo.Has(ctx, forged); err != nil || has {
		t.Fatalf("relay holds the playlist naming ada as owner (%v)", err)
	}
	if got := entries(t, ctx, relayRepo, private); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("alice's playlist on the relay: %v", got)
	}
}
