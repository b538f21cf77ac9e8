package repo

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
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
				id, dev := devCopy(t, relay, "alice")
				ids, devs = append(ids, id), append(devs, dev)
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
					last := orphanChange(t, dev, "b")
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

// TestWaitingFair: a few writers at their own limit used to fill the
// bytes all writers may keep waiting, after which any other writer's
// message that would leave a change waiting was refused. Now the bytes
// writers hold past their floors (WaitLimits.FloorBytes) may take only
// TotalBytes − ReservedBytes: the heavy writers are refused first and a
// writer within its floor is still admitted, on real documents whose
// changes automerge queues.
func TestWaitingFair(t *testing.T) {
	ctx := context.Background()
	const pad = 2000 // an orphan change is ≈ 2,050 bytes
	l := WaitLimits{WriterBytes: 10_000, TotalBytes: 24_000, FloorBytes: 2_500, ReservedBytes: 12_000}
	relay, err := Open(ctx, store.NewMemory(), testOptions(94).WithWaitLimits(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	// orphan sends, as writer, a change to a new document of its own
	// whose dependency is left out, and returns the refusal.
	type writerDoc struct {
		id  docs.DocumentID
		dev *automerge.Doc
	}
	mine := map[model.UserID]writerDoc{}
	orphan := func(writer model.UserID) error {
		t.Helper()
		w, ok := mine[writer]
		if !ok {
			w.id, w.dev = devCopy(t, relay, writer)
			mine[writer] = w
		}
		last := orphanChange(t, w.dev, strings.Repeat("x", pad))
		err := relay.ReceiveSyncMessageWith(ctx, "dev", w.id, (&msync.Message{Raw: [][]byte{last}}).Encode(), Incoming{Writer: writer, Owner: true})
		if err != nil && (!errors.Is(err, ErrBadMessage) || !strings.Contains(err.Error(), "across documents")) {
			t.Fatal(err)
		}
		return err
	}
	refused := 0
	for _, w := range []model.UserID{"heavy0", "heavy1", "heavy2"} {
		for range 5 {
			if orphan(w) != nil {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Fatal("no heavy writer was refused")
	}
	if err := orphan("light"); err != nil {
		t.Fatalf("a writer within its floor was refused: %v", err)
	}
	st := relay.WaitStats()
	if st.Bytes > l.TotalBytes || st.Holders != 4 || st.Changes < 4 {
		t.Fatalf("waiting %+v: want at most %d bytes, 4 writers holding some", st, l.TotalBytes)
	}
	past := int64(0)
	for _, w := range []model.UserID{"heavy0", "heavy1", "heavy2", "light"} {
		past += max(relay.Waiting(w)-l.FloorBytes, 0)
	}
	if past > l.TotalBytes-l.ReservedBytes {
		t.Fatalf("%d bytes past writers' floors, limit %d", past, l.TotalBytes-l.ReservedBytes)
	}
}

// devCopy creates a playlist of owner in relay and returns its id and a
// device's copy of it (closed when the test ends).
func devCopy(t *testing.T, relay *Repo, owner model.UserID) (docs.DocumentID, *automerge.Doc) {
	t.Helper()
	h, err := relay.CreatePlaylist(context.Background(), owner, "p")
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	dev, err := h.doc.Fork()
	h.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return h.ID(), dev
}

// orphanChange commits two changes to dev, setting "junk" to "a" and
// then to v, and returns the chunk of the second: sent alone it waits
// for the first, which never comes.
func orphanChange(t *testing.T, dev *automerge.Doc, v string) []byte {
	t.Helper()
	var last []byte
	for _, v := range []string{"a", v} {
		if err := dev.RootMap().Set("junk", v); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.Commit("orphan"); err != nil {
			t.Fatal(err)
		}
		c, err := dev.Change(dev.Heads()[0])
		if err != nil {
			t.Fatal(err)
		}
		last = c.Save()
	}
	return last
}
