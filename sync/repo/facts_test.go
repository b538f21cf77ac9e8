package repo

import (
	"context"
	crand "crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

func openFactsRepo(t *testing.T, st store.Store, seed byte) *Repo {
	t.Helper()
	r, err := Open(context.Background(), st, testOptions(seed).WithFacts(docs.EncodeFacts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func facts(t *testing.T, r *Repo, id docs.DocumentID) docs.Facts {
	t.Helper()
	b, err := r.Facts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := docs.ParseFacts(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// handles returns how many Handles r keeps.
func handles(r *Repo) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handles)
}

// TestFactsFollowChanges: the facts record is written with the creation
// and every change that alters it, local or from a peer, and a reopened
// repo reads it without loading the document.
func TestFactsFollowChanges(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	r := openFactsRepo(t, st, 1)
	h, err := r.CreatePlaylist(ctx, "u1", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if got, want := facts(t, r, id), (docs.Facts{Kind: docs.KindPlaylist, Name: "Mix"}); got != want {
		t.Fatalf("after creation: %+v, want %+v", got, want)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.Rename("Mix 2"); err != nil {
			return err
		}
		return p.SetPublic(true)
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := facts(t, r, id), (docs.Facts{Kind: docs.KindPlaylist, Name: "Mix 2", Public: true}); got != want {
		t.Fatalf("after rename: %+v, want %+v", got, want)
	}

	// A device renames it; the change arrives by sync.
	dev := openRepo(t, store.NewMemory(), 2)
	syncUntilQuiet(t, r, dev, "dev", "relay", id)
	dh, err := dev.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := dh.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("From the device") }); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, r, dev, "dev", "relay", id)
	want := docs.Facts{Kind: docs.KindPlaylist, Name: "From the device", Public: true}
	if got := facts(t, r, id); got != want {
		t.Fatalf("after the device's rename: %+v, want %+v", got, want)
	}

	r2 := openFactsRepo(t, st, 3)
	if got := facts(t, r2, id); got != want {
		t.Fatalf("reopened: %+v, want %+v", got, want)
	}
	if n := handles(r2); n != 0 {
		t.Fatalf("reading facts kept %d handles", n)
	}
	unknown, err := docs.NewDocumentID(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Facts(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown document: %v, want ErrNotFound", err)
	}
	if _, err := openRepo(t, st, 4).Facts(ctx, id); !errors.Is(err, ErrNoFacts) {
		t.Fatalf("repo without WithFacts: %v, want ErrNoFacts", err)
	}
}

// TestFactsBackfill: documents stored without a facts record (an older
// relay) get it on first read, from a load that keeps no Handle, and it
// is stored for the next start.
func TestFactsBackfill(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	old := openRepo(t, st, 1)
	h, err := old.CreatePlaylist(ctx, "u1", "Old")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := old.Library(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []docs.DocumentID{h.ID(), lib.ID()} {
		if _, err := st.Get(ctx, factsKey(id)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("repo without WithFacts stored facts of %s: %v", id, err)
		}
	}
	old.Close()

	r := openFactsRepo(t, st, 2)
	for _, tc := range []struct {
		id   docs.DocumentID
		want docs.Facts
	}{
		{h.ID(), docs.Facts{Kind: docs.KindPlaylist, Name: "Old"}},
		{lib.ID(), docs.Facts{Kind: docs.KindLibrary}},
	} {
		if got := facts(t, r, tc.id); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.id, got, tc.want)
		}
		b, err := st.Get(ctx, factsKey(tc.id))
		if err != nil {
			t.Fatalf("backfilled facts of %s not stored: %v", tc.id, err)
		}
		if f, err := docs.ParseFacts(b); err != nil || f != tc.want {
			t.Errorf("stored facts of %s: %+v, %v", tc.id, f, err)
		}
	}
	if n := handles(r); n != 0 {
		t.Fatalf("backfill kept %d handles", n)
	}
	if n, _ := r.Loaded(); n != 0 {
		t.Fatalf("backfill left %d documents loaded", n)
	}
}

// TestFactsUpdateAfterCheckedChanges: with WithFactsUpdate, a
// collaborator's checked rename is recorded through the update function
// (the ACL revision stayed), the owner's change to public and rename
// through the full one, an entry added by anyone (a neutral batch) reads
// no facts at all, and the record is right after each.
func TestFactsUpdateAfterCheckedChanges(t *testing.T) {
	ctx := context.Background()
	var full, updates int
	opts := testOptions(70).
		WithFacts(func(d *automerge.Doc) []byte { full++; return docs.EncodeFacts(d) }).
		WithFactsUpdate(func(prev []byte, d *automerge.Doc) []byte { updates++; return docs.UpdateFacts(prev, d) })
	relay, err := Open(ctx, store.NewMemory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	alice := openRepo(t, store.NewMemory(), 71)
	bob := openRepo(t, store.NewMemory(), 72)
	ha, hb := sharedWithBob(t, relay, alice, bob, "Mix")
	id := ha.ID()
	// push sends from's changes to the relay until quiet, checked as a
	// collaborator's when checked.
	push := func(from *Repo, fromID PeerID, checked bool) {
		t.Helper()
		for range 20 {
			m, ok, err := from.GenerateSyncMessage(ctx, "relay", id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if err := relay.ReceiveSyncMessageWith(ctx, fromID, id, m, Incoming{CheckACL: checked}); err != nil {
				t.Fatal(err)
			}
			back, ok, err := relay.GenerateSyncMessage(ctx, fromID, id)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				if err := from.ReceiveSyncMessage(ctx, "relay", id, back); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Fatal("no quiet after 20 rounds")
	}
	steps := []struct {
		name    string
		h       *Handle
		from    *Repo
		fromID  PeerID
		checked bool
		edit    func(p *docs.Playlist) error
		want    docs.Facts
		update  bool
		neutral bool
	}{
		{"owner adds an entry", ha, alice, "alice-dev", false,
			func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err }, docs.Facts{Kind: docs.KindPlaylist, Name: "Mix"}, false, true},
		{"collaborator adds an entry, checked", hb, bob, "bob-dev", true,
			func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "t2"); return err }, docs.Facts{Kind: docs.KindPlaylist, Name: "Mix"}, false, true},
		{"collaborator renames, checked", hb, bob, "bob-dev", true,
			func(p *docs.Playlist) error { return p.Rename("Bob's") }, docs.Facts{Kind: docs.KindPlaylist, Name: "Bob's"}, true, false},
		{"collaborator renames again, checked", hb, bob, "bob-dev", true,
			func(p *docs.Playlist) error { return p.Rename("Bob's 2") }, docs.Facts{Kind: docs.KindPlaylist, Name: "Bob's 2"}, true, false},
		{"owner makes it public", ha, alice, "alice-dev", false,
			func(p *docs.Playlist) error { return p.SetPublic(true) }, docs.Facts{Kind: docs.KindPlaylist, Name: "Bob's 2", Public: true}, false, false},
		{"owner moves an entry", ha, alice, "alice-dev", false,
			func(p *docs.Playlist) error {
				es, err := p.Entries()
				if err != nil {
					return err
				}
				return p.Move(es[0].ID, docs.AtEnd())
			}, docs.Facts{Kind: docs.KindPlaylist, Name: "Bob's 2", Public: true}, false, true},
		{"owner renames", ha, alice, "alice-dev", false,
			func(p *docs.Playlist) error { return p.Rename("Alice's") }, docs.Facts{Kind: docs.KindPlaylist, Name: "Alice's", Public: true}, false, false},
	}
	for _, s := range steps {
		syncUntilQuiet(t, relay, s.from, "relay", s.fromID, id)
		if err := s.h.Playlist(ctx, s.edit); err != nil {
			t.Fatal(err)
		}
		full0, updates0, neutral0 := full, updates, relay.neutralBatches.Load()
		push(s.from, s.fromID, s.checked)
		if got := facts(t, relay, id); got != s.want {
			t.Fatalf("%s: facts %+v, want %+v", s.name, got, s.want)
		}
		usedUpdate := updates > updates0 && full == full0
		if usedUpdate != s.update {
			t.Fatalf("%s: %d full reads, %d updates; want only updates %v", s.name, full-full0, updates-updates0, s.update)
		}
		neutral := relay.neutralBatches.Load() > neutral0
		if read := full+updates > full0+updates0; neutral != s.neutral || read == s.neutral {
			t.Fatalf("%s: neutral %v (want %v), facts read %v", s.name, neutral, s.neutral, read)
		}
	}
}

// TestEventFacts: an event says whether its change may have changed the
// facts record — creation, a rename, the public flag, local or from a
// peer — and not for an edit of the entries; a subscription that
// coalesces a facts event with a later one keeps the flag.
func TestEventFacts(t *testing.T) {
	ctx := context.Background()
	r := openFactsRepo(t, store.NewMemory(), 1)
	dev := openFactsRepo(t, store.NewMemory(), 2)
	events, cancel := r.Subscribe(docs.DocumentID{})
	defer cancel()
	next := func() Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	h, err := r.CreatePlaylist(ctx, "u1", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if ev := next(); !ev.Facts {
		t.Fatalf("creation: %+v, want Facts", ev)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "u1", "t1", "t2", "t3"); return err }); err != nil {
		t.Fatal(err)
	}
	if ev := next(); !ev.Facts {
		t.Fatalf("first edit after creation (the record's first write): %+v, want Facts", ev)
	}
	syncUntilQuiet(t, r, dev, "R", "D", id)
	move := func(p *docs.Playlist) error {
		es, err := p.Entries()
		if err != nil {
			return err
		}
		return p.Move(es[0].ID, docs.AtEnd())
	}
	cases := []struct {
		name   string
		remote bool
		edit   func(p *docs.Playlist) error
		want   bool
	}{
		{"move", false, move, false},
		{"add", false, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "u1", "t4"); return err }, false},
		{"rename", false, func(p *docs.Playlist) error { return p.Rename("Mix 2") }, true},
		{"public", false, func(p *docs.Playlist) error { return p.SetPublic(true) }, true},
		{"move from a peer", true, move, false},
		{"rename from a peer", true, func(p *docs.Playlist) error { return p.Rename("Mix 3") }, true},
		{"private from a peer", true, func(p *docs.Playlist) error { return p.SetPublic(false) }, true},
	}
	for _, c := range cases {
		target := r
		if c.remote {
			target = dev
		}
		th, err := target.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := th.Playlist(ctx, c.edit); err != nil {
			t.Fatal(err)
		}
		if c.remote {
			syncUntilQuiet(t, r, dev, "R", "D", id)
		}
		ev := next()
		if ev.Facts != c.want || ev.Remote != c.remote {
			t.Fatalf("%s: Facts %v Remote %v, want %v %v", c.name, ev.Facts, ev.Remote, c.want, c.remote)
		}
		syncUntilQuiet(t, r, dev, "R", "D", id)
	}

}

// TestEventFactsCoalesced: events of a document pending in a
// subscription (it is still handing out an earlier one) collapse to the
// newest, which keeps Facts if any of them had it.
func TestEventFactsCoalesced(t *testing.T) {
	a, b := docs.DocumentID{1}, docs.DocumentID{2}
	cases := []struct {
		name  string
		facts []bool
		want  bool
	}{
		{"facts, then an edit", []bool{true, false}, true},
		{"an edit, then facts", []bool{false, true}, true},
		{"edits only", []bool{false, false}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHub()
			ch, cancel := h.subscribe(docs.DocumentID{})
			defer cancel()
			// a is handed out first: the subscription holds it until
			// read, so b's events are pending together.
			h.publish(Event{Doc: a})
			for _, f := range c.facts {
				h.publish(Event{Doc: b, Facts: f})
			}
			if ev := <-ch; ev.Doc != a {
				t.Fatalf("first event for %v, want a", ev.Doc)
			}
			ev := <-ch
			if ev.Doc != b || ev.Facts != c.want {
				t.Fatalf("got %+v, want b with Facts %v", ev, c.want)
			}
			select {
			case ev := <-ch:
				t.Fatalf("b's events not coalesced: another %+v", ev)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}
