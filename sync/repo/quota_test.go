package repo

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// chargeLog is a Quota that counts as relaysync.Quota does — the count
// written by Charge is the one Settle built in memory — and records
// every Charge by transaction.
type chargeLog struct {
	mu       sync.Mutex
	settled  map[model.UserID]int64 // added bytes of committed writes
	settles  int                    // Settle calls of committed writes that added bytes
	charges  int
	perTx    map[store.Txn]map[model.UserID]bool
	repeated []string
}

func (q *chargeLog) Reserve(model.UserID, int) error { return nil }

func (q *chargeLog) Charge(tx store.Txn, user model.UserID, added int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.charges++
	if q.perTx[tx] == nil {
		q.perTx[tx] = map[model.UserID]bool{}
	}
	if q.perTx[tx][user] {
		q.repeated = append(q.repeated, string(user))
	}
	q.perTx[tx][user] = true
	return tx.Set(store.Key("used", string(user)), strconv.AppendInt(nil, q.settled[user]+int64(added), 10))
}

func (q *chargeLog) Settle(user model.UserID, _, added int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil && added > 0 {
		q.settled[user] += int64(added)
		q.settles++
	}
}

// TestQuotaChargedOncePerBatch: when a group commit holds several
// messages of one writer, the Quota is charged once for that writer with
// their bytes summed, and the count it stores — built from what Settle
// told it, without reading the store — ends equal to every byte the
// writer's committed messages added.
func TestQuotaChargedOncePerBatch(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory(), delay: 5 * time.Millisecond}
	q := &chargeLog{settled: map[model.UserID]int64{}, perTx: map[store.Txn]map[model.UserID]bool{}}
	r, err := Open(ctx, st, DefaultOptions().WithCompaction(1000, 0).WithQuota(q))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const perUser, edits = 6, 8
	users := []model.UserID{"alice", "bob"}
	type copy struct {
		user model.UserID
		id   docs.DocumentID
		dev  *automerge.Doc
	}
	var copies []copy
	for _, u := range users {
		for range perUser {
			id, dev := devCopy(t, r, u)
			copies = append(copies, copy{u, id, dev})
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(copies))
	for _, c := range copies {
		wg.Go(func() {
			for k := range edits {
				if err := c.dev.RootMap().Set("junk", fmt.Sprint(k)); err != nil {
					errc <- err
					return
				}
				if _, err := c.dev.Commit("edit"); err != nil {
					errc <- err
					return
				}
				ch, err := c.dev.Change(c.dev.Heads()[0])
				if err != nil {
					errc <- err
					return
				}
				msg := (&msync.Message{Raw: [][]byte{ch.Save()}}).Encode()
				if err := r.ReceiveSyncMessageWith(ctx, "dev", c.id, msg, Incoming{Writer: c.user, Owner: true}); err != nil {
					errc <- fmt.Errorf("%s edit %d: %w", c.user, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.repeated) > 0 {
		t.Fatalf("charged more than once in one transaction for %v", q.repeated)
	}
	if q.charges >= q.settles {
		t.Fatalf("%d charges for %d committed messages: no batch held two messages of one writer, the test proves nothing", q.charges, q.settles)
	}
	for _, u := range users {
		v, err := st.Store.Get(ctx, store.Key("used", string(u)))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v); got != fmt.Sprint(q.settled[u]) {
			t.Fatalf("%s: stored count %s, committed messages added %d bytes", u, got, q.settled[u])
		}
	}
	t.Logf("%d messages committed, %d charges, %d store updates", q.settles, q.charges, st.updates.Load())
}
