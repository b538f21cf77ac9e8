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
	return changesSnapshot(d, heads, first)
}

// snapshotClosing is snapshot for a document the caller has no further
// use for: it closes d once saved, before the check's Load, so that at
// most one whole document is in C memory at a time (automerge 0.5 keeps
// every change of a loaded document, a few KiB each, whichever form it
// was loaded from), and only when that check fails loads d again with
// reload, which must return a document with d's heads, to read its
// changes. d is closed when it returns, whatever the outcome.
func snapshotClosing(d *automerge.Doc, reload func() (*automerge.Doc, error)) (snap []byte, asChanges bool, err error) {
	heads := d.Heads()
	snap = d.Save()
	d.Close()
	first := loadsTo(snap, heads)
	if first == nil {
		return snap, false, nil
	}
	if d, err = reload(); err != nil {
		return nil, false, fmt.Errorf("%w: saved: %v; load again: %v", errSnapshot, first, err)
	}
	defer d.Close()
	if got := d.Heads(); !slices.Equal(got, heads) {
		return nil, false, fmt.Errorf("%w: saved: %v; loaded again to heads %v, want %v", errSnapshot, first, got, heads)
	}
	return changesSnapshot(d, heads, first)
}

// changesSnapshot returns d's changes as concatenated change chunks
// when they load back to heads; first is why d's saved form did not.
func changesSnapshot(d *automerge.Doc, heads []automerge.ChangeHash, first error) ([]byte, bool, error) {
	chs, err := d.Changes()
	if err != nil {
		return nil, false, fmt.Errorf("%w: read changes: %v", errSnapshot, err)
	}
	var snap []byte
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
