package repo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
)

// TestDropSyncStates: the states of the peers drop selects are deleted
// (more than one store Update's worth), the others stay and still read
// back, and a second run finds nothing to drop.
func TestDropSyncStates(t *testing.T) {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := openRepo(t, st, 1)
	old := make([]PeerID, dropBatch+5)
	for i := range old {
		old[i] = PeerID(fmt.Sprint("dev-", i))
	}
	kept := []PeerID{"u.0011", "u.0022"}
	id := docs.DocumentID{7}
	if err := st.Update(ctx, func(tx store.Txn) error {
		for _, p := range slices.Concat(old, kept) {
			if err := tx.Set(syncKey(p, id), []byte{0x43, 0}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scoped := func(p PeerID) bool { return !strings.HasPrefix(string(p), "u.") }
	for run, want := range []int{len(old), 0} {
		n, err := r.DropSyncStates(ctx, scoped)
		if err != nil || n != want {
			t.Fatalf("run %d: dropped %d (%v), want %d", run, n, err, want)
		}
	}
	for _, p := range slices.Concat(old, kept) {
		b, err := r.SyncState(ctx, p, id)
		if err != nil {
			t.Fatal(err)
		}
		if keep := slices.Contains(kept, p); (b != nil) != keep {
			t.Fatalf("peer %s: state %x, want kept %v", p, b, keep)
		}
	}
}
