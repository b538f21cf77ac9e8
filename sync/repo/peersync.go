package repo

import (
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// peerSync is the sync state with one peer for one document: msync's
// Go implementation of automerge's protocol over the document's change
// graph (the default), or automerge's own (WithGoSync(false)). Both
// produce the same bytes for the same exchange (msync's
// TestLockstepWithAutomerge) and persist the same format. Caller holds
// h.mu for every method.
type peerSync interface {
	// generate returns the next message, at most max bytes (changes
	// that do not fit are left for a later message; one that cannot fit
	// is an error wrapping wire.ErrSyncTooLarge), or ok == false when
	// there is nothing to send.
	generate(h *Handle, max int) (msg []byte, ok bool, err error)
	// receive applies msg and returns the document's heads after it
	// (sorted; h.heads is not updated). A message that does not decode
	// or whose changes automerge refuses returns an error; changes
	// applied before the error are reflected in the heads returned.
	// lazy, when not nil, is the neutral base of a message from a writer
	// no check applies to, or from a collaborator not yet checked
	// (lazy.checked): the Go sync states then add a neutral batch to the
	// graph alone (Handle.lazyFresh) and report neutral; a collaborator's
	// message that is not such a batch returns errNeedsCheck with
	// nothing applied and the state unchanged. v says where the message
	// comes from (see via).
	receive(h *Handle, msg []byte, lazy *neutralBase, v via) (after []automerge.ChangeHash, neutral bool, err error)
	// save returns the persisted form (automerge's: the shared heads).
	save() []byte
	close()
}

// via is what peerSync.receive knows of a message's sender.
type via struct {
	// from, when not nil, is the message's writer for the actor binding
	// (actors.go): a change under an actor bound to another user
	// returns errNeedsCheck with nothing applied, and from.bind collects
	// the actors to bind.
	from *writer
	// writer is the message's authenticated writer (Incoming.Writer),
	// whose budget of waiting changes (waitBook) pays for the changes
	// automerge queues; empty: the repository's total alone.
	writer model.UserID
	// guard runs msync's guard before automerge sees the changes with
	// automerge's sync states too (Incoming.Guard); the Go sync states
	// always do.
	guard bool
}

// newPeerSync returns a fresh sync state, or the persisted raw one
// (nil: none).
func (h *Handle) newPeerSync(raw []byte) (peerSync, error) {
	if h.repo.opts.goSync {
		if raw == nil {
			return &goSync{st: &msync.State{}}, nil
		}
		st, err := msync.DecodeState(raw)
		if err != nil {
			return nil, err
		}
		return &goSync{st: st}, nil
	}
	if raw == nil {
		return &amSync{ss: automerge.NewSyncState(h.doc)}, nil
	}
	ss, err := automerge.LoadSyncState(h.doc, raw)
	if err != nil {
		return nil, err
	}
	return &amSync{ss: ss}, nil
}

// amSync is automerge's sync state.
type amSync struct {
	ss *automerge.SyncState
	// cut says the last message automerge generated was cut to fit
	// (wire.FitSync) or not sent at all: automerge recorded as sent the
	// changes left out, and would not send them again in this session.
	// The state starts over from its persisted form (the shared heads)
	// before the peer's next message, which then asks for them.
	cut bool
}

func (a *amSync) generate(h *Handle, max int) ([]byte, bool, error) {
	sm, ok := a.ss.GenerateMessage()
	if !ok {
		return nil, false, nil
	}
	raw := sm.Bytes()
	sm.Close()
	out, left, err := wire.FitSync(raw, max)
	if err != nil || left > 0 {
		a.cut = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("repo: generate for %s: %w", h.id, err)
	}
	return out, true, nil
}

// restart replaces the state by its persisted form: the shared heads,
// without what automerge recorded as sent. Caller holds h.mu.
func (a *amSync) restart(h *Handle) error {
	ss, err := automerge.LoadSyncState(h.doc, a.ss.Save())
	if err != nil {
		return fmt.Errorf("repo: restart sync state of %s: %w", h.id, err)
	}
	a.ss.Close()
	a.ss, a.cut = ss, false
	return nil
}

func (a *amSync) receive(h *Handle, msg []byte, lazy *neutralBase, v via) ([]automerge.ChangeHash, bool, error) {
	if lazy != nil && lazy.checked {
		// No lazy path here: a collaborator's message is checked first.
		return h.doc.Heads(), false, errNeedsCheck
	}
	if a.cut {
		if err := a.restart(h); err != nil {
			return h.doc.Heads(), false, err
		}
	}
	if v.guard || v.from != nil {
		if err := h.guardedApply(msg, v); err != nil {
			return h.doc.Heads(), false, err
		}
	}
	sm, err := a.ss.ReceiveMessage(msg)
	sm.Close()
	return h.doc.Heads(), false, err
}

// guardedApply applies the changes of msg, from a peer automerge's sync
// state is not trusted with (Incoming.Guard) or whose actors are bound
// (v.from), as the Go sync states do (msync.ApplyTo: Graph.Guard first,
// over the document's change graph, built on first use and dropped on
// unload); automerge's sync state then reads the message, finding its
// changes applied or queued, those queued charged to v.writer's budget
// (waitBook). A message Guard refuses returns its error with nothing
// applied; one with a change under another user's actor returns
// errNeedsCheck with nothing applied (checkWrite then holds it back).
// Caller holds h.mu.
func (h *Handle) guardedApply(msg []byte, v via) error {
	m, err := msync.DecodeMessage(msg)
	if err != nil || len(m.Changes) == 0 {
		return err
	}
	g, err := h.graph()
	if err != nil {
		return err
	}
	if err := h.admit(v.from, g, m); err != nil {
		return err
	}
	var heads []automerge.ChangeHash
	return msync.ApplyCharged(h.doc, g, msg, &heads, h.waitBudget(v.writer))(m)
}

func (a *amSync) save() []byte { return a.ss.Save() }
func (a *amSync) close()       { a.ss.Close() }

// goSync is msync's sync state over the handle's change graph.
type goSync struct{ st *msync.State }

// graph returns the document's change graph, brought up to date with
// its heads first (built on first use, rebuilt when the document was
// replaced). Caller holds h.mu.
func (h *Handle) graph() (*msync.Graph, error) {
	if h.behind != 0 {
		// The graph is ahead of the document: it is the index, and the
		// document is never read to rebuild it.
		return h.changes, nil
	}
	g, err := msync.CatchUp(h.changes, h.doc, h.heads)
	if err != nil {
		return nil, fmt.Errorf("repo: index %s: %w", h.id, err)
	}
	if g != h.changes {
		if h.changes != nil {
			// Indexed anew: the document was replaced.
			h.changes.Release()
		}
		// A new graph is built on the document's first use after a
		// load (unless the load built it: setGraph), a reload, a reset
		// to an empty placeholder or SetAside (whose snapshot stores
		// the new document), before any change is made to it: every
		// change ApplyTo or Handle.Change adds is made with the graph
		// built, and persisted (or, applied by a message that then
		// failed, taken by the next persist from the graph that
		// exists). All its changes are stored.
		h.graphSaved = int32(g.Len())
		g.SpillTo(h.repo.opts.spill)
		g.SetContentCheck(h.repo.opts.content)
		g.SetEntryCheck(h.repo.opts.entryCheck)
	}
	h.changes = g
	return g, nil
}

// setGraph installs g, the change graph of the document just loaded
// from the store (nil: none built), every change of which is stored.
// Caller holds h.mu or owns h.
func (h *Handle) setGraph(g *msync.Graph) {
	if h.changes != g {
		h.dropGraph()
	}
	h.changes = g
	if g != nil {
		h.graphSaved = int32(g.Len())
		g.SpillTo(h.repo.opts.spill)
		g.SetContentCheck(h.repo.opts.content)
		g.SetEntryCheck(h.repo.opts.entryCheck)
	}
}

func (s *goSync) generate(h *Handle, max int) ([]byte, bool, error) {
	g, err := h.graph()
	if err != nil {
		return nil, false, err
	}
	m, err := msync.GenerateWithin(g, s.st, max)
	if err != nil {
		return nil, false, fmt.Errorf("repo: generate for %s: %w", h.id, err)
	}
	if m == nil {
		return nil, false, nil
	}
	return m.Encode(), true, nil
}

func (s *goSync) receive(h *Handle, msg []byte, lazy *neutralBase, v via) ([]automerge.ChangeHash, bool, error) {
	g, err := h.graph()
	if err != nil {
		return h.heads, false, err
	}
	m, err := msync.DecodeMessage(msg)
	if err != nil {
		return h.heads, false, err
	}
	var after []automerge.ChangeHash
	var doc *automerge.Doc
	neutral := false
	// Receive calls apply only for a message with changes: heads and
	// Bloom filters never touch the document.
	apply := func(m *msync.Message) error {
		if err := h.admit(v.from, g, m); err != nil {
			return err
		}
		fresh, ok, err := h.lazyFresh(g, m, msg, lazy)
		if err != nil {
			return err
		}
		if ok {
			neutral = true
			if err := msync.ApplyStored(g, fresh, &after)(m); err != nil {
				return err
			}
			h.behind += int32(len(fresh))
			return nil
		}
		if lazy != nil && lazy.checked {
			return errNeedsCheck
		}
		if doc, err = h.current(); err != nil {
			return err
		}
		return msync.ApplyCharged(doc, g, msg, &after, h.waitBudget(v.writer))(m)
	}
	if err := msync.Receive(g, s.st, m, apply); err != nil {
		if doc == nil {
			return h.heads, false, err
		}
		// Part of the changes may have been applied: read the heads
		// from the document; the graph catches up on next use.
		return doc.Heads(), false, err
	}
	msync.AskForSkipped(g, s.st, m)
	if after == nil {
		after = h.heads
	}
	return slices.Clone(after), neutral, nil
}

func (s *goSync) save() []byte { return s.st.Encode() }
func (s *goSync) close()       {}
