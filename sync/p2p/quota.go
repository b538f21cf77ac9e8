package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Default LAN storage quota (WithQuota): what the LAN peers of one user
// may make this device store in one quota period (a UTC calendar
// month). They mirror what the relay lets one user do
// (relaysync.DefaultMaxDocsPerUser documents and
// relaysync.DefaultUserQuota bytes of change history).
const (
	DefaultQuotaDocs  = 1000
	DefaultQuotaBytes = 256 << 20
)

// MaxQuotaUsers bounds the remote users whose LAN quota counts a device
// keeps in one period (one store key each, WithQuotaStore): a peer of
// a further user is refused with ErrQuota until the next period.
const MaxQuotaUsers = 1024

// ErrQuota is the refusal of a LAN peer's document or changes past
// WithQuota. It wraps peer.ErrLimit: the session refuses that document
// (the peer is told with an error message naming it) and goes on.
var ErrQuota = fmt.Errorf("p2p: LAN storage quota reached: %w", peer.ErrLimit)

// WithQuota bounds what the LAN peers of one user (all that user's
// devices together) may make this device store in one quota period, a
// UTC calendar month by the node's clock (WithClock): docs documents
// they create here, and bytes of changes applied here, new documents'
// included (the length of each change the document did not hold when
// the message arrived, so a message repeated after it was applied
// counts once). Past either, the document's message is refused with
// ErrQuota and nothing of it is stored. Changes the device receives
// from the relay are not counted. A value ≤ 0 removes that bound.
// Default DefaultQuotaDocs, DefaultQuotaBytes.
func (o Options) WithQuota(docs int, bytes int64) Options {
	o.quotaDocs, o.quotaBytes = max(docs, 0), max(bytes, 0)
	return o
}

// WithQuotaStore keeps the LAN quota's counts (WithQuota) in st, the
// store the node's repository keeps its documents in, under
// lanquota/<user> (at most MaxQuotaUsers keys, those of past periods
// deleted): a document a peer creates is stored with its count in one
// transaction, and a new node on the same store, after a restart of the
// device, goes on from the counts. Default nil: the counts are kept in
// memory and a new node starts them afresh.
func (o Options) WithQuotaStore(st store.Store) Options { o.quotaStore = st; return o }

// quotaKey is where the LAN quota counts user's documents and bytes:
// lanquota/<user> → "<period> <docs> <bytes>" (docs/ARCHITECTURE.md §6).
func quotaKey(user model.UserID) []byte { return store.Key("lanquota", string(user)) }

// quotaPeriod is the quota period of t: its UTC calendar month.
func quotaPeriod(t time.Time) string { return t.UTC().Format("2006-01") }

// quotaCount is one user's count in one period.
type quotaCount struct {
	period string
	docs   int
	bytes  int64
}

func (c quotaCount) encode() []byte {
	return fmt.Appendf(nil, "%s %d %d", c.period, c.docs, c.bytes)
}

// parseQuotaCount decodes a stored count.
func parseQuotaCount(user model.UserID, v []byte) (quotaCount, error) {
	f := bytes.Fields(v)
	if len(f) != 3 {
		return quotaCount{}, fmt.Errorf("p2p: LAN quota count of %q: malformed %q", user, v)
	}
	d, err := strconv.Atoi(string(f[1]))
	if err != nil || d < 0 {
		return quotaCount{}, fmt.Errorf("p2p: LAN quota count of %q: malformed %q", user, v)
	}
	b, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil || b < 0 {
		return quotaCount{}, fmt.Errorf("p2p: LAN quota count of %q: malformed %q", user, v)
	}
	return quotaCount{period: string(f[0]), docs: d, bytes: b}, nil
}

// lanQuota counts, per remote user and period, what LAN sessions
// stored. The counts live in st (the device's store, or an in-memory
// one); pending holds what messages being applied reserved, so
// concurrent messages of one user cannot pass the quota together.
type lanQuota struct {
	maxDocs  int
	maxBytes int64
	maxUsers int
	st       store.Store
	inTx     bool // st is the repository's store: Create counts in its transaction
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	period  string                      // the period known and pruned
	known   map[model.UserID]bool       // users counted in period
	pending map[model.UserID]quotaCount // reserved, not stored yet
}

func newLANQuota(o Options) *lanQuota {
	st := o.quotaStore
	if st == nil {
		st = store.NewMemory()
	}
	return &lanQuota{
		maxDocs: o.quotaDocs, maxBytes: o.quotaBytes, maxUsers: MaxQuotaUsers,
		st: st, inTx: o.quotaStore != nil, now: o.now, log: o.log, pending: map[model.UserID]quotaCount{},
	}
}

