package repo

import (
	"context"
	"sync/atomic"

	"github.com/automerge/automerge-go"
)

// revSeq numbers document contents process-wide: every Handle.rev is
// drawn from it, so a revision is never reused, even by another document
// or after an unload.
var revSeq atomic.Uint64

// setContent records the document's heads after its content was loaded
// or changed, and gives it a new revision and a new ACL revision. Every
// place that replaces or changes h.doc calls it (or setContentACLKept);
// Handle.Read callbacks may not change the document. Caller holds h.mu.
func (h *Handle) setContent(heads []automerge.ChangeHash) {
	h.heads = heads
	h.rev = revSeq.Add(1)
	h.aclRev = h.rev
}

// setContentACLKept is setContent for a change that provably left every
// docs.ACLFields value as it was: changes that passed the document's ACL
// check (Incoming.CheckACL), and neutral batches (neutral.go), which
// leave every docs.RecordFields value as it was. The content revision
// moves, the ACL revision stays. Caller holds h.mu.
func (h *Handle) setContentACLKept(heads []automerge.ChangeHash) {
	h.heads = heads
	h.rev = revSeq.Add(1)
}

// quietMark records that peer's sync state ss generated no message at
// document revision rev: automerge's generation is a function of the
// document and the sync state only, and generating nothing leaves the
// sync state as it was, so while neither changes there is still nothing
// to send.
type quietMark struct {
	ss  peerSync
	rev uint64
}

// quietFor reports whether generating a message for peer with ss would
// produce nothing again. Caller holds h.mu.
func (h *Handle) quietFor(peer PeerID, ss peerSync) bool {
	q, ok := h.quiet[peer]
	return ok && q.ss == ss && q.rev == h.rev
}

// markQuiet records that ss generated nothing at the current revision.
// Caller holds h.mu.
func (h *Handle) markQuiet(peer PeerID, ss peerSync) {
	if h.quiet == nil {
		h.quiet = map[PeerID]quietMark{}
	}
	h.quiet[peer] = quietMark{ss: ss, rev: h.rev}
}

// ReadAt is Read that also passes the document's content revision:
// it changes whenever the content changes (a local change, a sync
// message adding changes, a reload) and is never reused, so a value
// computed from the document can be cached under it and reused while
// the revision stays, without reading the document again.
func (h *Handle) ReadAt(fn func(d *automerge.Doc, rev uint64) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(context.Background()); err != nil {
		return err
	}
	d, err := h.current()
	if err != nil {
		return err
	}
	return fn(d, h.rev)
}

// ReadACLAt is Read that also passes the document's ACL revision: it
// changes whenever a value of docs.ACLFields (owner, collaborators,
// public, type) may have changed — every content change except changes
// that passed the collaborators' ACL check (Incoming.CheckACL), which
// proves those fields unchanged, and neutral batches (docs.Neutral
// under the document's ACL record, judged with the Go sync states
// only), which prove every docs.RecordFields value unchanged — and is
// never reused (it is drawn from the same sequence as the content
// revision). A value computed from the ACL fields alone (a session's
// access decision) can be cached under it: an entry edit to a shared
// playlist, by its owner or a collaborator, then costs its followers'
// sessions no access evaluation. fn reads the ACL fields only: the
// document passed may lack neutral changes the handle holds (recordDoc),
// and its heads are then older than Heads'.
func (h *Handle) ReadACLAt(fn func(d *automerge.Doc, aclRev uint64) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loaded(context.Background()); err != nil {
		return err
	}
	return fn(h.recordDoc(), h.aclRev)
}
