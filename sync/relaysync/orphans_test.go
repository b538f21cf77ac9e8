package relaysync_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
)

// orphanMessage returns a sync message for doc carrying one change of
// about size bytes whose dependency, a change made just before it, is
// left out: the relay can never place it.
func orphanMessage(t *testing.T, id docs.DocumentID, doc *automerge.Doc, size int) *wire.Message {
	t.Helper()
	fork, err := doc.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer fork.Close()
	base := fork.Heads()
	for i, v := range []string{"a", strings.Repeat("x", size)} {
		if err := fork.RootMap().Set("junk", v); err != nil {
			t.Fatal(err)
		}
		if _, err := fork.Commit("orphan " + string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := fork.Changes(base...)
	if err != nil || len(cs) != 2 {
		t.Fatalf("changes: %v (%d)", err, len(cs))
	}
	defer automerge.CloseChanges(cs)
	var heads [][32]byte
	for _, h := range doc.Heads() {
		heads = append(heads, h)
	}
	m := wire.SyncMessage{Type: 0x42, Heads: heads, Changes: [][]byte{cs[1].Save()}}
	return &wire.Message{Type: wire.TypeSync, SenderID: "alice-dev", TargetID: "relay", DocumentID: id.String(), Data: m.Encode()}
}

// TestOrphanChangesBounded: the owner's changes are not checked, so the
// relay handed every change of hers to automerge, which keeps a change
// whose dependencies are missing in memory, unsaved and uncounted by the
// store quota, until they arrive. A stream of changes whose dependencies
// never come grew the relay's C heap without end (≈ 100 MiB in 400
// messages, none answered). Now a message that would leave more than
// msync.MaxQueuedBytes waiting in the document is refused for that
// document, and the session goes on.
func TestOrphanChangesBounded(t *testing.T) {
	url, _ := openRelay(t, relaysync.DefaultOptions())
	id, doc := playlist(t, false)
	upload(t, url, id, doc)
	alice := followDoc(t, url, "alice", id)
	const size = 300_000
	for range 2 + 4<<20/size {
		if err := alice.conn.Send(t.Context(), orphanMessage(t, id, doc, size)); err != nil {
			t.Fatal(err)
		}
	}
	m := alice.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeError })
	if m.DocumentID != id.String() || !strings.Contains(m.Message, "waiting for their dependencies") {
		t.Fatalf("got error %+v, want one naming %s and the waiting changes", m, id)
	}
	// The session serves the owner's other documents.
	other, err := docs.NewDocumentID(strings.NewReader("fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	ss := automerge.NewSyncState(doc)
	defer ss.Close()
	first, _ := ss.GenerateMessage()
	if err := alice.conn.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: "alice-dev", TargetID: "relay", DocumentID: other.String(), Data: first.Bytes()}); err != nil {
		t.Fatal(err)
	}
	alice.wait(t, func(m *wire.Message) bool { return m.DocumentID == other.String() && m.Type == wire.TypeSync })
}

