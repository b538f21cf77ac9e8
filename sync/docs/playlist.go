package docs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs/fracindex"
)

// EntryID identifies one entry of a playlist (one occurrence of a track).
type EntryID string

// Entry is one playlist entry as read from the document.
type Entry struct {
	ID      EntryID
	Track   model.TrackID
	Pos     string // fractional index key; entries sort by (Pos, ID)
	AddedBy model.UserID
	AddedAt time.Time
}

// Info is a playlist's metadata.
type Info struct {
	Name          string
	Description   string
	Owner         model.UserID
	Collaborators []model.UserID // sorted
	Public        bool
}

// Playlist is a typed view over an Automerge document holding a playlist:
//
//	{type:"playlist", name, description, owner,
//	 collaborators: {userId: true}, public: bool,
//	 entries: {entryId: {trackId, pos, addedBy, addedAt}}}
//
// Every mutating method makes exactly one commit (or none when it changes
// nothing), stamped with the options' clock. A move changes only nested
// pos fields (the entry's, and those of entries it re-keys: place), so a
// concurrent delete of the entry (which removes its key from entries)
// wins and the entry is never resurrected or duplicated. Entries and placements read a materialised view (EntryView)
// that the Playlist's own edits keep current and that is rebuilt from the
// document when its heads changed otherwise. A Playlist is not safe for
// concurrent use; the doc itself may be shared (sync/repo serialises
// access).
type Playlist struct {
	doc  *automerge.Doc
	opts Options
	view *EntryView
}

// CreatePlaylist writes a new playlist skeleton owned by owner into the
// empty doc and commits it ("create playlist"). It returns ErrNotEmpty if
// doc already has changes, ErrBadText for a name checkText refuses.
func CreatePlaylist(doc *automerge.Doc, owner model.UserID, name string, opts Options) (*Playlist, error) {
	if len(doc.Heads()) != 0 {
		return nil, ErrNotEmpty
	}
	if owner == "" {
		return nil, fmt.Errorf("%w: empty owner", ErrInvalidArgument)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	root := doc.RootMap()
	for _, kv := range []struct {
		k string
		v any
	}{
		{"type", string(KindPlaylist)},
		{"name", name},
		{"description", ""},
		{"owner", string(owner)},
		{"collaborators", automerge.NewMap()},
		{"public", false},
		{"entries", automerge.NewMap()},
	} {
		if err := root.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("create playlist: set %s: %w", kv.k, err)
		}
	}
	if err := commit(doc, opts.now(), "create playlist"); err != nil {
		return nil, err
	}
	return &Playlist{doc: doc, opts: opts, view: NewEntryView()}, nil
}

// OpenPlaylist returns a view over doc, which must hold a playlist
// (ErrWrongType otherwise).
func OpenPlaylist(doc *automerge.Doc, opts Options) (*Playlist, error) {
	return OpenPlaylistWith(doc, NewEntryView(), opts)
}

// OpenPlaylistWith is OpenPlaylist reading and keeping current view, which
// the caller keeps with doc across calls (under the same lock) so that
// reads and placements do not re-read every entry; nil means a fresh
// view.
func OpenPlaylistWith(doc *automerge.Doc, view *EntryView, opts Options) (*Playlist, error) {
	if err := checkKind(doc, KindPlaylist); err != nil {
		return nil, err
	}
	if view == nil {
		view = NewEntryView()
	}
	return &Playlist{doc: doc, opts: opts, view: view}, nil
}

// Doc returns the underlying document.
func (p *Playlist) Doc() *automerge.Doc { return p.doc }

func (p *Playlist) entries() *automerge.Map { return p.doc.Path("entries").Map() }

// commit commits the pending edits as msg at now and reports whether the
// view may be updated in place with them (it is dropped otherwise).
func (p *Playlist) commit(now time.Time, msg string) (bool, error) {
	h, err := p.doc.Commit(msg, automerge.CommitOptions{Time: &now})
	if err != nil {
		p.view.drop()
		return false, fmt.Errorf("commit %q: %w", msg, err)
	}
	return p.view.advance(p.doc, h), nil
}

