package peer_test

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// saturatingConn is a Conn whose sent sync messages, while on, carry a
// Bloom filter that claims every change (when automerge built one over
// at least one change): the false positive that makes the receiver send
// only its heads for a change the sender lacks, forced for every change.
type saturatingConn struct {
	peer.Conn
	on atomic.Bool
}

// saturated is a Bloom filter over one entry (10 bits per entry, 7
// probes) with every bit set: automerge finds every hash in it.
var saturated = []byte{1, 10, 7, 0xff, 0xff}

func (c *saturatingConn) Send(ctx context.Context, m *wire.Message) error {
	if c.on.Load() && m.Type == wire.TypeSync {
		sm, err := wire.ParseSync(m.Data)
		if err != nil {
			return err
		}
		changed := false
		for i := range sm.Have {
			if len(sm.Have[i].Bloom) > 0 && sm.Have[i].Bloom[0] != 0 {
				sm.Have[i].Bloom, changed = saturated, true
			}
		}
		if changed {
			fwd := *m
			fwd.Data = sm.Encode()
			m = &fwd
		}
	}
	return c.Conn.Send(ctx, m)
}

// TestRefusedChangeDoesNotStallSync drives the stall of issue 10: bob, a
// collaborator, adds an entry (accepted), then removes the collaborators
// (refused by the relay). Every Bloom filter bob sends claims every
// change, so the relay sends alice's next entry a2 by its heads only,
// and bob must ask for it. Before the fix the relay refused bob's
// message whole without an answer and bob's automerge, still waiting
// for the refused change to be acknowledged, never asked: a2 never
// arrived. Now the relay applies the refused message's heads, needs and
// filter and answers; bob's device sets the refused change aside
// (rebuilding the playlist without it), keeps receiving, and its later
// entry reaches the relay. The relay's playlist keeps bob as its
// collaborator and bob's gets him back.
func TestRefusedChangeDoesNotStallSync(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	relay, device := openRepo(ctx, t), openRepo(ctx, t)
	h, err := relay.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	aliceEdit := func(fn func(p *docs.Playlist) error) {
		t.Helper()
		if err := h.Playlist(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	aliceEdit(func(p *docs.Playlist) error { return p.SetCollaborators("bob") })
	aliceEdit(func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err })

	relayEnd, deviceEnd := pipe()
	sat := &saturatingConn{Conn: deviceEnd}
	sat.on.Store(true)
	refused := make(chan string, 8)
	setAside := make(chan int, 8)
	log := slog.New(slog.DiscardHandler)
	rs := &peer.Session{Repo: peer.NewRepoAdapter(relay), Authz: peer.DocumentAccess, User: "bob", LocalID: "relay",
		RemoteID: "bob-dev", RemoteStorage: "bob-store", Conn: relayEnd, Log: log}
	// While the refusal is set aside and reported the document must not
	// count as in sync: a caller waiting for sync (segue sync now) would
	// return before the refusal is recorded.
	var ds *peer.Session
	inSyncDuring := make(chan bool, 8)
	checkInSync := func(id docs.DocumentID) {
		ok, err := ds.InSync(ctx, id)
		if err != nil {
			t.Error(err)
		}
		inSyncDuring <- ok
	}
	ds = &peer.Session{Repo: peer.NewRepoAdapter(device), Authz: peer.AllowAll, LocalID: "bob-dev", RemoteID: "relay",
		RemoteStorage: "relay-store", Conn: sat, Log: log, FollowAll: true, SetAsideRefused: true,
		OnRefused:  func(id docs.DocumentID, reason string) { checkInSync(id); refused <- reason },
		OnSetAside: func(id docs.DocumentID, n int) { checkInSync(id); setAside <- n },
	}
	done := make(chan error, 2)
	go func() { done <- rs.Run(ctx) }()
	go func() { done <- ds.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()
	ds.Want(id)

	tracks := func(r *repo.Repo) []model.TrackID {
		t.Helper()
		dh, err := r.Get(ctx, id)
		if err != nil {
			return nil
		}
		var out []model.TrackID
		if err := dh.ReadPlaylist(func(p *docs.Playlist) error {
			es, err := p.Entries()
			for _, e := range es {
				out = append(out, e.Track)
			}
			return err
		}); err != nil {
			return nil
		}
		return out
	}
	collaborators := func(r *repo.Repo) []model.UserID {
		t.Helper()
		dh, err := r.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []model.UserID
		if err := dh.ReadPlaylist(func(p *docs.Playlist) error {
			_, out, _, err = p.Access()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	bobEdit := func(fn func(p *docs.Playlist) error) {
		t.Helper()
		dh, err := device.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := dh.Playlist(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}

	waitFor(t, "bob receives the playlist", func() bool { return slices.Equal(tracks(device), []model.TrackID{"t1"}) })
	bobEdit(func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "b1"); return err })
	waitFor(t, "b1 reaches the relay", func() bool { return slices.Contains(tracks(relay), "b1") })

	bobEdit(func(p *docs.Playlist) error { return p.SetCollaborators() })
	select {
	case reason := <-refused:
		t.Logf("refused: %s", reason)
	case <-time.After(20 * time.Second):
		t.Fatal("no refusal")
	}
	select {
	case n := <-setAside:
		if n != 1 {
			t.Fatalf("%d changes set aside, want 1", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nothing set aside")
	}
	for range 2 {
		if <-inSyncDuring {
			t.Fatal("the document counted as in sync while its refusal was being reported")
		}
	}
	if got := collaborators(device); !slices.Equal(got, []model.UserID{"bob"}) {
		t.Fatalf("bob's collaborators after the set-aside %v, want [bob]", got)
	}

	aliceEdit(func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "a2"); return err })
	waitFor(t, "a2 reaches bob", func() bool { return slices.Contains(tracks(device), "a2") })
	bobEdit(func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "b2"); return err })
	waitFor(t, "b2 reaches the relay", func() bool { return slices.Contains(tracks(relay), "b2") })

	want := []model.TrackID{"t1", "b1", "a2", "b2"}
	waitFor(t, "both converge", func() bool { return slices.Equal(tracks(relay), want) && slices.Equal(tracks(device), want) })
	if got := collaborators(relay); !slices.Equal(got, []model.UserID{"bob"}) {
		t.Fatalf("relay's collaborators %v, want [bob]", got)
	}
}
