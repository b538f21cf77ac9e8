package repo

import (
	"errors"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// neutralBase is what a batch of changes is judged against once
// applied: the document's ACL record (docs.ACLRecord) before the batch,
// and the change graph with its length then, whose later entries are the
// batch's changes.
type neutralBase struct {
	rec *docs.ACLRecord // nil: no record kept, the batch is not neutral
	g   *msync.Graph
	n   int
	// checked: the sender is a collaborator (Incoming.CheckACL) whose
	// message has not been through the ACL check. A neutral batch needs
	// none (docs.Neutral holds every operation away from the fields
	// docs.ACLFields names); anything else is not applied but declined
	// with errNeedsCheck, before the sync state or the graph changes.
	checked bool
}

// errNeedsCheck is goSync.receive's answer to a collaborator's message
// the lazy path does not take (neutralBase.checked): nothing was applied
// and the sync state is as it was, so Handle.receive runs the ACL check
// and receives the message again.
var errNeedsCheck = errors.New("repo: message needs the write checks")

// beforeChanges returns the base of the next batch of changes: the kept
// record when it describes the document at its heads and the change
// graph mirrors the document. Without the Go sync states (devices:
// WithGoSync(false)) there is no graph to read a batch's changes from,
// and no base. Caller holds h.mu with the document loaded.
func (h *Handle) beforeChanges() neutralBase {
	if !h.repo.opts.goSync {
		return neutralBase{}
	}
	rec := h.acl.Kept(h.heads)
	if rec == nil || !h.graphMirrors() {
		return neutralBase{}
	}
	return neutralBase{rec: rec, g: h.changes, n: h.changes.Len()}
}

// neutral reports whether the batch applied since b left the document at
// heads after with every change neutral under b's record
// (docs.Neutral): the graph is still b's and mirrors the document, so
// its entries past b.n are exactly the batch (held-back changes
// released with it, changes automerge had queued and applied with it).
// A change that does not decode is not neutral. Caller holds h.mu.
func (h *Handle) neutral(b neutralBase, after []automerge.ChangeHash) bool {
	if b.rec == nil || h.changes != b.g || !slices.Equal(b.g.Heads(), after) {
		return false
	}
	for i := b.n; i < b.g.Len(); i++ {
		raw, err := b.g.RawAt(i)
		if err != nil {
			return false
		}
		ops, err := docs.DecodeChangeOps(raw)
		if err != nil || !docs.Neutral(ops, b.rec) {
			return false
		}
	}
	return true
}

// changed records the document's heads after a batch of changes applied
// since b (setContent). known says the batch was judged neutral already
// (the lazy receive path, Handle.lazyFresh). A neutral batch keeps the ACL revision and the
// record (now describing the heads after), and returns true: the facts,
// read from the same fields, are unchanged too. Otherwise the ACL
// revision moves unless aclKept (changes that passed the collaborators'
// ACL check), and with the Go sync states the record is read anew for
// the next batch. Devices (WithGoSync(false)) never judge a batch
// neutral and read no record here; their ACL check reads it when the
// heads are not those it expects. Caller holds h.mu.
func (h *Handle) changed(b neutralBase, after []automerge.ChangeHash, aclKept, known bool) (neutral bool) {
	after = slices.Clone(after)
	neutral = known || h.neutral(b, after)
	if neutral || aclKept {
		h.setContentACLKept(after)
	} else {
		h.setContent(after)
	}
	if neutral {
		h.acl.Keep(after, b.rec)
		h.repo.neutralBatches.Add(1)
		return true
	}
	if h.repo.opts.goSync {
		// A collaborator's checked batch left the check expecting these
		// heads with the record from before (its ACL fields right, a
		// renamed name wrong): drop it before reading.
		h.acl.Reset()
		d, err := h.current()
		if err == nil {
			_, err = h.acl.Record(d, after)
		}
		if err != nil {
			h.repo.opts.logger.Warn("repo: read acl record", "doc", h.id.String(), "err", err)
		}
	}
	return false
}
