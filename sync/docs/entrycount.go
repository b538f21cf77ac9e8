package docs

import (
	"errors"
	"fmt"
	"slices"
)

// ErrTooManyEntries is returned, with ErrBadContent, by
// EntryCount.CheckEntries for changes that would take a playlist past
// MaxEntries.
var ErrTooManyEntries = errors.New("docs: playlist past its entry limit")

// EntryCount counts a playlist's entries (the keys of its root entries
// map holding a value, MaxEntries' measure) from its changes' operations
// alone, as automerge resolves them: a key holds the operations set there
// that no later one overwrote (a set or make replaces the operations it
// overwrites, a deletion removes them). A root entries map made more
// than once (concurrently) counts the keys of each. The relay keeps one
// per loaded document (sync/msync), fed every change the document holds
// in dependency order, to refuse changes that would take a playlist past
// MaxEntries (CheckEntries). The zero value counts a document without
// changes.
type EntryCount struct {
	// maps holds the ids of the operations that made a root entries map.
	maps map[opID]struct{}
	// live holds, by map and key, the operations at the key that no
	// operation overwrote.
	live map[entrySlot][]opID
	// actors interns the actors of live's operations.
	actors map[string]string
}

// opID is an operation's id: its counter and actor.
type opID struct {
	ctr   uint64
	actor string
}

// entrySlot is a key of a root entries map (the map's id).
type entrySlot struct {
	obj opID
	key string
}

// Len returns the number of entries: keys holding a value.
func (c *EntryCount) Len() int { return len(c.live) }

// Apply adds the operations of ops, a change of the document whose
// dependencies Apply saw, to c.
func (c *EntryCount) Apply(ops *ChangeOps) {
	if c.maps == nil {
		c.maps = map[opID]struct{}{}
		c.live = map[entrySlot][]opID{}
		c.actors = map[string]string{}
	}
	intern := func(b []byte) string {
		a, ok := c.actors[string(b)]
		if !ok {
			a = string(b)
			c.actors[a] = a
		}
		return a
	}
	walkEntryOps(ops, intern, func(id opID) bool { _, ok := c.maps[id]; return ok },
		func(id opID) { c.maps[id] = struct{}{} },
		func(s entrySlot) []opID { return c.live[s] },
		func(s entrySlot, ids []opID) {
			if len(ids) == 0 {
				delete(c.live, s)
			} else {
				c.live[s] = ids
			}
		})
}

// After returns the number of entries c would count with the changes
// ops applied in order, without changing c.
func (c *EntryCount) After(ops ...*ChangeOps) int {
	maps := map[opID]struct{}{}
	slots := map[entrySlot][]opID{}
	n := c.Len()
	for _, o := range ops {
		walkEntryOps(o, func(b []byte) string { return string(b) },
			func(id opID) bool {
				_, mine := maps[id]
				_, held := c.maps[id]
				return mine || held
			},
			func(id opID) { maps[id] = struct{}{} },
			func(s entrySlot) []opID {
				if ids, ok := slots[s]; ok {
					return ids
				}
				return c.live[s]
			},
			func(s entrySlot, ids []opID) {
				was, ok := slots[s]
				if !ok {
					was = c.live[s]
				}
				switch {
				case len(was) == 0 && len(ids) > 0:
					n++
				case len(was) > 0 && len(ids) == 0:
					n--
				}
				slots[s] = ids
			})
	}
	return n
}

// CheckEntries returns an error wrapping ErrBadContent and
// ErrTooManyEntries when the changes
// ops, applied after those c counted, would take the playlist past
// MaxEntries and leave it with more entries than before (a playlist
// stored before the limit keeps syncing, and may shrink).
func (c *EntryCount) CheckEntries(ops ...*ChangeOps) error {
	if n := c.After(ops...); n > MaxEntries && n > c.Len() {
		return fmt.Errorf("%w: %w: it would hold %d entries, at most %d", ErrBadContent, ErrTooManyEntries, n, MaxEntries)
	}
	return nil
}

// AddsEntries reports whether the change ops makes a map inside a map
// below the root without overwriting anything: in a playlist, adds an
// entry (what EntryCount counts, without knowing which map is entries).
func (c *ChangeOps) AddsEntries() bool {
	for _, op := range c.Ops {
		if !op.Root() && op.MapKey && op.Action == actionMakeMap && len(op.Preds) == 0 {
			return true
		}
	}
	return false
}

// walkEntryOps folds the operations of ops into a count's state: has
// and addMap read and add the root entries maps made, get and set the
// operations live at a key of one; actor turns an actor's bytes into
// the string ids hold.
func walkEntryOps(ops *ChangeOps, actor func([]byte) string, has func(opID) bool, addMap func(opID), get func(entrySlot) []opID, set func(entrySlot, []opID)) {
	if len(ops.Actors) == 0 {
		return
	}
	actors := make([]string, len(ops.Actors))
	for i, a := range ops.Actors {
		actors[i] = actor(a)
	}
	self := actors[0]
	for i, op := range ops.Ops {
		id := opID{ops.StartOp + uint64(i), self}
		if op.Root() {
			if op.MapKey && op.Key == "entries" && op.Action == actionMakeMap {
				addMap(id)
			}
			continue
		}
		if !op.MapKey || op.Action == actionIncrement || op.ObjActor >= len(ops.Actors) {
			continue
		}
		obj := opID{op.ObjCounter, actors[op.ObjActor]}
		if !has(obj) {
			continue
		}
		s := entrySlot{obj, op.Key}
		ids := slices.DeleteFunc(slices.Clone(get(s)), func(l opID) bool {
			return slices.ContainsFunc(op.Preds, func(p OpRef) bool {
				return p.Counter == l.ctr && p.Actor < len(actors) && actors[p.Actor] == l.actor
			})
		})
		if op.Action != actionDelete {
			ids = append(ids, id)
		}
		set(s, ids)
	}
}
