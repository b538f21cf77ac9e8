package repo

import (
	"context"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// TestWaitingAccounting: the bytes of the changes automerge queues for
// missing dependencies are charged to the writer's budget across
// documents (waitBook) and return to it exactly when the document drops
// them: its dependencies arrive, or it is unloaded (automerge's queue
// goes with the document; the reload holds only stored changes). After
// unloads, reloads and more changes the totals still match what waits,
// and end at zero.
func TestWaitingAccounting(t *testing.T) {
	type step struct {
		op  string // "orphan": a change whose dependency is left out; "deps": the document's whole history; "unload"
		doc int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"dependencies arrive", []step{{"orphan", 0}, {"orphan", 1}, {"orphan", 0}, {"deps", 0}, {"deps", 1}}},
		{"unloaded", []step{{"orphan", 0}, {"orphan", 1}, {"unload", 0}, {"unload", 1}}},
		{"reloaded and queued again", []step{{"orphan", 0}, {"unload", 0}, {"orphan", 0}, {"orphan", 1}, {"unload", 0}, {"orphan", 0}, {"deps", 0}, {"unload", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			relay := openRepo(t, store.NewMemory(), 93)
			var ids []docs.DocumentID
			var devs []*automerge.Doc
			for range 2 {
				h, err := relay.CreatePlaylist(ctx, "alice", "p")
				if err != nil {
					t.Fatal(err)
				}
				h.mu.Lock()
				dev, err := h.doc.Fork()
				h.mu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				defer dev.Close()
				ids, devs = append(ids, h.ID()), append(devs, dev)
			}
			in := Incoming{Writer: "alice", Owner: true}
			send := func(i int, chunks ...[]byte) {
				t.Helper()
				msg := (&msync.Message{Raw: chunks}).Encode()
				if err := relay.ReceiveSyncMessageWith(ctx, "dev", ids[i], msg, in); err != nil {
					t.Fatal(err)
				}
			}
			waiting := make([]int64, len(ids))
			for n, s := range tc.steps {
				dev := devs[s.doc]
				switch s.op {
				case "orphan":
					var last []byte
					for _, v := range []string{"a", "b"} {
						if err := dev.RootMap().Set("junk", v); err != nil {
							t.Fatal(err)
						}
						if _, err := dev.Commit(v); err != nil {
							t.Fatal(err)
						}
						c, err := dev.Change(dev.Heads()[0])
						if err != nil {
							t.Fatal(err)
						}
						last = c.Save()
					}
					send(s.doc, last)
					waiting[s.doc] += int64(len(last))
				case "deps":
					cs, err := dev.Changes()
					if err != nil {
						t.Fatal(err)
					}
					var raws [][]byte
					for _, c := range cs {
						raws = append(raws, c.Save())
					}
					automerge.CloseChanges(cs)
					send(s.doc, raws...)
					waiting[s.doc] = 0
				case "unload":
					h := mustGet(t, relay, ids[s.doc])
					waitFor(t, "the document unloaded", func() bool { return h.tryUnload(true) })
					waiting[s.doc] = 0
				}
				want := waiting[0] + waiting[1]
				if got, all := relay.Waiting("alice"), relay.Waiting(""); got != want || all != want {
					t.Fatalf("step %d (%s %d): alice %d bytes waiting, all %d, want %d", n, s.op, s.doc, got, all, want)
				}
			}
			for _, id := range ids {
				h := mustGet(t, relay, id)
				waitFor(t, "the document unloaded", func() bool { return h.tryUnload(true) })
			}
			if got := relay.Waiting(""); got != 0 {
				t.Fatalf("%d bytes waiting after every document was unloaded", got)
			}
		})
	}
}
