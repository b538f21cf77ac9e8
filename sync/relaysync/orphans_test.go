package relaysync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

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
