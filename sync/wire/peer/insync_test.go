package peer

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
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

// gatedRepo is a Repo whose InSync reports true, but first signals
// entered and waits for release: a refusal can begin while it reads.
type gatedRepo struct {
	Repo
	entered, release chan struct{}
}

func (g *gatedRepo) InSync(context.Context, string, docs.DocumentID) (bool, error) {
	g.entered <- struct{}{}
	<-g.release
	return true, nil
}

// TestInSyncRefusalDuringRead: a refusal that begins while InSync reads
// the repository (the set-aside document then looks in sync before
// OnRefused and OnSetAside ran) makes InSync report false; once the
// refusal is handled, InSync reports the repository's answer, and
// HandlingRefusal tells the window apart.
func TestInSyncRefusalDuringRead(t *testing.T) {
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		during   func(s *Session)
		want     bool
		handling bool
	}{
		{"no refusal", func(*Session) {}, true, false},
		{"refusal begins", func(s *Session) { s.setRefusing(id, true) }, false, true},
		{"refusal begins and ends", func(s *Session) { s.setRefusing(id, true); s.setRefusing(id, false) }, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &gatedRepo{entered: make(chan struct{}), release: make(chan struct{})}
			s := &Session{Repo: g}
			got := make(chan bool, 1)
			go func() {
				in, err := s.InSync(t.Context(), id)
				if err != nil {
					t.Error(err)
				}
				got <- in
			}()
			<-g.entered
			tc.during(s)
			close(g.release)
			if in := <-got; in != tc.want {
				t.Fatalf("InSync = %v, want %v", in, tc.want)
			}
			if h := s.HandlingRefusal(id); h != tc.handling {
				t.Fatalf("HandlingRefusal = %v, want %v", h, tc.handling)
			}
		})
	}
}