// rollover starts period cur: deletes the counts of other periods and
// lists the users counted in cur. Caller holds q.mu.
func (q *lanQuota) rollover(ctx context.Context, cur string) error {
	known := map[model.UserID]bool{}
	var stale [][]byte
	prefix := store.Prefix("lanquota")
	err := q.st.Iterate(ctx, prefix, false, func(k, v []byte) error {
		user := model.UserID(k[len(prefix):])
		c, err := parseQuotaCount(user, v)
		if err == nil && c.period != cur {
			stale = append(stale, bytes.Clone(k))
			return nil
		}
		known[user] = true // a malformed count stays: reading it refuses the user
		return nil
	})
	if err != nil {
		return fmt.Errorf("p2p: list LAN quota counts: %w", err)
	}
	if len(stale) > 0 {
		if err := q.st.Update(ctx, func(tx store.Txn) error {
			for _, k := range stale {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("p2p: delete past LAN quota counts: %w", err)
		}
	}
	q.period, q.known = cur, known
	return nil
}

// stored reads user's count in period cur.
func (q *lanQuota) stored(ctx context.Context, user model.UserID, cur string) (quotaCount, error) {
	v, err := q.st.Get(ctx, quotaKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return quotaCount{period: cur}, nil
	}
	if err != nil {
		return quotaCount{}, fmt.Errorf("p2p: read LAN quota count of %q: %w", user, err)
	}
	c, err := parseQuotaCount(user, v)
	if err != nil {
		return quotaCount{}, err
	}
	if c.period != cur {
		return quotaCount{period: cur}, nil
	}
	return c, nil
}

// reserve takes docs documents and n bytes of user's quota until
// release, or returns ErrQuota and takes nothing.
func (q *lanQuota) reserve(ctx context.Context, user model.UserID, docs int, n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	cur := quotaPeriod(q.now())
	if cur != q.period {
		if err := q.rollover(ctx, cur); err != nil {
			return err
		}
	}
	if !q.known[user] && len(q.known) >= q.maxUsers {
		return fmt.Errorf("%w: %d users counted here this month, at most %d", ErrQuota, len(q.known), q.maxUsers)
	}
	c, err := q.stored(ctx, user, cur)
	if err != nil {
		return err
	}
	p := q.pending[user]
	if q.maxDocs > 0 && c.docs+p.docs+docs > q.maxDocs {
		return fmt.Errorf("%w: user %q created %d documents here over the LAN in %s, at most %d", ErrQuota, user, c.docs, cur, q.maxDocs)
	}
	if q.maxBytes > 0 && c.bytes+p.bytes+n > q.maxBytes {
		return fmt.Errorf("%w: user %q sent %d bytes of changes here over the LAN in %s, at most %d", ErrQuota, user, c.bytes, cur, q.maxBytes)
	}
	q.known[user] = true
	p.docs += docs
	p.bytes += n
	q.pending[user] = p
	return nil
}

// release ends a reservation of reserve, once its count is stored or
// its message failed.
func (q *lanQuota) release(user model.UserID, docs int, n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending[user]
	p.docs -= docs
	p.bytes -= n
	if p.docs <= 0 && p.bytes <= 0 {
		delete(q.pending, user)
		return
	}
	q.pending[user] = p
}

// charge adds docs and n (negative: gives them back) to user's stored
// count of the current period in tx.
func (q *lanQuota) charge(tx store.Txn, user model.UserID, docs int, n int64) error {
	cur := quotaPeriod(q.now())
	c := quotaCount{period: cur}
	v, err := tx.Get(quotaKey(user))
	switch {
	case err == nil:
		if c, err = parseQuotaCount(user, v); err != nil {
			return err
		}
		if c.period != cur {
			c = quotaCount{period: cur}
		}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("p2p: read LAN quota count of %q: %w", user, err)
	}
	c.docs = max(c.docs+docs, 0)
	c.bytes = max(c.bytes+n, 0)
	return tx.Set(quotaKey(user), c.encode())
}

// quotaRepo is the Repo of one LAN session: Receive and Create count
// against the remote user's quota.
type quotaRepo struct {
	peer.Repo
	q       *lanQuota
	user    model.UserID
	device  model.DeviceID // the peer's, for the actor binding (peer.DeviceReceiver)
	refused func()         // counts a refusal (PeerStatus.OverQuota)
}

// receive hands a message to the repository, with the peer's device
// when the repository takes it (peer.DeviceReceiver).
func (r *quotaRepo) receive(ctx context.Context, from string, user model.UserID, id docs.DocumentID, data []byte, acc peer.Access, aclRev uint64) error {
	if dr, ok := r.Repo.(peer.DeviceReceiver); ok {
		return dr.ReceiveFrom(ctx, from, user, r.device, id, data, acc, aclRev)
	}
	return r.Repo.Receive(ctx, from, user, id, data, acc, aclRev)
}

// newChangeBytes is what a sync message for id counts against the
// quota: the length of each change it carries that the document does
// not hold (a message repeated after it was applied counts nothing; so
// do heads, needs and Bloom filters, which store no history). A message
// that does not parse counts whole, and so does a change that does
// not; the repository refuses them anyway.
func (r *quotaRepo) newChangeBytes(ctx context.Context, id docs.DocumentID, data []byte) (int64, error) {
	m, err := wire.ParseSync(data)
	if err != nil {
		return int64(len(data)), nil
	}
	var n int64
	hashes := make([]automerge.ChangeHash, 0, len(m.Changes))
	sizes := make([]int64, 0, len(m.Changes))
	for _, raw := range m.Changes {
		c, err := msync.ParseChange(raw)
		if err != nil {
			n += int64(len(raw))
			continue
		}
		hashes = append(hashes, c.Hash)
		sizes = append(sizes, int64(len(raw)))
	}
	if len(hashes) == 0 {
		return n, nil
	}
	var fresh int64
	err = r.Repo.View(ctx, id, func(doc *automerge.Doc) error {
		fresh = 0
		for i, h := range hashes {
			if _, err := doc.Change(h); err != nil {
				fresh += sizes[i]
			}
		}
		return nil
	})
	if errors.Is(err, peer.ErrUnknownDocument) {
		for _, s := range sizes {
			n += s
		}
		return n, nil
	}
	if err != nil {
		return 0, err
	}
	return n + fresh, nil
}

// Receive implements peer.Repo. The count is stored before the message
// is applied and given back when it fails: a crash in between leaves
// the message counted without its changes, never the reverse.
func (r *quotaRepo) Receive(ctx context.Context, from string, user model.UserID, id docs.DocumentID, data []byte, acc peer.Access, aclRev uint64) error {
	n, err := r.newChangeBytes(ctx, id, data)
	if err != nil {
		return err
	}
	if n == 0 {
		return r.receive(ctx, from, user, id, data, acc, aclRev)
	}
	if err := r.q.reserve(ctx, r.user, 0, n); err != nil {
		if errors.Is(err, ErrQuota) {
			r.refused()
		}
		return fmt.Errorf("%w (document %s)", err, id)
	}
	err = r.q.st.Update(ctx, func(tx store.Txn) error { return r.q.charge(tx, r.user, 0, n) })
	r.q.release(r.user, 0, n)
	if err != nil {
		return fmt.Errorf("p2p: count LAN quota of %q: %w", r.user, err)
	}
	if err := r.receive(ctx, from, user, id, data, acc, aclRev); err != nil {
		if uerr := r.q.st.Update(context.WithoutCancel(ctx), func(tx store.Txn) error { return r.q.charge(tx, r.user, 0, -n) }); uerr != nil {
			r.q.log.Warn("p2p: give back LAN quota", "user", r.user, "doc", id, "err", uerr)
		}
		return err
	}
	return nil
}

// Create implements peer.Repo: the document and its count are stored
// in one store transaction (WithQuotaStore; in memory, the count after
// the document).
func (r *quotaRepo) Create(ctx context.Context, from string, user model.UserID, id docs.DocumentID, data []byte, record func(tx store.Txn) error) error {
	n, err := r.newChangeBytes(ctx, id, data)
	if err != nil {
		return err
	}
	if err := r.q.reserve(ctx, r.user, 1, n); err != nil {
		if errors.Is(err, ErrQuota) {
			r.refused()
		}
		return fmt.Errorf("%w (document %s)", err, id)
	}
	defer r.q.release(r.user, 1, n)
	if !r.q.inTx {
		if err := r.Repo.Create(ctx, from, user, id, data, record); err != nil {
			return err
		}
		return r.q.st.Update(ctx, func(tx store.Txn) error { return r.q.charge(tx, r.user, 1, n) })
	}
	return r.Repo.Create(ctx, from, user, id, data, func(tx store.Txn) error {
		if record != nil {
			if err := record(tx); err != nil {
				return err
			}
		}
		return r.q.charge(tx, r.user, 1, n)
	})
}
