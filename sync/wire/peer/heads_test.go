package peer_test

import (
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestSyncMessageHeads reads the sender's heads from encoded sync
// messages (none, one, two concurrent heads) and rejects what is not one.
func TestSyncMessageHeads(t *testing.T) {
	doc := automerge.New()
	msg := func(d *automerge.Doc) []byte {
		m, ok := automerge.NewSyncState(d).GenerateMessage()
		if !ok {
			t.Fatal("no sync message")
		}
		return m.Bytes()
	}
	check := func(name string, d *automerge.Doc) {
		t.Helper()
		got, ok := peer.SyncMessageHeads(msg(d))
		if !ok || !slices.Equal(got, d.Heads()) {
			t.Fatalf("%s: heads %v (ok %v), want %v", name, got, ok, d.Heads())
		}
	}
	check("empty document", doc)
	if err := doc.RootMap().Set("a", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("a"); err != nil {
		t.Fatal(err)
	}
	check("one head", doc)
	other, err := doc.Fork()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []*automerge.Doc{doc, other} {
		if err := d.RootMap().Set("b", int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit("b"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := doc.Merge(other); err != nil {
		t.Fatal(err)
	}
	if len(doc.Heads()) != 2 {
		t.Fatalf("merged heads %v", doc.Heads())
	}
	check("two heads", doc)
	for _, bad := range [][]byte{nil, {0x42}, {0x43, 0}, {0x42, 2, 1, 2, 3}} {
		if h, ok := peer.SyncMessageHeads(bad); ok {
			t.Fatalf("SyncMessageHeads(%x) = %v, true", bad, h)
		}
	}
}
