package docs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// maxBulkChange bounds each change of a bulk edit in TestBulkEditsSplit:
// under wire.MaxSyncChange (767 KiB), what a sync message may carry.
const maxBulkChange = 640 << 10

// changeSizes returns the sizes of the changes doc holds since heads.
func changeSizes(t *testing.T, doc *automerge.Doc, heads []automerge.ChangeHash) []int {
	t.Helper()
	cs, err := doc.Changes(heads...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = len(c.Save())
	}
	return out
}

// trackIDs returns n track ids of length size (at least 8).
func trackIDs(n, size int) []model.TrackID {
	out := make([]model.TrackID, n)
	for i := range out {
		id := fmt.Sprintf("t%07d", i)
		out[i] = model.TrackID(id + strings.Repeat("x", size-len(id)))
	}
	return out
}

// TestBulkEditsSplit: a bulk add, removal, library save or import commits
// one change per MaxEntriesPerChange entries (or per 640 KiB of ids, for
// long ones), each far below a sync frame (maxBulkChange), and the
// result is the one a single commit gave. One change of the two bigger
// adds here would be about 0.9 MB each.
func TestBulkEditsSplit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, size int
		// changes of the add, and of the library's save and import,
		// which write a shorter value per entry.
		changes, setChanges int
	}{
		{"one change", docs.MaxEntriesPerChange, 16, 1, 1},
		{"10,000 short ids", 10_000, 16, 2, 2},
		{"4,000 ids of 128 bytes", 4_000, model.MaxIDLen, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tracks := trackIDs(tc.n, tc.size)
			doc := automerge.New()
			p, err := docs.CreatePlaylist(doc, "alice", "bulk", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, since []automerge.ChangeHash, want int) {
				t.Helper()
				sizes := changeSizes(t, doc, since)
				if len(sizes) != want {
					t.Fatalf("%s: %d changes, want %d", what, len(sizes), want)
				}
				if m := slices.Max(sizes); m > maxBulkChange {
					t.Fatalf("%s: a change of %d bytes, want ≤ %d", what, m, maxBulkChange)
				}
			}
			before := doc.Heads()
			ids, err := p.Add(docs.AtEnd(), "alice", tracks...)
			if err != nil {
				t.Fatal(err)
			}
			check("add", before, tc.changes)
			es, err := p.Entries()
			if err != nil {
				t.Fatal(err)
			}
			got := make([]model.TrackID, len(es))
			for i, e := range es {
				got[i] = e.Track
			}
			if !slices.Equal(got, tracks) || len(ids) != tc.n {
				t.Fatalf("entries out of order or missing: %d of %d", len(got), tc.n)
			}
			before = doc.Heads()
			if err := p.Remove(ids[1:]...); err != nil {
				t.Fatal(err)
			}
			if es, err := p.Entries(); err != nil || len(es) != 1 || es[0].ID != ids[0] {
				t.Fatalf("after removal: %v, %v", es, err)
			}
			check("remove", before, (tc.n-2)/docs.MaxEntriesPerChange+1)

			ldoc := automerge.New()
			l, err := docs.CreateLibrary(ldoc, "alice", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			before = ldoc.Heads()
			if err := l.SaveTracks(tracks...); err != nil {
				t.Fatal(err)
			}
			doc = ldoc
			check("save", before, tc.setChanges)
			to := automerge.New()
			into, err := docs.CreateLibrary(to, "alice", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			before = to.Heads()
			if _, err := into.Import(l); err != nil {
				t.Fatal(err)
			}
			doc = to
			check("import", before, tc.setChanges)
			if saved, err := into.Tracks(); err != nil || len(saved) != tc.n {
				t.Fatalf("imported %d tracks, %v", len(saved), err)
			}
		})
	}
}
