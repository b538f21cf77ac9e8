package relaysync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestDocumentsPerUserLimit: a user may create at most the configured
// number of documents on the relay; the next one is refused with an
// error naming the limit and is not stored. Another user is unaffected.
func TestDocumentsPerUserLimit(t *testing.T) {
	url, repo := openRelay(t, relaysync.DefaultOptions().WithMaxDocsPerUser(2))
	mk := func(owner string, i int) (docs.DocumentID, *automerge.Doc) {
		doc := automerge.New()
		if _, err := docs.CreatePlaylist(doc, model.UserID(owner), fmt.Sprint("p", i), docs.DefaultOptions()); err != nil {
			t.Fatal(err)
		}
		id, err := docs.NewDocumentID(strings.NewReader(fmt.Sprintf("%-16s", fmt.Sprint(owner, i))))
		if err != nil {
			t.Fatal(err)
		}
		return id, doc
	}
	stored := func(id docs.DocumentID) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if ok, err := repo.Has(t.Context(), id); err != nil || ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("relay never stored %s", id)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// One connection per document: syncUntilQuiet's read timeout closes
	// the WebSocket.
	for i := range 2 {
		id, doc := mk("alice", i)
		if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev"); err != nil || m != nil {
			t.Fatalf("doc %d: %v %+v", i, err, m)
		}
		stored(id)
	}
	id, doc := mk("alice", 2)
	m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev")
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || m.Type != wire.TypeError || !strings.Contains(m.Message, "limit") {
		t.Fatalf("third document: got %+v, want a limit error", m)
	}
	if ok, err := repo.Has(t.Context(), id); err != nil || ok {
		t.Fatalf("relay stored the document over the limit (%v)", err)
	}
	// The cap is per user: bob may create his own playlist.
	bid, bdoc := mk("bob", 0)
	if m, err := syncUntilQuiet(t, dial(t, url, "bob"), bid, bdoc, "bob-dev"); err != nil || m != nil {
		t.Fatalf("bob: %v %+v", err, m)
	}
	stored(bid)
}
