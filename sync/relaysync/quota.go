package relaysync

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ErrQuota is returned (wrapped, in the refusal of one document's
// changes) when a user's changes would take the change history the user
// stored on the relay past the quota (Quota). It wraps peer.ErrLimit.
var ErrQuota = fmt.Errorf("relaysync: storage quota: %w", peer.ErrLimit)

// DefaultUserQuota is the change history one user may add to the relay
// by default (NewQuota): 256 MiB. A playlist edit stores ≈ 100–300
// bytes, so that is about a million edits — years of any person's use —
// while 1,000 documents (DefaultMaxDocsPerUser) of 1 MiB messages could
// otherwise fill the relay's disk at network speed.
const DefaultUserQuota = 256 << 20

// usedKey is where the relay counts the bytes of change history user's
// changes added: ubytes/<user> → decimal count (docs/ARCHITECTURE.md §6).
func usedKey(user model.UserID) []byte { return store.Key("ubytes", string(user)) }

// maxQuotaUsers bounds the users whose counts a Quota keeps in memory;
// past it those with nothing in flight are dropped (read again from the
// store on next use).
const maxQuotaUsers = 65536

// Quota is the relay's per-user storage quota, a repo.Quota
// (repo.WithQuota): each user may add at most limit bytes of change
// history (the change chunks their sync messages store, before
// compaction) to the relay, counted on the authenticated writer — a
// collaborator's edits of someone else's playlist count against the
// collaborator, so no one can fill an owner's quota. The count is
// stored under ubytes/<user> in the transaction that stores the changes
// (consistent across restarts by construction; history stored before
// the quota existed is not counted) and kept in memory with the sizes
// of the messages being applied, so concurrent messages of one user
// cannot pass it together. Safe for concurrent use.
type Quota struct {
	st    store.Store
	limit int64

	mu    sync.Mutex
	users map[model.UserID]*quotaUse
}

// quotaUse is one user's count: stored as in the store, and pending, the
// sizes of the user's messages reserved and not settled yet.
type quotaUse struct{ stored, pending int64 }

// NewQuota returns a quota of limit bytes per user over the relay's
// store st (DefaultUserQuota is the relay's default).
func NewQuota(st store.Store, limit int64) *Quota {
	return &Quota{st: st, limit: limit, users: map[model.UserID]*quotaUse{}}
}

// StoredBytes returns the bytes of change history user's changes added
// to the relay whose store is st, as counted by Quota.
func StoredBytes(ctx context.Context, st store.Store, user model.UserID) (int64, error) {
	v, err := st.Get(ctx, usedKey(user))
	return parseUsed(user, v, err)
}

func parseUsed(user model.UserID, v []byte, err error) (int64, error) {
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("relaysync: read stored bytes of %s: %w", user, err)
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("relaysync: stored bytes of %s: %w", user, err)
	}
	return n, nil
}

// Reserve implements repo.Quota: it refuses (ErrQuota) a message of n
// bytes that could take user past the limit.
func (q *Quota) Reserve(user model.UserID, n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[user]
	if u == nil {
		stored, err := StoredBytes(context.Background(), q.st, user)
		if err != nil {
			return err
		}
		if len(q.users) >= maxQuotaUsers {
			for k, v := range q.users {
				if v.pending == 0 {
					delete(q.users, k)
				}
			}
		}
		u = &quotaUse{stored: stored}
		q.users[user] = u
	}
	if u.stored+u.pending+int64(n) > q.limit {
		return fmt.Errorf("%w: user %q stored %d bytes of change history on this relay, a message of %d would pass the %d allowed", ErrQuota, user, u.stored, n, q.limit)
	}
	u.pending += int64(n)
	return nil
}

// Charge implements repo.Quota: it writes user's stored count plus added
// in tx. The stored count is the one kept in memory (Reserve read it,
// Settle added every committed charge since), which repo.Quota's
// ordering keeps equal to the stored one, so a charge reads nothing from
// the store; it reads tx only for a user not held in memory, which a
// user with a message being written always is.
func (q *Quota) Charge(tx store.Txn, user model.UserID, added int) error {
	q.mu.Lock()
	u := q.users[user]
	var stored int64
	if u != nil {
		stored = u.stored
	}
	q.mu.Unlock()
	if u == nil {
		v, err := tx.Get(usedKey(user))
		if stored, err = parseUsed(user, v, err); err != nil {
			return err
		}
	}
	return tx.Set(usedKey(user), strconv.AppendInt(nil, stored+int64(added), 10))
}

// Settle implements repo.Quota.
func (q *Quota) Settle(user model.UserID, n, added int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.users[user]
	if u == nil {
		return
	}
	u.pending -= int64(n)
	if err == nil {
		u.stored += int64(added)
	}
}