// TestOrphanChangesBoundedPerWriter: msync.MaxQueuedBytes bounds one
// document, so the owner of many documents could keep that much waiting
// in each of them: ≈ 4 MiB of the relay's C heap per loaded document.
// Now what automerge queues is charged to the writer's budget across
// documents (repo.DefaultWaitLimits: 16 MiB): the message past it is
// refused for its document, naming the limit, and the writer's waiting
// bytes stay within it.
func TestOrphanChangesBoundedPerWriter(t *testing.T) {
	url, adapter := openRelay(t, relaysync.DefaultOptions())
	_, doc := playlist(t, false)
	limit := repo.DefaultWaitLimits().WriterBytes
	const size = 700_000
	perDoc := int(msync.MaxQueuedBytes / size)
	docCount := int(limit)/(perDoc*size) + 2
	var ids []docs.DocumentID
	for i := range docCount {
		id, err := docs.NewDocumentID(strings.NewReader(fmt.Sprintf("%016d", i)))
		if err != nil {
			t.Fatal(err)
		}
		upload(t, url, id, doc)
		ids = append(ids, id)
	}
	alice := followDoc(t, url, "alice", ids[0])
	for _, id := range ids {
		for range perDoc {
			if err := alice.conn.Send(t.Context(), orphanMessage(t, id, doc, size)); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := alice.wait(t, func(m *wire.Message) bool { return m.Type == wire.TypeError })
	if !strings.Contains(m.Message, "across documents") {
		t.Fatalf("got error %+v, want one naming the limit across documents", m)
	}
	if got := adapter.R.Waiting("alice"); got > limit || got < limit-2*size {
		t.Fatalf("alice has %d bytes waiting, want at most %d and near it", got, limit)
	}
}

// TestOrphanChangesFairAcrossWriters: a few writers at their own limit
// filled the bytes all writers may keep waiting, after which any other
// user's message that would leave a change waiting was refused. Over a
// real WebSocket, with the limits scaled down (repo.WaitLimits), heavy
// owners streaming changes whose dependencies never come are refused
// once their bytes past their floors reach TotalBytes − ReservedBytes,
// and another owner's change within its floor is still taken.
func TestOrphanChangesFairAcrossWriters(t *testing.T) {
	const size = 10_000 // an orphan change is ≈ 10.1 KB
	l := repo.WaitLimits{WriterBytes: 55_000, TotalBytes: 120_000, FloorBytes: 15_000, ReservedBytes: 60_000}
	ep, adapter, _ := openEndpointRepo(t, relaysync.DefaultOptions(), repo.DefaultOptions().WithActorBinding(true).WithWaitLimits(l))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync"
	// orphans sends up to n orphan changes to a playlist user owns, each
	// once the last was taken, and reports whether one was refused (the
	// last sent: a session answers only a few refusals per document).
	orphans := func(user model.UserID, seed, n int) bool {
		t.Helper()
		doc := automerge.New()
		t.Cleanup(func() { doc.Close() })
		if _, err := docs.CreatePlaylist(doc, user, "mine", docs.DefaultOptions()); err != nil {
			t.Fatal(err)
		}
		id, err := docs.NewDocumentID(strings.NewReader(fmt.Sprintf("%016d", seed)))
		if err != nil {
			t.Fatal(err)
		}
		if m, err := syncUntilQuiet(t, dial(t, url, user), id, doc, string(user)+"-dev"); err != nil || m != nil {
			t.Fatalf("%s upload: %v %+v", user, err, m)
		}
		f := followDoc(t, url, user, id)
		for range n {
			before := adapter.R.Waiting(user)
			if err := f.conn.Send(t.Context(), orphanMessage(t, id, doc, size)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
		wait:
			for {
				select {
				case m, open := <-f.in:
					if !open {
						t.Fatal("connection closed")
					}
					if m.Type == wire.TypeError {
						if !strings.Contains(m.Message, "across documents") {
							t.Fatalf("%s: error %q, want the limit across documents", user, m.Message)
						}
						return true
					}
				case <-time.After(5 * time.Millisecond):
					if adapter.R.Waiting(user) > before {
						break wait
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the change was neither taken nor refused within 10 s", user)
					}
				}
			}
		}
		return false
	}
	refused := 0
	for i, u := range []model.UserID{"heavy0", "heavy1", "heavy2"} {
		if orphans(u, i, 5) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no heavy writer was refused")
	}
	if orphans("light", 9, 1) {
		t.Fatalf("a writer within its floor was refused (%d bytes waiting in all)", adapter.R.Waiting(""))
	}
	if st := adapter.R.WaitStats(); st.Bytes > l.TotalBytes || st.Holders != 4 {
		t.Fatalf("waiting %+v: want at most %d bytes, held by 4 writers", st, l.TotalBytes)
	}
}
