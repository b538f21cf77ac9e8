package docs

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

// EntryView is a materialised copy of a playlist's entries in order, so
// that reading the order and placing one entry cost no cgo call per entry.
// It is derived state: it records the document heads it reflects, and a
// Playlist using it rebuilds it with one full read of the document
// whenever the document's heads differ (a merge, a sync message, an edit
// made without the view). A Playlist's own edits update it in place: after
// each of its commits it checks that the new change's dependencies are
// exactly the heads the view reflected, and otherwise drops it.
//
// automerge-go (automerge 0.5) exposes no patches or change operations,
// so the view cannot follow foreign changes entry by entry; the rebuild
// after them costs what one ordered read did before the view existed.
//
// An EntryView is not safe for concurrent use; it is used under the same
// lock as its document (sync/repo's Handle holds one per document). Using
// it with another document is safe (the heads differ, so it rebuilds).
type EntryView struct {
	heads    []automerge.ChangeHash // heads the view reflects; valid only when built
	built    bool
	order    []Entry            // sorted by (Pos, ID)
	pos      map[EntryID]string // entry id → Pos, to find an entry in order
	rebuilds int
}

// NewEntryView returns an empty view; it is built from the document on
// first use.
func NewEntryView() *EntryView { return &EntryView{} }

// Rebuilds returns how many times v was rebuilt with a full read of the
// document (the first build included).
func (v *EntryView) Rebuilds() int { return v.rebuilds }

func compareEntries(a, b Entry) int {
	if c := cmp.Compare(a.Pos, b.Pos); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// refresh makes v reflect doc: one Heads call when it already does, a
// full read of the entries otherwise.
func (v *EntryView) refresh(doc *automerge.Doc) error {
	heads := doc.Heads()
	if v.built && slices.Equal(heads, v.heads) {
		return nil
	}
	es, err := readEntries(doc)
	if err != nil {
		v.drop()
		return err
	}
	v.order = es
	v.pos = make(map[EntryID]string, len(es))
	for _, e := range es {
		v.pos[e.ID] = e.Pos
	}
	v.heads, v.built = heads, true
	v.rebuilds++
	return nil
}

// drop forgets the view; the next refresh rebuilds it.
func (v *EntryView) drop() {
	v.heads, v.built, v.order, v.pos = nil, false, nil, nil
}

// advance records that doc moved from v's heads to the change hash just
// committed by a Playlist holding v. It reports whether v may be updated
// in place: true when hash's dependencies are exactly the heads v
// reflects; otherwise v is dropped.
func (v *EntryView) advance(doc *automerge.Doc, hash automerge.ChangeHash) bool {
	if !v.built {
		return false
	}
	ch, err := doc.Change(hash)
	if err != nil {
		v.drop()
		return false
	}
	deps := ch.Dependencies()
	slices.SortFunc(deps, compareHashes)
	heads := slices.Clone(v.heads)
	slices.SortFunc(heads, compareHashes)
	if !slices.Equal(deps, heads) {
		v.drop()
		return false
	}
	v.heads = []automerge.ChangeHash{hash}
	return true
}

func compareHashes(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) }

// index returns the position of entry id in v.order, or -1.
func (v *EntryView) index(id EntryID) int {
	p, ok := v.pos[id]
	if !ok {
		return -1
	}
	i, found := slices.BinarySearchFunc(v.order, Entry{ID: id, Pos: p}, compareEntries)
	if !found {
		return -1
	}
	return i
}

// insert adds entries (in any order) to v.
func (v *EntryView) insert(es ...Entry) {
	for _, e := range es {
		v.pos[e.ID] = e.Pos
	}
	if len(es) == 1 {
		i, _ := slices.BinarySearchFunc(v.order, es[0], compareEntries)
		v.order = slices.Insert(v.order, i, es[0])
		return
	}
	add := slices.SortedFunc(slices.Values(es), compareEntries)
	merged := make([]Entry, 0, len(v.order)+len(add))
	i, j := 0, 0
	for i < len(v.order) && j < len(add) {
		if compareEntries(add[j], v.order[i]) < 0 {
			merged = append(merged, add[j])
			j++
		} else {
			merged = append(merged, v.order[i])
			i++
		}
	}
	merged = append(merged, v.order[i:]...)
	v.order = append(merged, add[j:]...)
}

// remove deletes the entries ids from v (ids it does not hold are
// ignored).
func (v *EntryView) remove(ids ...EntryID) {
	if len(ids) == 1 {
		if i := v.index(ids[0]); i >= 0 {
			v.order = slices.Delete(v.order, i, i+1)
		}
		delete(v.pos, ids[0])
		return
	}
	gone := make(map[EntryID]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
		delete(v.pos, id)
	}
	v.order = slices.DeleteFunc(v.order, func(e Entry) bool { return gone[e.ID] })
}

// readEntries reads every entry of doc (one cgo round trip per entry) and
// returns them ordered by (Pos, ID). Malformed entries (not a map, no
// trackId) written by a foreign client are skipped.
func readEntries(doc *automerge.Doc) ([]Entry, error) {
	vals, err := doc.Path("entries").Map().Values()
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	out := make([]Entry, 0, len(vals))
	for id, v := range vals {
		if v.Kind() != automerge.KindMap {
			continue
		}
		fields, err := v.Map().Values()
		if err != nil {
			return nil, fmt.Errorf("read entry %s: %w", id, err)
		}
		e := Entry{
			ID:      EntryID(id),
			Track:   model.TrackID(strValue(fields["trackId"])),
			Pos:     strValue(fields["pos"]),
			AddedBy: model.UserID(strValue(fields["addedBy"])),
		}
		if at := fields["addedAt"]; at != nil && at.Kind() == automerge.KindTime {
			e.AddedAt = at.Time()
		}
		if e.Track == "" {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, compareEntries)
	return out, nil
}
