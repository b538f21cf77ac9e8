package relaysync_test

import (
	"crypto/rand"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

func newPlaylistDoc(t *testing.T, owner model.UserID, collaborators ...model.UserID) *automerge.Doc {
	t.Helper()
	doc := automerge.New()
	p, err := docs.CreatePlaylist(doc, owner, "list", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(collaborators) > 0 {
		if err := p.SetCollaborators(collaborators...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Add(docs.AtEnd(), owner, "t1"); err != nil {
		t.Fatal(err)
	}
	return doc
}

func newLibraryDoc(t *testing.T, owner model.UserID) *automerge.Doc {
	t.Helper()
	doc := automerge.New()
	if _, err := docs.CreateLibrary(doc, owner, docs.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	return doc
}

func randomID(t *testing.T) docs.DocumentID {
	t.Helper()
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func bindLibrary(t *testing.T, st store.Store, user model.UserID) docs.DocumentID {
	t.Helper()
	var id docs.DocumentID
	err := st.Update(t.Context(), func(tx store.Txn) error {
		var err error
		id, err = relaysync.BindLibrary(tx, user, rand.Reader)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCreateOwnership: the relay decides a document's owner from the
// authenticated creator. A document whose content names another owner
// is refused, so is any document at an id recorded for another user
// (alice's assigned library id), and a library anywhere but at the id
// the relay assigned to its creator (so the id derived from alice's name
// cannot be squatted either). Refused documents are not stored; accepted
// ones are recorded as owned by their creator.
func TestCreateOwnership(t *testing.T) {
	cases := []struct {
		name    string
		creator model.UserID
		id      func(aliceLib docs.DocumentID) docs.DocumentID
		doc     func(t *testing.T) *automerge.Doc
		stored  bool
	}{
		{"bob's own playlist", "bob", nil, func(t *testing.T) *automerge.Doc { return newPlaylistDoc(t, "bob") }, true},
		{"playlist claiming owner ada", "bob", nil, func(t *testing.T) *automerge.Doc { return newPlaylistDoc(t, "ada", "bob") }, false},
		{"bob's library at alice's library id", "bob", func(l docs.DocumentID) docs.DocumentID { return l },
			func(t *testing.T) *automerge.Doc { return newLibraryDoc(t, "bob") }, false},
		{"library naming alice at alice's library id", "bob", func(l docs.DocumentID) docs.DocumentID { return l },
			func(t *testing.T) *automerge.Doc { return newLibraryDoc(t, "alice") }, false},
		{"bob's playlist at alice's library id", "bob", func(l docs.DocumentID) docs.DocumentID { return l },
			func(t *testing.T) *automerge.Doc { return newPlaylistDoc(t, "bob") }, false},
		{"bob's library at the id derived from alice's name", "bob", func(docs.DocumentID) docs.DocumentID { return docs.LibraryID("alice") },
			func(t *testing.T) *automerge.Doc { return newLibraryDoc(t, "bob") }, false},
		{"bob's library at an unassigned id", "bob", nil, func(t *testing.T) *automerge.Doc { return newLibraryDoc(t, "bob") }, false},
		{"alice's library at her id", "alice", func(l docs.DocumentID) docs.DocumentID { return l },
			func(t *testing.T) *automerge.Doc { return newLibraryDoc(t, "alice") }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, repo, st := openRelayStore(t, relaysync.DefaultOptions())
			aliceLib := bindLibrary(t, st, "alice")
			id := randomID(t)
			if c.id != nil {
				id = c.id(aliceLib)
			}
			m, err := syncUntilQuiet(t, dial(t, url, c.creator), id, c.doc(t), string(c.creator)+"-dev")
			if err != nil {
				t.Fatal(err)
			}
			has, err := repo.Has(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if has != c.stored {
				t.Fatalf("stored = %v, want %v (answer %+v)", has, c.stored, m)
			}
			if !c.stored {
				if m == nil || m.Type != wire.TypeError || m.DocumentID != id.String() {
					t.Fatalf("answer %+v, want an error naming %s", m, id)
				}
				return
			}
			if m != nil {
				t.Fatalf("accepted document answered %+v", m)
			}
			if owner, err := relaysync.OwnerOf(t.Context(), st, id); err != nil || owner != c.creator {
				t.Fatalf("recorded owner %q (%v), want %q", owner, err, c.creator)
			}
		})
	}
}

// TestLibraryNotReadableByOthers: once alice stored her library at her
// assigned id, bob asking for it gets doc-unavailable and nothing else.
func TestLibraryNotReadableByOthers(t *testing.T) {
	url, _, st := openRelayStore(t, relaysync.DefaultOptions())
	lib := bindLibrary(t, st, "alice")
	doc := newLibraryDoc(t, "alice")
	if m, err := syncUntilQuiet(t, dial(t, url, "alice"), lib, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice: %v %+v", err, m)
	}
	req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	bob := dial(t, url, "bob")
	if err := bob.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "bob-dev", TargetID: "relay", DocumentID: lib.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	m, err := bob.Recv(t.Context())
	if err != nil || m.Type != wire.TypeDocUnavailable || m.DocumentID != lib.String() {
		t.Fatalf("bob's request answered %+v (%v), want doc-unavailable", m, err)
	}
}

// liveConn reads a connection on its own goroutine, so tests can wait
// for messages with a timeout without closing the WebSocket (a Recv
// whose context ends closes it).
type liveConn struct {
	*peer.WSConn
	user string
	in   chan *wire.Message
}

func live(t *testing.T, url string, user model.UserID) *liveConn {
	t.Helper()
	return liveStorage(t, url, user, string(user)+"-store")
}

// liveStorage is live announcing storage as the storage id.
func liveStorage(t *testing.T, url string, user model.UserID, storage string) *liveConn {
	t.Helper()
	c := &liveConn{WSConn: dialStorage(t, url, user, storage), user: string(user) + "-dev", in: make(chan *wire.Message, 64)}
	go func() {
		for {
			m, err := c.Recv(t.Context())
			if err != nil {
				close(c.in)
				return
			}
			c.in <- m
		}
	}()
	return c
}

// next returns the next message, or nil after d without one; a closed
// connection fails the test.
func (c *liveConn) next(t *testing.T, d time.Duration) *wire.Message {
	t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			t.Fatalf("%s: connection closed", c.user)
		}
		return m
	case <-time.After(d):
		return nil
	}
}

// exchange syncs doc under id with the relay until it is quiet for
// 300 ms, and returns the first error or doc-unavailable answer for id.
func (c *liveConn) exchange(t *testing.T, id docs.DocumentID, ss *automerge.SyncState) *wire.Message {
	t.Helper()
	for range 20 {
		if m, ok := ss.GenerateMessage(); ok {
			if err := c.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: c.user, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
				t.Fatal(err)
			}
		}
		m := c.next(t, 300*time.Millisecond)
		switch {
		case m == nil:
			return nil
		case m.DocumentID != id.String():
		case m.Type == wire.TypeError || m.Type == wire.TypeDocUnavailable:
			return m
		case m.Type == wire.TypeSync:
			if _, err := ss.ReceiveMessage(m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nil
}

// aclState reads what access is decided on from the relay's copy.
func aclState(t *testing.T, repo *peer.RepoAdapter, id docs.DocumentID) (model.UserID, []model.UserID, bool) {
	t.Helper()
	var (
		owner   model.UserID
		collabs []model.UserID
		public  bool
	)
	err := repo.View(t.Context(), id, func(doc *automerge.Doc) error {
		p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
		if err != nil {
			return err
		}
		owner, collabs, public, err = p.Access()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return owner, collabs, public
}

// TestCollaboratorCannotChangeACL: bob, collaborator on alice's
// playlist, adds an entry (accepted), then changes the owner, the
// collaborators or public: that change is refused with an error naming
// the document, nothing of it is stored, bob's connection stays up, and
// alice's later edits are accepted.
func TestCollaboratorCannotChangeACL(t *testing.T) {
	cases := []struct {
		name string
		edit func(p *docs.Playlist) error
	}{
		{"owner to bob", func(p *docs.Playlist) error { return p.Doc().RootMap().Set("owner", "bob") }},
		{"clear collaborators", func(p *docs.Playlist) error { return p.SetCollaborators() }},
		{"add a collaborator", func(p *docs.Playlist) error { return p.SetCollaborators("bob", "mallory") }},
		{"make public", func(p *docs.Playlist) error { return p.SetPublic(true) }},
		{"owner set and restored", func(p *docs.Playlist) error {
			if err := p.Doc().RootMap().Set("owner", "bob"); err != nil {
				return err
			}
			return p.Doc().RootMap().Set("owner", "alice")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			id := randomID(t)
			alice := newPlaylistDoc(t, "alice", "bob")
			aliceConn := dial(t, url, "alice")
			if m, err := syncUntilQuiet(t, aliceConn, id, alice, "alice-dev"); err != nil || m != nil {
				t.Fatalf("alice upload: %v %+v", err, m)
			}
			bobDoc, err := alice.Fork()
			if err != nil {
				t.Fatal(err)
			}
			bp := addTrack(t, bobDoc, "bob", "b1")
			bob := live(t, url, "bob")
			bobSync := automerge.NewSyncState(bobDoc)
			if m := bob.exchange(t, id, bobSync); m != nil {
				t.Fatalf("bob's entry answered %+v", m)
			}
			if got := relayTracks(t, repo, id); !slices.Equal(got, []string{"t1", "b1"}) {
				t.Fatalf("relay tracks %v after bob's entry", got)
			}
			if err := c.edit(bp); err != nil {
				t.Fatal(err)
			}
			if _, err := bobDoc.Commit("acl edit", automerge.CommitOptions{AllowEmpty: true}); err != nil {
				t.Fatal(err)
			}
			m := bob.exchange(t, id, bobSync)
			if m == nil || m.Type != wire.TypeError || m.DocumentID != id.String() || !strings.Contains(m.Message, "owner") {
				t.Fatalf("bob's ACL change answered %+v, want an error naming %s", m, id)
			}
			owner, collabs, public := aclState(t, repo, id)
			if owner != "alice" || !slices.Equal(collabs, []model.UserID{"bob"}) || public {
				t.Fatalf("relay ACL after refused change: owner %q collaborators %v public %v", owner, collabs, public)
			}
			// Alice's later edit is not dropped, and bob receives it on
			// the connection the refusal left open.
			addTrack(t, alice, "alice", "t2")
			if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, alice, "alice-dev"); err != nil || m != nil {
				t.Fatalf("alice's later edit: %v %+v", err, m)
			}
			// Alice's replica lacks b1, so where t2 lands relative to it is
			// up to the fractional positions: compare the sets.
			if got := slices.Sorted(slices.Values(relayTracks(t, repo, id))); !slices.Equal(got, []string{"b1", "t1", "t2"}) {
				t.Fatalf("relay tracks %v after alice's later edit", got)
			}
			for {
				m := bob.next(t, 2*time.Second)
				if m == nil {
					t.Fatal("bob's connection did not receive alice's edit")
				}
				if m.Type == wire.TypeSync && m.DocumentID == id.String() {
					break
				}
			}
		})
	}
}

// TestRefusedDocumentsKeepSession: on one connection eve asks for
// alice's private playlist (doc-unavailable) and pushes a playlist that
// names ada as owner (error); each refusal names its document, repeated
// messages for a refused document get at most three answers, and the
// connection stays up: eve's own playlist is then stored.
func TestRefusedDocumentsKeepSession(t *testing.T) {
	url, repo := openRelay(t, relaysync.DefaultOptions())
	private := randomID(t)
	if m, err := syncUntilQuiet(t, dial(t, url, "alice"), private, newPlaylistDoc(t, "alice"), "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice: %v %+v", err, m)
	}
	eve := live(t, url, "eve")
	claimed := randomID(t)
	send := func(id docs.DocumentID, data []byte) {
		t.Helper()
		if err := eve.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: "eve-dev", TargetID: "relay", DocumentID: id.String(), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	// The forged playlist's changes travel in eve's second message, after
	// the relay's first answer.
	forged := automerge.NewSyncState(newPlaylistDoc(t, "ada", "eve"))
	first, _ := forged.GenerateMessage()
	send(claimed, first.Bytes())
	if m := eve.next(t, 2*time.Second); m == nil || m.Type != wire.TypeSync {
		t.Fatalf("first answer %+v, want sync", m)
	} else if _, err := forged.ReceiveMessage(m.Data); err != nil {
		t.Fatal(err)
	}
	withChanges, ok := forged.GenerateMessage()
	if !ok || len(withChanges.Changes()) == 0 {
		t.Fatal("no message with changes")
	}
	ask, _ := automerge.NewSyncState(newPlaylistDoc(t, "eve")).GenerateMessage()
	const sends = 8
	for range sends {
		send(private, ask.Bytes())
		send(claimed, withChanges.Bytes())
	}
	answers := map[string][]string{}
	for m := eve.next(t, 500*time.Millisecond); m != nil; m = eve.next(t, 500*time.Millisecond) {
		answers[m.DocumentID] = append(answers[m.DocumentID], m.Type)
	}
	for id, want := range map[docs.DocumentID]string{private: wire.TypeDocUnavailable, claimed: wire.TypeError} {
		got := answers[id.String()]
		if len(got) == 0 || len(got) > 3 {
			t.Fatalf("%s: %d answers %v to %d messages, want 1 to 3", id, len(got), got, sends)
		}
		for _, typ := range got {
			if typ != want {
				t.Fatalf("%s answered %v, want %s", id, got, want)
			}
		}
	}
	if has, _ := repo.Has(t.Context(), claimed); has {
		t.Fatal("relay stored the playlist claiming ada as owner")
	}
	own := randomID(t)
	if m := eve.exchange(t, own, automerge.NewSyncState(newPlaylistDoc(t, "eve"))); m != nil {
		t.Fatalf("eve's own playlist on the same connection answered %+v", m)
	}
	if has, err := repo.Has(t.Context(), own); err != nil || !has {
		t.Fatalf("eve's own playlist not stored (%v)", err)
	}
}

// TestBindLibraryMigration: on a store written by an older relay,
// RecordOwners records each document's creator from the relay's
// creation records; BindLibrary then keeps the derived library id for
// alice, who created it herself, and gives carol, whose derived id bob
// squatted, a fresh random id. Bindings are stable.
func TestBindLibraryMigration(t *testing.T) {
	_, _, st := openRelayStore(t, relaysync.DefaultOptions())
	ctx := t.Context()
	for _, k := range []string{
		"udoc/alice/" + docs.LibraryID("alice").String(),
		"udoc/bob/" + docs.LibraryID("carol").String(),
	} {
		if err := st.Set(ctx, []byte(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	n, err := relaysync.RecordOwners(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil || n != 2 {
		t.Fatalf("RecordOwners = %d, %v; want 2", n, err)
	}
	if n, err := relaysync.RecordOwners(ctx, st, slog.New(slog.DiscardHandler)); err != nil || n != 0 {
		t.Fatalf("second RecordOwners = %d, %v; want 0", n, err)
	}
	for id, want := range map[docs.DocumentID]model.UserID{docs.LibraryID("alice"): "alice", docs.LibraryID("carol"): "bob"} {
		if got, err := relaysync.OwnerOf(ctx, st, id); err != nil || got != want {
			t.Fatalf("owner of %s = %q (%v), want %q", id, got, err, want)
		}
	}
	if got := bindLibrary(t, st, "alice"); got != docs.LibraryID("alice") {
		t.Fatalf("alice's library %s, want her derived id %s", got, docs.LibraryID("alice"))
	}
	carol := bindLibrary(t, st, "carol")
	if carol == docs.LibraryID("carol") {
		t.Fatal("carol got the derived id bob created")
	}
	if got, err := relaysync.OwnerOf(ctx, st, carol); err != nil || got != "carol" {
		t.Fatalf("owner of carol's library = %q (%v)", got, err)
	}
	if again := bindLibrary(t, st, "carol"); again != carol {
		t.Fatalf("carol's library changed from %s to %s", carol, again)
	}
}
