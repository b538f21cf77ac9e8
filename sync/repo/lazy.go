package repo

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// ErrCatchUp is returned, wrapped, by every use of a document whose
// automerge copy could not apply changes its change graph holds (see
// Handle.current): the graph and the store hold a change automerge
// refuses, which the lazy receive path accepted.
var ErrCatchUp = errors.New("repo: document cannot apply its stored changes")

// stuckBehind is Handle.behind once a catch-up failed (current).
const stuckBehind = -1

// current returns the automerge document with every change of the graph
// applied. A neutral batch from an unchecked writer or a collaborator
// goes to the graph and the store alone (lazyFresh), leaving the
// document h.behind changes
// short; current applies them, in the graph's history order (each after
// its dependencies, as automerge's LoadIncremental needs), and checks
// that the document's heads are then the graph's. When that fails the
// handle is stuck: the error (ErrCatchUp) is returned now and by every
// later call, and the lazy path takes no more changes. Every reader and
// writer of the document's content goes through it; recordDoc is the
// exception for the ACL record's fields, compactionDoc for a caught-up
// copy. Caller holds h.mu with the
// document loaded.
func (h *Handle) current() (*automerge.Doc, error) {
	if h.behind == 0 {
		return h.doc, nil
	}
	if h.behind == stuckBehind {
		return nil, fmt.Errorf("%w: %s", ErrCatchUp, h.id)
	}
	g := h.changes
	inc, err := g.AppendRaw(nil, g.Len()-int(h.behind))
	if err != nil {
		// The chunks could not be read back from the graph's spill:
		// nothing changed, and a later call tries again.
		return nil, fmt.Errorf("repo: catch up %s: %w", h.id, err)
	}
	err = h.doc.LoadIncremental(inc)
	if err == nil && !slices.Equal(h.doc.Heads(), g.Heads()) {
		err = errors.New("heads differ from the change graph's")
	}
	if err != nil {
		h.repo.opts.logger.Error("repo: catch up document", "doc", h.id.String(), "behind", h.behind, "err", err)
		h.behind = stuckBehind
		return nil, fmt.Errorf("%w: %s: %v", ErrCatchUp, h.id, err)
	}
	h.behind = 0
	return h.doc, nil
}

// recordDoc returns the automerge document for reading the fields of its
// ACL record (docs.RecordFields: the access rules' and the facts'
// fields) without applying the changes it lacks: it lags the graph only
// by changes docs.Neutral accepted under the kept record, which leave
// every one of those fields' values as it was (docs.Neutral's argument),
// so what it reads there is what the current document holds. Its heads
// are older than the handle's. Caller holds h.mu with the document
// loaded.
func (h *Handle) recordDoc() *automerge.Doc { return h.doc }

// lazyFresh decides whether the changes of m (decoded from msg) go to
// the change graph alone, without automerge applying them: base is the
// record and graph before the message when no check applies to its
// sender or its only check is the ACL check (base.checked; nil
// otherwise: other checked writers' changes, a creation), every
// change the graph lacks is one automerge would apply at once
// (Graph.Fresh: dependencies present, sequence numbers, nothing queued;
// Graph.Vouch: operations automerge cannot trip on), neutral under
// base's record, and automerge parses the message
// (msync.CheckParse, a scratch decode freed at once). It returns the
// positions of those changes in m, or ok == false when the document must
// apply the message (it is then caught up first); err is the parse's
// refusal, the error the document's own apply returns for such a
// message. Caller holds h.mu.
func (h *Handle) lazyFresh(g *msync.Graph, m *msync.Message, msg []byte, base *neutralBase) (fresh []int, ok bool, err error) {
	if base == nil || base.rec == nil || base.g != g || h.behind == stuckBehind {
		return nil, false, nil
	}
	fresh, ok = g.Fresh(m)
	if !ok || int(h.behind)+len(fresh) > math.MaxInt32 {
		return nil, false, nil
	}
	ops, ok := g.Vouch(m, fresh)
	if !ok {
		return nil, false, nil
	}
	for _, o := range ops {
		if !docs.Neutral(o, base.rec) {
			return nil, false, nil
		}
	}
	if err := msync.CheckParse(msg); err != nil {
		return nil, false, err
	}
	return fresh, true, nil
}
