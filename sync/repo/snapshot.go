package repo

import (
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
)

// errSnapshot is returned, wrapped, when neither automerge's saved form
// of a document nor its changes load back to its heads.
var errSnapshot = errors.New("repo: document does not save to bytes that load")

// snapshot returns the bytes a compaction stores for d: automerge's
// Save when automerge loads them back to d's heads, otherwise d's
// changes as concatenated change chunks (asChanges true), which
// automerge.Load applies one by one. automerge 0.5 applies a change it
// would not have written itself — a column encoded other than as it
// encodes it, which msync.Guard does not catch in every column — and
// then saves a document whose rebuilt changes no longer hash to the
// document's heads: storing that snapshot in place of the increments
// would lose the document for good. Each check costs one automerge.Load,
// freed at once. The caller owns the bytes returned.
func snapshot(d *automerge.Doc) (snap []byte, asChanges bool, err error) {
	heads := d.Heads()
	snap = d.Save()
	first := loadsTo(snap, heads)
	if first == nil {
		return snap, false, nil
	}
	chs, err := d.Changes()
	if err != nil {
		return nil, false, fmt.Errorf("%w: read changes: %v", errSnapshot, err)
	}
	snap = snap[:0]
	for _, c := range chs {
		snap = append(snap, c.Save()...)
	}
	automerge.CloseChanges(chs)
	if err := loadsTo(snap, heads); err != nil {
		return nil, false, fmt.Errorf("%w: saved: %v; changes: %v", errSnapshot, first, err)
	}
	return snap, true, nil
}

// loadsTo checks that automerge loads b to a document with heads.
func loadsTo(b []byte, heads []automerge.ChangeHash) error {
	d, err := automerge.Load(b)
	if err != nil {
		return err
	}
	defer d.Close()
	if got := d.Heads(); !slices.Equal(got, heads) {
		return fmt.Errorf("loads to heads %v, want %v", got, heads)
	}
	return nil
}