// commitMeta commits an edit outside entries, keeping the view current.
func (p *Playlist) commitMeta(msg string) error {
	_, err := p.commit(p.opts.now(), msg)
	return err
}

// Info returns the playlist's metadata.
func (p *Playlist) Info() (Info, error) {
	root := p.doc.RootMap()
	info := Info{
		Name:        strField(root, "name"),
		Description: strField(root, "description"),
		Owner:       model.UserID(strField(root, "owner")),
	}
	_, collabs, public, err := p.Access()
	if err != nil {
		return Info{}, err
	}
	info.Collaborators, info.Public = collabs, public
	return info, nil
}

// Access returns who may read and write the playlist: the owner, the
// collaborators (sorted, owner excluded) and whether anyone may read it.
// The relay authorises sync with it.
func (p *Playlist) Access() (owner model.UserID, collaborators []model.UserID, public bool, err error) {
	root := p.doc.RootMap()
	owner = model.UserID(strField(root, "owner"))
	if v, gerr := root.Get("public"); gerr == nil && v.Kind() == automerge.KindBool {
		public = v.Bool()
	}
	keys, err := p.doc.Path("collaborators").Map().Keys()
	if err != nil {
		return "", nil, false, fmt.Errorf("read collaborators: %w", err)
	}
	for _, k := range keys {
		v, gerr := p.doc.Path("collaborators", k).Get()
		if gerr == nil && v.Kind() == automerge.KindBool && v.Bool() && model.UserID(k) != owner {
			collaborators = append(collaborators, model.UserID(k))
		}
	}
	slices.Sort(collaborators)
	return owner, collaborators, public, nil
}

// CanWrite reports whether user is the owner or a collaborator.
func (p *Playlist) CanWrite(user model.UserID) (bool, error) {
	owner, collabs, _, err := p.Access()
	if err != nil {
		return false, err
	}
	return user != "" && (user == owner || slices.Contains(collabs, user)), nil
}

// CanRead reports whether user may read the playlist: a writer, or anyone
// when it is public.
func (p *Playlist) CanRead(user model.UserID) (bool, error) {
	_, _, public, err := p.Access()
	if err != nil || public {
		return public, err
	}
	return p.CanWrite(user)
}

// Rename sets the name (last writer wins) in one commit (none when the
// name is already name). A name checkText refuses is ErrBadText.
func (p *Playlist) Rename(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if strField(p.doc.RootMap(), "name") == name {
		return nil
	}
	if err := p.doc.RootMap().Set("name", name); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return p.commitMeta("rename")
}

// Describe sets the description in one commit (none when unchanged). A
// description checkText refuses is ErrBadText.
func (p *Playlist) Describe(description string) error {
	if err := CheckDescription(description); err != nil {
		return err
	}
	if v, err := p.doc.RootMap().Get("description"); err == nil {
		if cur, ok := valueString(v); ok && cur == description {
			return nil
		}
	}
	if err := p.doc.RootMap().Set("description", description); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	return p.commitMeta("describe")
}

// SetPublic makes the playlist public or private in one commit (none
// when it already is).
func (p *Playlist) SetPublic(public bool) error {
	if _, _, cur, err := p.Access(); err == nil && cur == public {
		if v, gerr := p.doc.RootMap().Get("public"); gerr == nil && v.Kind() == automerge.KindBool {
			return nil
		}
	}
	if err := p.doc.RootMap().Set("public", public); err != nil {
		return fmt.Errorf("set public: %w", err)
	}
	return p.commitMeta("set public")
}

