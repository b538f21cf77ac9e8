package docs

import (
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// BenchmarkACLCheck: one collaborator's edit (an entry added) to a
// playlist of n entries checked by the document's kept check, as the
// relay runs it: "ops" is ACLCheck (the changes' operations read, nothing
// applied), "forks" the fork-based check it replaced (acl_oracle_test.go,
// two kept forks caught up with the accepted edit, then the edit applied
// to both). Only the check is timed; the edit, and applying it to the
// document afterwards, are not.
//
//	go test ./sync/docs -run '^$' -bench ACLCheck -benchtime 300x -count 3
func BenchmarkACLCheck(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		for _, impl := range []string{"ops", "forks"} {
			b.Run(fmt.Sprintf("%s/%d", impl, n), func(b *testing.B) {
				alice := newPlaylistB(b, n)
				if err := alice.SetCollaborators("bob"); err != nil {
					b.Fatal(err)
				}
				d, err := alice.Doc().Fork()
				if err != nil {
					b.Fatal(err)
				}
				bob, err := OpenPlaylist(d, testOpts(2))
				if err != nil {
					b.Fatal(err)
				}
				var ops ACLCheck
				var forks forkACLCheck
				defer forks.Reset()
				check := ops.Check
				if impl == "forks" {
					check = forks.Check
				}
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					heads := bob.Doc().Heads()
					if _, err := bob.Add(AtEnd(), "bob", model.TrackID(fmt.Sprint("b", i))); err != nil {
						b.Fatal(err)
					}
					changes, err := bob.Doc().Changes(heads...)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := check(alice.Doc(), changes); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := alice.Doc().Apply(changes...); err != nil {
						b.Fatal(err)
					}
					automerge.CloseChanges(changes)
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkNeutral: the relay's test of one entry edit (an entry added
// to a playlist of n entries) against the document's ACL record:
// DecodeChangeOps of the change's chunk, then Neutral, no automerge
// call; "read" is what a change that is not neutral costs instead,
// reading the record anew (ReadACLRecord).
//
//	go test ./sync/docs -run '^$' -bench Neutral -benchtime 2000x -count 3
func BenchmarkNeutral(b *testing.B) {
	for _, n := range []int{100, 10000} {
		p := newPlaylistB(b, n)
		if err := p.SetCollaborators("bob", "carol"); err != nil {
			b.Fatal(err)
		}
		rec, err := ReadACLRecord(p.Doc())
		if err != nil {
			b.Fatal(err)
		}
		heads := p.Doc().Heads()
		if _, err := p.Add(AtEnd(), "alice", "t"); err != nil {
			b.Fatal(err)
		}
		chs, err := p.Doc().Changes(heads...)
		if err != nil {
			b.Fatal(err)
		}
		raw := chs[0].Save()
		b.Run(fmt.Sprintf("decode+neutral/%d", n), func(b *testing.B) {
			for range b.N {
				ops, err := DecodeChangeOps(raw)
				if err != nil || !Neutral(ops, rec) {
					b.Fatal("an entry add is not neutral", err)
				}
			}
		})
		b.Run(fmt.Sprintf("read/%d", n), func(b *testing.B) {
			for range b.N {
				if _, err := ReadACLRecord(p.Doc()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
