package msync_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
)

// TestWaitBudget: MaxQueuedBytes bounds one document, so one writer
// could keep that much waiting in each of its documents. ApplyCharged
// charges the changes automerge queues to the writer's budget, whose
// parent is the budget of all writers, and refuses a message past
// either (ErrWaitBudget, matching ErrQueueFull) with nothing applied or
// charged. A change's bytes return to its budget when its dependencies
// arrive or its graph is released, so the budgets end at zero.
func TestWaitBudget(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, ch := b.edits(t, 6, 1)
	three := 0
	for _, c := range ch[1:4] {
		three += len(c)
	}
	type step struct {
		doc     int
		writer  string
		chunks  [][]byte
		refused bool
	}
	for _, tc := range []struct {
		name          string
		writer, total int64
		steps         []step
	}{
		{"one writer across documents", int64(three), 1 << 30, []step{
			{0, "a", ch[1:4], false},
			{1, "a", ch[1:4], true},
			{1, "b", ch[1:4], false},
		}},
		{"all writers", 1 << 30, int64(three), []step{
			{0, "a", ch[1:4], false},
			{1, "b", ch[1:2], true},
		}},
		{"dependencies arrived give the bytes back", int64(three), 1 << 30, []step{
			{0, "a", ch[1:4], false},
			{0, "a", ch[:1], false},
			{1, "a", ch[1:4], false},
			{2, "a", ch[4:5], true},
		}},
		{"resent queued changes count once", int64(three), 1 << 30, []step{
			{0, "a", ch[1:4], false},
			{0, "a", ch[1:4], false},
		}},
		{"applied changes cost nothing", 1, 1, []step{
			{0, "a", ch, false},
			{1, "a", ch[:2], false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := msync.NewWaitBudget(tc.total, nil)
			writers := map[string]*msync.WaitBudget{}
			var graphs []*msync.Graph
			var docs []*automerge.Doc
			var states []*msync.State
			for range 3 {
				doc, g := b.relay(t)
				docs, graphs, states = append(docs, doc), append(graphs, g), append(states, &msync.State{})
			}
			for i, s := range tc.steps {
				w := writers[s.writer]
				if w == nil {
					w = msync.NewWaitBudget(tc.writer, total)
					writers[s.writer] = w
				}
				msg := message(s.chunks...)
				m, err := msync.DecodeMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				doc, g := docs[s.doc], graphs[s.doc]
				before, used := slices.Clone(doc.Heads()), total.Used()
				var heads []automerge.ChangeHash
				err = msync.Receive(g, states[s.doc], m, msync.ApplyCharged(doc, g, msg, &heads, func() *msync.WaitBudget { return w }))
				if got := err != nil; got != s.refused {
					t.Fatalf("step %d: error %v, want refused %v", i, err, s.refused)
				}
				if err != nil {
					if !errors.Is(err, msync.ErrWaitBudget) || !errors.Is(err, msync.ErrQueueFull) {
						t.Fatalf("step %d: error %v does not match ErrWaitBudget and ErrQueueFull", i, err)
					}
					if !slices.Equal(doc.Heads(), before) || total.Used() != used {
						t.Fatalf("step %d: refused message changed the document or the budget (%d → %d bytes)", i, used, total.Used())
					}
				}
				if total.Used() > tc.total {
					t.Fatalf("step %d: %d bytes waiting, limit %d", i, total.Used(), tc.total)
				}
				sum := int64(0)
				for _, w := range writers {
					if w.Used() > tc.writer {
						t.Fatalf("step %d: %d bytes waiting for a writer, limit %d", i, w.Used(), tc.writer)
					}
					sum += w.Used()
				}
				if sum != total.Used() {
					t.Fatalf("step %d: writers' %d bytes, total %d", i, sum, total.Used())
				}
			}
			for _, g := range graphs {
				g.Release()
			}
			if total.Used() != 0 {
				t.Fatalf("%d bytes waiting after the graphs were released", total.Used())
			}
			for name, w := range writers {
				if w.Used() != 0 {
					t.Fatalf("writer %s: %d bytes waiting after the graphs were released", name, w.Used())
				}
			}
		})
	}
}
