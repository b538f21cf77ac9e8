package relaysync_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
)

// TestRecordServiceDocument: a fresh id is recorded as the service's
// (again is a no-op); an id already a user's is refused with ErrOwned
// and keeps its owner; Listeners and LibraryOf read the bindings.
func TestRecordServiceDocument(t *testing.T) {
	ctx := t.Context()
	st := store.NewMemory()
	lib := bindLibrary(t, st, "alice")
	bindLibrary(t, st, "bob")
	id := randomID(t)
	for range 2 {
		if err := st.Update(ctx, func(tx store.Txn) error { return relaysync.RecordServiceDocument(tx, id) }); err != nil {
			t.Fatal(err)
		}
	}
	if owner, err := relaysync.OwnerOf(ctx, st, id); err != nil || owner != docs.ServiceUser {
		t.Fatalf("owner %q, %v", owner, err)
	}
	err := st.Update(ctx, func(tx store.Txn) error { return relaysync.RecordServiceDocument(tx, lib) })
	if !errors.Is(err, relaysync.ErrOwned) {
		t.Fatalf("alice's library: %v, want ErrOwned", err)
	}
	if owner, _ := relaysync.OwnerOf(ctx, st, lib); owner != "alice" {
		t.Fatalf("alice's library now owned by %q", owner)
	}
	users, err := relaysync.Listeners(ctx, st)
	if err != nil || !slices.Equal(users, []model.UserID{"alice", "bob"}) {
		t.Fatalf("listeners %v, %v", users, err)
	}
	if got, ok, err := relaysync.LibraryOf(ctx, st, "alice"); err != nil || !ok || got != lib {
		t.Fatalf("library of alice: %s %v %v", got, ok, err)
	}
	if _, ok, err := relaysync.LibraryOf(ctx, st, "carol"); err != nil || ok {
		t.Fatalf("library of carol: %v %v", ok, err)
	}
}
