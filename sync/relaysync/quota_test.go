package relaysync_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// quotaRelay serves a relay over the store in dir with a per-user quota
// of limit bytes and documents capped at docMax; stop closes it all (a
// restart opens dir again).
func quotaRelay(t *testing.T, dir string, limit int64, docMax int) (url string, st store.Store, stop func()) {
	t.Helper()
	url, _, st, stop = dirRelay(t, dir, func(st store.Store) repo.Options {
		return repo.DefaultOptions().WithActorBinding(true).WithQuota(relaysync.NewQuota(st, limit)).WithMaxDocBytes(docMax)
	})
	return url, st, stop
}

// dirRelay serves a relay over the Badger store in dir, its repository
// opened with the options opts gives for the store; users authenticate
// with ?token=<user>. stop closes it all (a restart opens dir again).
func dirRelay(t *testing.T, dir string, opts func(store.Store) repo.Options) (url string, ra *peer.RepoAdapter, st store.Store, stop func()) {
	t.Helper()
	st, err := badgerstore.Open(t.Context(), dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), st, opts(st))
	if err != nil {
		t.Fatal(err)
	}
	ra = peer.NewRepoAdapter(r)
	ep := relaysync.New(ra, st, peer.DocumentAccess, relaysync.DefaultOptions().
		WithAuthenticator(func(r *http.Request) (model.UserID, error) { return model.UserID(r.URL.Query().Get("token")), nil }))
	srv := httptest.NewServer(ep)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.CloseClientConnections()
			srv.Close()
			r.Close()
			st.Close()
		}
	}
	t.Cleanup(stop)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync", ra, st, stop
}

// bigEntry adds an entry to doc as user, with n random hex bytes in
// fields of its own besides (track ids are at most model.MaxIDLen
// bytes, strings docs.MaxStringBytes).
func bigEntry(t *testing.T, doc *automerge.Doc, user model.UserID, n int) {
	t.Helper()
	p := addTrack(t, doc, user, "big")
	es, err := p.Entries()
	if err != nil {
		t.Fatal(err)
	}
	e := doc.Path("entries", string(es[len(es)-1].ID)).Map()
	for i := 0; n > 0; i++ {
		b := make([]byte, min(n, docs.MaxStringBytes)/2)
		rand.Read(b)
		if err := e.Set("pad"+strconv.Itoa(i), hex.EncodeToString(b)); err != nil {
			t.Fatal(err)
		}
		n -= 2 * len(b)
	}
	if _, err := doc.Commit("pad"); err != nil {
		t.Fatal(err)
	}
}

func storedBytes(t *testing.T, st store.Store, user model.UserID) int64 {
	t.Helper()
	n, err := relaysync.StoredBytes(t.Context(), st, user)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStorageQuota: bob's edits count against bob, in his own playlist
// and in alice's, where he collaborates (alice's count does not move);
// once his next message would pass the quota its changes are refused for
// that document, with an error naming the quota, and nothing of them is
// stored; after a restart the count is the same and still refuses him,
// while carol, another user, writes freely. A document's cap refuses
// changes past it for every writer.
func TestStorageQuota(t *testing.T) {
	const limit, entry = 200 << 10, 20 << 10
	dir := t.TempDir()
	url, st, stop := quotaRelay(t, dir, limit, 0)

	aliceID := randomID(t)
	aliceDoc := newPlaylistDoc(t, "alice", "bob")
	upload(t, url, aliceID, aliceDoc)
	aliceUsed := storedBytes(t, st, "alice")
	if aliceUsed <= 0 {
		t.Fatalf("alice's upload counted %d bytes", aliceUsed)
	}

	bob := live(t, url, "bob")
	shared := automerge.New()
	sss := automerge.NewSyncState(shared)
	if m := bob.exchange(t, aliceID, sss); m != nil {
		t.Fatalf("bob's first sync of alice's playlist: %+v", m)
	}
	bigEntry(t, shared, "bob", entry)
	if m := bob.exchange(t, aliceID, sss); m != nil {
		t.Fatalf("bob's edit of alice's playlist: %+v", m)
	}
	if got := storedBytes(t, st, "alice"); got != aliceUsed {
		t.Fatalf("alice's count moved from %d to %d with bob's edit", aliceUsed, got)
	}
	if got := storedBytes(t, st, "bob"); got < entry || got > 2*entry {
		t.Fatalf("bob's count %d after a %d-byte edit", got, entry)
	}

	bobID := randomID(t)
	bobDoc := newPlaylistDoc(t, "bob")
	bss := automerge.NewSyncState(bobDoc)
	var refused *wire.Message
	for i := 0; refused == nil; i++ {
		if i > limit/entry+2 {
			t.Fatalf("bob wrote %d entries of %d bytes past a quota of %d", i, entry, limit)
		}
		bigEntry(t, bobDoc, "bob", entry)
		refused = bob.exchange(t, bobID, bss)
	}
	if refused.Type != wire.TypeError || refused.DocumentID != bobID.String() || !strings.Contains(refused.Message, "storage quota") {
		t.Fatalf("refusal %+v, want an error for bob's playlist naming the storage quota", refused)
	}
	used := storedBytes(t, st, "bob")
	if used > limit || used < limit-2*entry {
		t.Fatalf("bob's count %d at the refusal, want within 2 entries under %d", used, limit)
	}

	stop()
	url, st, _ = quotaRelay(t, dir, limit, 0)
	if got := storedBytes(t, st, "bob"); got != used {
		t.Fatalf("bob's count %d after the restart, want %d", got, used)
	}
	bob = live(t, url, "bob")
	bss = automerge.NewSyncState(bobDoc)
	if m := bob.exchange(t, bobID, bss); m == nil || !strings.Contains(m.Message, "storage quota") {
		t.Fatalf("bob after the restart: %+v, want a quota refusal", m)
	}
	if got := storedBytes(t, st, "bob"); got != used {
		t.Fatalf("bob's count moved to %d after a refusal, want %d", got, used)
	}
	carolID := randomID(t)
	carolDoc := newPlaylistDoc(t, "carol")
	bigEntry(t, carolDoc, "carol", entry)
	if m := live(t, url, "carol").exchange(t, carolID, automerge.NewSyncState(carolDoc)); m != nil {
		t.Fatalf("carol: %+v", m)
	}

	t.Run("document cap", func(t *testing.T) {
		url, _, _ := quotaRelay(t, t.TempDir(), 1<<30, 3*entry)
		id := randomID(t)
		doc := newPlaylistDoc(t, "dora")
		dora := live(t, url, "dora")
		ss := automerge.NewSyncState(doc)
		var m *wire.Message
		for i := 0; m == nil; i++ {
			if i > 4 {
				t.Fatalf("dora wrote %d entries of %d bytes into a document capped at %d", i, entry, 3*entry)
			}
			bigEntry(t, doc, "dora", entry)
			m = dora.exchange(t, id, ss)
		}
		if m.Type != wire.TypeError || m.DocumentID != id.String() || !strings.Contains(m.Message, "size cap") {
			t.Fatalf("refusal %+v, want an error for the document naming its size cap", m)
		}
		other := randomID(t)
		if m := dora.exchange(t, other, automerge.NewSyncState(newPlaylistDoc(t, "dora"))); m != nil {
			t.Fatalf("dora's other playlist: %+v", m)
		}
	})
}
