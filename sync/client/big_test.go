package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// bigRelay starts a relay endpoint with the sync options `segue relay`
// uses (Go sync states with lazy apply, actor binding, facts) on a
// Badger store, and returns its URL and repository.
func bigRelay(t *testing.T) (string, *repo.Repo) {
	t.Helper()
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rp, err := repo.Open(ctx, st, repo.DefaultOptions().WithLogger(log).WithActorBinding(true).
		WithFacts(docs.EncodeFacts).WithFactsUpdate(docs.UpdateFacts))
	if err != nil {
		t.Fatal(err)
	}
	ep := relaysync.New(peer.NewRepoAdapter(rp), st, peer.DocumentAccess, relaysync.DefaultOptions().
		WithPeerID("relay-test").WithAuthenticator(bearerUser).WithLogger(log))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ep}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		rp.Close()
		st.Close()
	})
	return "ws://" + ln.Addr().String() + "/v1/sync", rp
}

// device is a device of user: a repository with automerge's sync states,
// as core opens it, and a client that can be stopped and started again.
type device struct {
	t    *testing.T
	name string
	user model.UserID
	url  string
	repo *repo.Repo
	c    *client.Client
	stop func()
}

func newDevice(t *testing.T, name string, user model.UserID, url string) *device {
	t.Helper()
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(ctx, st, repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)).WithGoSync(false))
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, name: name, user: user, url: url, repo: r}
	t.Cleanup(func() {
		d.stopClient()
		r.Close()
		st.Close()
	})
	d.start()
	return d
}

// start runs a new client for d's repository.
func (d *device) start() {
	d.c = client.New(peer.NewRepoAdapter(d.repo), client.WebSocket{URL: d.url, Token: string(d.user), Compression: true},
		client.DefaultOptions().WithIdentity(d.name, d.name+"-store").WithLogger(slog.New(slog.DiscardHandler)).
			WithBackoff(10*time.Millisecond, 50*time.Millisecond, 3))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.c.Run(ctx) }()
	d.stop = func() { cancel(); <-done }
}

func (d *device) stopClient() {
	if d.stop != nil {
		d.stop()
		d.stop = nil
	}
}

// addBatch adds n entries with track ids of size bytes, in one call.
func (d *device) addBatch(id docs.DocumentID, tag string, n, size int) {
	d.t.Helper()
	tracks := make([]model.TrackID, n)
	for i := range tracks {
		s := fmt.Sprintf("%s-%05d-", tag, i)
		tracks[i] = model.TrackID(s + strings.Repeat("x", size-len(s)))
	}
	h, err := d.repo.Get(context.Background(), id)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := h.Playlist(context.Background(), func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), d.user, tracks...)
		return err
	}); err != nil {
		d.t.Fatal(err)
	}
}

// waitSynced waits until d's client is in sync with the relay, checking
// the connection never failed and nothing was refused.
func (d *device) waitSynced(what string) {
	d.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st := d.c.Status()
		if st.LastError != "" || len(st.Refused) > 0 {
			d.t.Fatalf("%s: %s: %+v", what, d.name, st)
		}
		if in, err := d.c.InSync(context.Background()); err == nil && in && st.Connected {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: %s not in sync: %+v", what, d.name, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBigPlaylistReachesDevices: the security review's case, over a real
// relay and WebSockets with the real frame limit. Alice's phone adds 4
// batches of 4,000 entries to a public playlist bob collaborates on (each
// upload accepted); her new laptop, bob's device and carol (a public
// reader) follow it and receive the whole history, ≈ 1.8 frames, in
// several messages; with the phone offline, bob adds his own 4 batches
// of 4,000, which reach the phone's old replica when it reconnects, the
// laptop and carol (the history is then ≈ 3.7 frames). Every device ends in sync with no connection error and no
// refusal, every relay message within a frame; and a playlist created on
// the laptop afterwards reaches the relay. Before, every device behind
// on the playlist got "send sync: wire: frame too large" and lost its
// whole session, at every retry.
func TestBigPlaylistReachesDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("syncs ≈ 4 MB of playlist history to four devices")
	}
	ctx := context.Background()
	url, relay := bigRelay(t)
	phone := newDevice(t, "alice-phone", "alice", url)
	h, err := phone.repo.CreatePlaylist(ctx, "alice", "big")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetPublic(true); err != nil {
			return err
		}
		return p.SetCollaborators("bob")
	}); err != nil {
		t.Fatal(err)
	}
	const batch, idLen = 4000, 40
	for b := range 4 {
		phone.addBatch(id, fmt.Sprintf("a%d", b), batch, idLen)
		phone.waitSynced(fmt.Sprintf("alice's batch %d", b))
	}
	rh, err := relay.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	history := func() int {
		n := 0
		if err := rh.Read(func(d *automerge.Doc) error {
			cs, err := d.Changes()
			for _, c := range cs {
				n += len(c.Save())
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := history(); n < 3*wire.MaxFrameSize/2 {
		t.Fatalf("history of %d bytes: not past the frame limit", n)
	}

	laptop := newDevice(t, "alice-laptop", "alice", url)
	bob := newDevice(t, "bob-phone", "bob", url)
	carol := newDevice(t, "carol-phone", "carol", url)
	for _, d := range []*device{laptop, bob, carol} {
		d.c.Want(id)
	}
	for _, d := range []*device{laptop, bob, carol} {
		d.waitSynced("first sync of the big playlist")
		if got := len(entries(t, d.repo, id)); got != 4*batch {
			t.Fatalf("%s holds %d entries, want %d", d.name, got, 4*batch)
		}
	}

	phone.stopClient()
	for b := range 4 {
		bob.addBatch(id, fmt.Sprintf("b%d", b), batch, idLen)
		bob.waitSynced(fmt.Sprintf("bob's batch %d", b))
	}
	n := history()
	if n < 3*wire.MaxFrameSize {
		t.Fatalf("history of %d bytes after bob's batches", n)
	}
	t.Logf("history of %d bytes, %.1f frames", n, float64(n)/wire.MaxFrameSize)
	phone.start()
	want := entries(t, bob.repo, id)
	if len(want) != 8*batch {
		t.Fatalf("bob holds %d entries, want %d", len(want), 8*batch)
	}
	for _, d := range []*device{phone, laptop, carol} {
		d.waitSynced("bob's batches")
		if got := entries(t, d.repo, id); !slices.Equal(got, want) {
			t.Fatalf("%s holds %d entries, bob %d", d.name, len(got), len(want))
		}
	}

	lh, err := laptop.repo.CreatePlaylist(ctx, "alice", "after")
	if err != nil {
		t.Fatal(err)
	}
	laptop.waitSynced("a new playlist")
	if got, err := relay.Get(ctx, lh.ID()); err != nil || got.Empty() {
		t.Fatalf("the laptop's new playlist is not on the relay: %v", err)
	}
}
