package repo

import (
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/wire"
)

// ErrDocumentFull is returned (wrapped in ErrRejected) for a message
// whose changes would take a document's history past WithMaxDocBytes.
var ErrDocumentFull = errors.New("repo: document history at its size cap")

// Quota accounts the bytes of change history each authenticated writer
// adds to the repository (WithQuota; the relay's per-user storage
// quota, relaysync.Quota). Its methods may be called concurrently.
type Quota interface {
	// Reserve is called, under the document's lock, before a message of
	// user that carries changes is applied; n is the message's size,
	// which bounds the bytes of changes it adds (but for changes held
	// back from user's earlier messages that it releases). An error
	// refuses the message's changes (the error returned wraps
	// ErrRejected and it); otherwise n counts as user's until Settle.
	Reserve(user model.UserID, n int) error
	// Charge runs in the store transaction that stores the changes
	// user's messages added (every such message of one group commit),
	// with added, their bytes of change chunks summed: it counts them
	// durably for user. It runs at most once per user per transaction;
	// the Settle calls of every earlier transaction's messages have run
	// by then and none of this one's has, so an implementation may take
	// the stored count from what Settle told it rather than read tx. It
	// may run again for the same messages (a retried or split batch),
	// each time in a new transaction.
	Charge(tx store.Txn, user model.UserID, added int) error
	// Settle ends the reservation of n once the message's write is
	// committed (err nil: added bytes were charged) or failed, or at
	// once when the message stored no change (added 0).
	Settle(user model.UserID, n, added int, err error)
}

// reservation is a message's Quota reservation (reserve), settled
// exactly once.
type reservation struct {
	q      Quota
	user   model.UserID
	n      int
	before int // the graph's bytes before the message
	added  int
}

// settle ends r (nil r: nothing reserved) with the outcome of its write.
func (r *reservation) settle(err error) {
	if r != nil {
		r.q.Settle(r.user, r.n, r.added, err)
	}
}

// reserve checks a message of an authenticated writer that carries
// changes against WithMaxDocBytes and reserves its size with
// WithQuota; it returns the reservation (nil when the quota does not
// apply) or an error wrapping ErrRejected that refuses the message's
// changes. A message whose change count does not parse is checked too:
// receiving it decides. Caller holds h.mu with the document loaded.
func (h *Handle) reserve(msg []byte, in Incoming) (*reservation, error) {
	o := h.repo.opts
	if in.Writer == "" || !o.goSync || o.quota == nil && o.maxDocBytes <= 0 {
		return nil, nil
	}
	if n, err := wire.SyncChangeCount(msg); err == nil && n == 0 {
		return nil, nil
	}
	g, err := h.graph()
	if err != nil {
		return nil, err
	}
	if o.maxDocBytes > 0 && g.Bytes()+len(msg) > o.maxDocBytes {
		return nil, fmt.Errorf("%w: %w: document %s holds %d bytes of change history, at most %d", ErrRejected, ErrDocumentFull, h.id, g.Bytes(), o.maxDocBytes)
	}
	if o.quota == nil {
		return nil, nil
	}
	if err := o.quota.Reserve(in.Writer, len(msg)); err != nil {
		return nil, fmt.Errorf("%w: document %s: %w", ErrRejected, h.id, err)
	}
	return &reservation{q: o.quota, user: in.Writer, n: len(msg), before: g.Bytes()}, nil
}
