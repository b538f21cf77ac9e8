package p2p

import (
	"context"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Default LAN storage quota (WithQuota): what the LAN peers of one user
// may make this device store while its node runs. They mirror what the
// relay lets one user do (relaysync.DefaultMaxDocsPerUser documents and
// relaysync.DefaultUserQuota bytes of change history).
const (
	DefaultQuotaDocs  = 1000
	DefaultQuotaBytes = 256 << 20
)

// ErrQuota is the refusal of a LAN peer's document or changes past
// WithQuota. It wraps peer.ErrLimit: the session refuses that document
// (the peer is told with an error message naming it) and goes on.
var ErrQuota = fmt.Errorf("p2p: LAN storage quota reached: %w", peer.ErrLimit)

// WithQuota bounds what the LAN peers of one user (all that user's
// devices together) may make this device store while the node runs:
// docs documents they create here, and bytes of sync messages carrying
// changes applied here, new documents' included (the message length,
// an upper bound on the change history it adds). Past either, the
// document's message is refused with ErrQuota and nothing of it is
// stored. Changes the device receives from the relay are not counted.
// A value ≤ 0 removes that bound. Default DefaultQuotaDocs,
// DefaultQuotaBytes.
func (o Options) WithQuota(docs int, bytes int64) Options {
	o.quotaDocs, o.quotaBytes = max(docs, 0), max(bytes, 0)
	return o
}

// lanQuota counts, per remote user, what LAN sessions stored.
type lanQuota struct {
	maxDocs  int
	maxBytes int64

	mu   sync.Mutex
	used map[model.UserID]*quotaUse
}

type quotaUse struct {
	docs  int
	bytes int64
}

func newLANQuota(docs int, bytes int64) *lanQuota {
	return &lanQuota{maxDocs: docs, maxBytes: bytes, used: map[model.UserID]*quotaUse{}}
}

// reserve takes docs documents and n bytes of user's quota, or returns
// ErrQuota and takes nothing; undo gives them back.
func (q *lanQuota) reserve(user model.UserID, docs int, n int64) (undo func(), err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.used[user]
	if u == nil {
		u = &quotaUse{}
		q.used[user] = u
	}
	if q.maxDocs > 0 && u.docs+docs > q.maxDocs {
		return nil, fmt.Errorf("%w: user %q created %d documents here over the LAN, at most %d", ErrQuota, user, u.docs, q.maxDocs)
	}
	if q.maxBytes > 0 && u.bytes+n > q.maxBytes {
		return nil, fmt.Errorf("%w: user %q sent %d bytes of changes here over the LAN, at most %d", ErrQuota, user, u.bytes, q.maxBytes)
	}
	u.docs += docs
	u.bytes += n
	return func() {
		q.mu.Lock()
		u.docs -= docs
		u.bytes -= n
		q.mu.Unlock()
	}, nil
}

// quotaRepo is the Repo of one LAN session: Receive and Create count
// against the remote user's quota.
type quotaRepo struct {
	peer.Repo
	q       *lanQuota
	user    model.UserID
	refused func() // counts a refusal (PeerStatus.OverQuota)
}

// changeBytes is what a sync message counts against the quota: its
// length when it carries changes, else nothing (heads, needs and Bloom
// filters store no history). A message that does not parse counts whole;
// the repository refuses it anyway.
func changeBytes(data []byte) int64 {
	if m, err := wire.ParseSync(data); err == nil && len(m.Changes) == 0 {
		return 0
	}
	return int64(len(data))
}

// Receive implements peer.Repo.
func (r *quotaRepo) Receive(ctx context.Context, from string, user model.UserID, id docs.DocumentID, data []byte, acc peer.Access, aclRev uint64) error {
	n := changeBytes(data)
	if n == 0 {
		return r.Repo.Receive(ctx, from, user, id, data, acc, aclRev)
	}
	undo, err := r.q.reserve(r.user, 0, n)
	if err != nil {
		r.refused()
		return fmt.Errorf("%w (document %s)", err, id)
	}
	if err := r.Repo.Receive(ctx, from, user, id, data, acc, aclRev); err != nil {
		undo()
		return err
	}
	return nil
}

// Create implements peer.Repo.
func (r *quotaRepo) Create(ctx context.Context, from string, user model.UserID, id docs.DocumentID, data []byte, record func(tx store.Txn) error) error {
	undo, err := r.q.reserve(r.user, 1, changeBytes(data))
	if err != nil {
		r.refused()
		return fmt.Errorf("%w (document %s)", err, id)
	}
	if err := r.Repo.Create(ctx, from, user, id, data, record); err != nil {
		undo()
		return err
	}
	return nil
}