// SetCollaborators makes users exactly the set of collaborators: keys
// missing from users are deleted and new ones set, in one commit (none if
// nothing changes). A user added must have an account name's syntax
// (model.ValidUserID), else ErrInvalidArgument and nothing changes: no
// account could ever use it. Names the document holds already are kept
// as they are (another client wrote them).
func (p *Playlist) SetCollaborators(users ...model.UserID) error {
	m := p.doc.Path("collaborators").Map()
	keys, err := m.Keys()
	if err != nil {
		return fmt.Errorf("read collaborators: %w", err)
	}
	want := make(map[string]bool, len(users))
	for _, u := range users {
		if !model.ValidUserID(u) && !slices.Contains(keys, string(u)) {
			return fmt.Errorf("%w: collaborator %q is no account name (1-%d bytes of a-z, 0-9, '_', '.', '-')", ErrInvalidArgument, u, model.MaxUserIDLen)
		}
		want[string(u)] = true
	}
	changed := false
	for _, k := range keys {
		if want[k] {
			delete(want, k)
			continue
		}
		if err := m.Delete(k); err != nil {
			return fmt.Errorf("remove collaborator: %w", err)
		}
		changed = true
	}
	for _, u := range slices.Sorted(maps.Keys(want)) {
		if err := m.Set(u, true); err != nil {
			return fmt.Errorf("add collaborator: %w", err)
		}
		changed = true
	}
	if !changed {
		return nil
	}
	return p.commitMeta("set collaborators")
}

// Entries returns the entries ordered by (Pos, ID): every replica with
// the same heads returns the same order. Malformed entries (not a map, no
// trackId) written by a foreign client are skipped. The slice is owned by
// the caller.
func (p *Playlist) Entries() ([]Entry, error) {
	if err := p.view.refresh(p.doc); err != nil {
		return nil, err
	}
	return slices.Clone(p.view.order), nil
}

// Position says where Add or Move puts entries. Build one with AtStart,
// AtEnd, AtIndex, Before or After.
type Position struct {
	kind  posKind
	ref   EntryID
	index int
}

type posKind int

const (
	posEnd posKind = iota
	posStart
	posIndex
	posBefore
	posAfter
)

// AtEnd places entries after the last entry (the zero Position).
func AtEnd() Position { return Position{kind: posEnd} }

// AtStart places entries before the first entry.
func AtStart() Position { return Position{kind: posStart} }

// AtIndex places entries so the first one ends up at index i of the
// resulting order (0 ≤ i ≤ number of other entries).
func AtIndex(i int) Position { return Position{kind: posIndex, index: i} }

// Before places entries immediately before entry id.
func Before(id EntryID) Position { return Position{kind: posBefore, ref: id} }

// After places entries immediately after entry id.
func After(id EntryID) Position { return Position{kind: posAfter, ref: id} }

// bounds returns the index in the ordered list es (which excludes any
// entry being moved) at which to insert, and the pos keys of the
// neighbours between which to insert; find returns the index of an
// entry in es, or -1. Entries with equal pos are treated as one slot:
// inserting "between" them lands after the group.
func (pos Position) bounds(es []Entry, find func(EntryID) int) (idx int, lo, hi string, err error) {
	switch pos.kind {
	case posEnd:
		idx = len(es)
	case posStart:
		idx = 0
	case posIndex:
		if pos.index < 0 || pos.index > len(es) {
			return 0, "", "", fmt.Errorf("%w: index %d outside 0–%d", ErrBadPosition, pos.index, len(es))
		}
		idx = pos.index
	case posBefore, posAfter:
		i := find(pos.ref)
		if i < 0 {
			return 0, "", "", fmt.Errorf("%w: %s", ErrNoEntry, pos.ref)
		}
		idx = i
		if pos.kind == posAfter {
			idx = i + 1
		}
	}
	if idx > 0 {
		lo = es[idx-1].Pos
	}
	for j := idx; j < len(es); j++ {
		if es[j].Pos > lo {
			hi = es[j].Pos
			break
		}
	}
	if lo != "" && fracindex.Validate(lo) != nil {
		return 0, "", "", fmt.Errorf("%w: neighbour has invalid pos %q", ErrBadPosition, lo)
	}
	if hi != "" && fracindex.Validate(hi) != nil {
		return 0, "", "", fmt.Errorf("%w: neighbour has invalid pos %q", ErrBadPosition, hi)
	}
	return idx, lo, hi, nil
}

// Re-keying bounds: a pos drawn longer than rekeyBytes makes Add or Move
// re-key the entries around the place, in the same change, so that pos
// keys stay short however many entries are placed at one spot.
const (
	// rekeyBytes is the longest pos drawn without re-keying; the new
	// keys of a re-key are at most half as long.
	rekeyBytes = 64
	// maxRekeyWindow bounds the entries on each side of the place that
	// a re-key gives new keys (4,096 pos writes of about 10 bytes, one
	// change far under wire.MaxSyncChange).
	maxRekeyWindow = 2048
)

