package peer

import (
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/repo"
)

// TestSharedHeads: the shared heads decoded from automerge's encoded
// sync state are the heads both sides hold after a full exchange (the
// encoding repo.SharedHeads relies on), none for a fresh state; truncated or
// foreign bytes are refused.
func TestSharedHeads(t *testing.T) {
	a, b := automerge.New(), automerge.New()
	for i, d := range []*automerge.Doc{a, b} {
		if err := d.RootMap().Set("k"+string(rune('a'+i)), int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit("edit"); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := automerge.NewSyncState(a), automerge.NewSyncState(b)
	for range 10 {
		ma, okA := sa.GenerateMessage()
		if okA {
			if _, err := sb.ReceiveMessage(ma.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		mb, okB := sb.GenerateMessage()
		if okB {
			if _, err := sa.ReceiveMessage(mb.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if !okA && !okB {
			break
		}
	}
	if len(a.Heads()) != 2 || !sameHeads(a.Heads(), b.Heads()) {
		t.Fatalf("documents did not converge: %v vs %v", a.Heads(), b.Heads())
	}
	got, err := repo.SharedHeads(sa.Save())
	if err != nil {
		t.Fatal(err)
	}
	if !sameHeads(got, a.Heads()) {
		t.Fatalf("shared heads %v, want %v", got, a.Heads())
	}
	fresh, err := repo.SharedHeads(automerge.NewSyncState(automerge.New()).Save())
	if err != nil || len(fresh) != 0 {
		t.Fatalf("fresh state: %v, %v", fresh, err)
	}
	saved := sa.Save()
	for _, bad := range [][]byte{nil, {0x42, 0}, saved[:len(saved)-1], {0x43, 0xff}} {
		if _, err := repo.SharedHeads(bad); err == nil {
			t.Fatalf("repo.SharedHeads(%x) accepted", bad)
		}
	}
}