// place returns n pos keys for entries inserted at index idx of the
// ordered list es, between lo and hi (Position.bounds). When one would be
// longer than rekeyBytes, it re-keys a window of es around idx: the
// smallest of 16, 32, … up to maxRekeyWindow entries on each side (or
// all of es) whose bounds, the keys of the entries just outside it,
// leave room for the window's entries and the n new ones in keys of at
// most rekeyBytes/2; it returns the window's entries with their new pos
// (in order: the order does not change), to be written in the same
// change as the new keys. When no window fits it returns the long keys
// (checkRoom decides). The keys of one call share one jitter suffix
// (fracindex.N), so the re-keys of two devices at one spot never write
// equal keys: a replica merging them gets, for each entry, the pos of
// one of them (last writer wins), every entry once, in the same order
// on every replica.
func (p *Playlist) place(es []Entry, idx int, lo, hi string, n int) (keys []string, rekeyed []Entry, err error) {
	keys, err = fracindex.N(lo, hi, n, p.opts.rand)
	if err != nil || longest(keys) <= rekeyBytes {
		return keys, nil, err
	}
	for w := 16; w <= maxRekeyWindow; w *= 2 {
		i0, i1 := max(idx-w, 0), min(idx+w, len(es))
		var l, h string
		if i0 > 0 {
			l = es[i0-1].Pos
		}
		if i1 < len(es) {
			h = es[i1].Pos
		}
		all, err := fracindex.N(l, h, i1-i0+n, p.opts.rand)
		if err == nil && longest(all) <= rekeyBytes/2 {
			rekeyed = slices.Clone(es[i0:i1])
			for j := range rekeyed {
				k := j
				if i0+j >= idx {
					k += n
				}
				rekeyed[j].Pos = all[k]
			}
			return all[idx-i0 : idx-i0+n], rekeyed, nil
		}
		if i0 == 0 && i1 == len(es) {
			break
		}
	}
	return keys, nil, nil
}

// longest returns the length of the longest of keys.
func longest(keys []string) int {
	n := 0
	for _, k := range keys {
		n = max(n, len(k))
	}
	return n
}

// writeRekeyed writes the new pos of each entry of rekeyed (place) and
// counts it in b.
func (p *Playlist) writeRekeyed(rekeyed []Entry, b *batch) error {
	for _, e := range rekeyed {
		if err := p.doc.Path("entries", string(e.ID), "pos").Set(e.Pos); err != nil {
			return fmt.Errorf("re-key %s: %w", e.ID, err)
		}
		b.add(len(e.Pos))
	}
	return nil
}

// rekeyView gives the entries of rekeyed their new pos in the view.
func (p *Playlist) rekeyView(rekeyed []Entry) {
	if len(rekeyed) == 0 {
		return
	}
	ids := make([]EntryID, len(rekeyed))
	for i, e := range rekeyed {
		ids[i] = e.ID
	}
	p.view.remove(ids...)
	p.view.insert(rekeyed...)
}

// Add inserts one entry per track at pos, in order, attributed to by, in
// one commit ("add N") of at most MaxEntriesPerChange entries (and
// 128 KiB of ids): a bigger add commits several, in order, so that no
// change is too big to sync. It returns the new entry ids (owned by the
// caller). On error, the commits made before it stay. A track id or
// user that CheckContent would refuse is ErrInvalidArgument; a place
// with no room left even after re-keying (place, MaxPosBytes) is
// ErrBadPosition; more entries than
// MaxEntries in all is ErrPlaylistFull, and nothing is added.
func (p *Playlist) Add(pos Position, by model.UserID, tracks ...model.TrackID) ([]EntryID, error) {
	if len(tracks) == 0 {
		return nil, nil
	}
	for _, t := range tracks {
		if t == "" {
			return nil, fmt.Errorf("%w: empty track id", ErrInvalidArgument)
		}
		if err := checkIDField("trackId")(string(t)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	if err := checkUserField(string(by)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if err := p.view.refresh(p.doc); err != nil {
		return nil, err
	}
	// The relay counts the keys of entries, malformed entries too.
	if n := max(len(p.view.order), p.entries().Len()); len(tracks) > MaxEntries-n {
		return nil, fmt.Errorf("%w: it holds %d entries, %d more would pass %d", ErrPlaylistFull, n, len(tracks), MaxEntries)
	}
	idx, lo, hi, err := pos.bounds(p.view.order, p.view.index)
	if err != nil {
		return nil, err
	}
	keys, rekeyed, err := p.place(p.view.order, idx, lo, hi, len(tracks))
	if err != nil {
		return nil, fmt.Errorf("add: place entries: %w", err)
	}
	for _, k := range keys {
		if err := checkRoom(k); err != nil {
			return nil, err
		}
	}
	ids, err := p.newEntryIDs(len(tracks))
	if err != nil {
		return nil, err
	}
	now := p.opts.now()
	m := p.entries()
	var b batch
	if err := p.writeRekeyed(rekeyed, &b); err != nil {
		return nil, err
	}
	first := 0
	for i, t := range tracks {
		size := len(ids[i]) + len(t) + len(keys[i]) + len(by)
		if b.full(size) {
			if err := p.commitAdded(now, by, ids[first:i], tracks[first:i], keys[first:i], rekeyed); err != nil {
				return nil, err
			}
			b, first, rekeyed = batch{}, i, nil
		}
		b.add(size)
		e := automerge.NewMap()
		if err := m.Set(string(ids[i]), e); err != nil {
			return nil, fmt.Errorf("add entry: %w", err)
		}
		for _, kv := range []struct {
			k string
			v any
		}{{"trackId", string(t)}, {"pos", keys[i]}, {"addedBy", string(by)}, {"addedAt", now}} {
			if err := e.Set(kv.k, kv.v); err != nil {
				return nil, fmt.Errorf("add entry: set %s: %w", kv.k, err)
			}
		}
	}
	if err := p.commitAdded(now, by, ids[first:], tracks[first:], keys[first:], rekeyed); err != nil {
		return nil, err
	}
	return ids, nil
}

// checkRoom returns an error wrapping ErrBadPosition when key, a pos
// just drawn, is longer than MaxPosBytes: too many entries were placed
// at that one place, and the relay would refuse the change
// (CheckContent).
func checkRoom(key string) error {
	if len(key) > MaxPosBytes {
		return fmt.Errorf("%w: no room left there (a pos of %d bytes, at most %d): place it elsewhere", ErrBadPosition, len(key), MaxPosBytes)
	}
	return nil
}

// commitAdded commits the entries just written by Add (one per id,
// track and position), with the new pos of the entries rekeyed, and
// brings the view up to date with them.
func (p *Playlist) commitAdded(now time.Time, by model.UserID, ids []EntryID, tracks []model.TrackID, keys []string, rekeyed []Entry) error {
	keep, err := p.commit(now, fmt.Sprintf("add %d", len(tracks)))
	if err != nil {
		return err
	}
	if keep {
		p.rekeyView(rekeyed)
		// addedAt as the document stores it: milliseconds, local zone.
		at := time.UnixMilli(now.UnixMilli())
		es := make([]Entry, len(tracks))
		for i, t := range tracks {
			es[i] = Entry{ID: ids[i], Track: t, Pos: keys[i], AddedBy: by, AddedAt: at}
		}
		p.view.insert(es...)
	}
	return nil
}

// maxIDDraws bounds the draws of newEntryIDs.
const maxIDDraws = 8

// errIDsTaken is returned when every draw of newEntryIDs hit an entry
// that exists (with a working random source, never).
var errIDsTaken = errors.New("docs: no free run of entry ids")

// newEntryIDs returns n entry ids for one Add: a random 64-bit base and
// its successors (mod 2^64), each as 16 hex digits like any entry id. A
// run of consecutive ids deflates to a few bytes per entry where n
// independent random ids cost 8.4 (a 10,000-entry playlist's first sync
// is mostly its ids); two runs overlap with probability about
// (n+m)/2^64, and a run meeting an existing entry is drawn again.
// Caller has refreshed p.view.
func (p *Playlist) newEntryIDs(n int) ([]EntryID, error) {
	ids := make([]EntryID, n)
draw:
	for range maxIDDraws {
		var b [8]byte
		if _, err := io.ReadFull(p.opts.rand, b[:]); err != nil {
			return nil, fmt.Errorf("docs: read random id: %w", err)
		}
		base := binary.BigEndian.Uint64(b[:])
		for i := range ids {
			ids[i] = EntryID(fmt.Sprintf("%016x", base+uint64(i)))
			if p.view.index(ids[i]) >= 0 {
				continue draw
			}
		}
		return ids, nil
	}
	return nil, errIDsTaken
}

// Remove deletes the given entries in one commit, or in several of at
// most MaxEntriesPerChange entries each for a bigger removal (as Add).
// Every id must exist (ErrNoEntry otherwise, and nothing is removed).
func (p *Playlist) Remove(ids ...EntryID) error {
	if len(ids) == 0 {
		return nil
	}
	if err := p.view.refresh(p.doc); err != nil {
		return err
	}
	m := p.entries()
	for _, id := range ids {
		if p.view.index(id) >= 0 {
			continue
		}
		// Not in the view: a malformed entry may still be removed.
		v, err := m.Get(string(id))
		if err != nil {
			return fmt.Errorf("remove: %w", err)
		}
		if v.IsVoid() {
			return fmt.Errorf("%w: %s", ErrNoEntry, id)
		}
	}
	var b batch
	first := 0
	for i, id := range ids {
		if b.full(len(id)) {
			if err := p.commitRemoved(ids[first:i]); err != nil {
				return err
			}
			b, first = batch{}, i
		}
		b.add(len(id))
		if err := m.Delete(string(id)); err != nil {
			return fmt.Errorf("remove %s: %w", id, err)
		}
	}
	return p.commitRemoved(ids[first:])
}

// commitRemoved commits the deletions of ids just made by Remove and
// takes them out of the view.
func (p *Playlist) commitRemoved(ids []EntryID) error {
	keep, err := p.commit(p.opts.now(), fmt.Sprintf("remove %d", len(ids)))
	if err != nil {
		return err
	}
	if keep {
		p.view.remove(ids...)
	}
	return nil
}

// Move places entry id at pos (computed with the entry itself left out) by
// writing only its nested pos field (and those of the entries around it
// when it re-keys them: place), in one commit. A concurrent Remove
// of the same entry wins.
func (p *Playlist) Move(id EntryID, pos Position) error {
	if err := p.view.refresh(p.doc); err != nil {
		return err
	}
	i := p.view.index(id)
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoEntry, id)
	}
	if (pos.kind == posBefore || pos.kind == posAfter) && pos.ref == id {
		return fmt.Errorf("%w: move %s relative to itself", ErrBadPosition, id)
	}
	// Place it among the others: take it out of the view, and put it
	// back where it was if the move does not happen.
	e := p.view.order[i]
	p.view.remove(id)
	idx, lo, hi, err := pos.bounds(p.view.order, p.view.index)
	if err != nil {
		p.view.insert(e)
		return err
	}
	keys, rekeyed, err := p.place(p.view.order, idx, lo, hi, 1)
	if err == nil {
		err = checkRoom(keys[0])
	}
	if err != nil {
		p.view.insert(e)
		return fmt.Errorf("move: place entry: %w", err)
	}
	key := keys[0]
	if key == e.Pos && len(rekeyed) == 0 {
		// Drawn where it already is: automerge writes no operation for
		// an unchanged value, and refuses the empty commit.
		p.view.insert(e)
		return nil
	}
	if err := p.doc.Path("entries", string(id), "pos").Set(key); err != nil {
		p.view.insert(e)
		return fmt.Errorf("move %s: %w", id, err)
	}
	if err := p.writeRekeyed(rekeyed, &batch{}); err != nil {
		p.view.insert(e)
		return err
	}
	keep, err := p.commit(p.opts.now(), "move")
	if err != nil {
		return err
	}
	if keep {
		e.Pos = key
		p.view.insert(e)
		p.rekeyView(rekeyed)
	}
	return nil
}
