package docs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
)

// ErrBadContent is returned by CheckContent for a change that writes a
// value no Segue document may hold: a playlist name or entry field of
// the wrong type or format, or a key or value over its limit.
var ErrBadContent = errors.New("docs: bad content")

// Limits CheckContent enforces on every change a relay stores (the
// documents' own setters stay within them). Document size is bounded
// apart (sync/repo.WithMaxDocBytes), and so the entries of a playlist.
const (
	// MaxKeyBytes bounds a map key: a root field's name, an entry id, a
	// collaborator's user id, a library set's member id.
	MaxKeyBytes = model.MaxIDLen
	// MaxStringBytes bounds any string or bytes value, wherever it is
	// written: the longest text a document holds is a description.
	MaxStringBytes = MaxDescriptionBytes
	// MaxPosBytes bounds an entry's pos. fracindex keys grow by about a
	// byte per 5 insertions at one place (always between the same entry
	// and the one inserted last); Add and Move re-key the entries around
	// a place before a key passes 64 bytes, and refuse to place an entry
	// there (ErrBadPosition) only when no re-key of up to 2,048 entries
	// on each side makes room (keys a foreign client wrote long).
	MaxPosBytes = 1024
	// MaxObjectsPerChange bounds the objects (maps, lists, texts) one
	// change makes: an added entry is one, and Playlist.Add commits at
	// most MaxEntriesPerChange per change; a creation makes a few more.
	MaxObjectsPerChange = MaxEntriesPerChange + 8
	// MaxObjectDepth bounds how deep objects nest (the root map is 0):
	// a playlist's entries map is 1, an entry 2, an entry's field
	// written as text 3. A change cannot tell alone how deep an object
	// made earlier is, so the check that follows the objects' makers is
	// sync/msync's (Graph.SetContentCheck), with CheckContent.
	MaxObjectDepth = 3
)

// textFields are the root fields whose value is a document's own text:
// a scalar string or collaborative text (Automerge 3 JS writes plain
// strings as text) that the rule accepts; anything else written there
// is refused.
var textFields = map[string]func(string) error{
	"name":        CheckName,
	"description": CheckDescription,
}

// entryFields are the string fields of a playlist entry, by key, with
// their rules; entryTime is its timestamp field.
var entryFields = map[string]func(string) error{
	"trackId": checkIDField("trackId"),
	"addedBy": checkUserField,
	"pos":     checkPos,
}

const entryTime = "addedAt"

// mapFields are the root fields whose value is a map (a playlist's, a
// library's): anything else written there is refused.
var mapFields = []string{"collaborators", "entries", setTracks, setAlbums, setArtists, setPlaylists, mapSettings}

// CheckContent returns nil when the change whose operations are ops
// writes only values a Segue document may hold, else an error wrapping
// ErrBadContent that names the field and the rule:
//   - a root "name" or "description" is a string that CheckName or
//     CheckDescription accepts (or is deleted);
//   - a root map field (mapFields: a playlist's collaborators and
//     entries, a library's sets) is made a map;
//   - in any map below the root, "trackId" and "addedBy" are strings
//     model.ValidID accepts without control or bidirectional formatting
//     characters ("addedBy" may be empty), "pos" 1 to MaxPosBytes of the digits fracindex keys
//     use (foreign clients write other keys of those digits) and
//     "addedAt" a timestamp (an entry's fields; or deleted);
//   - every map key is at most MaxKeyBytes without control or
//     bidirectional formatting characters, every string or bytes value
//     (and every text) at most MaxStringBytes, and the change makes at
//     most MaxObjectsPerChange objects and no rich-text marks.
//
// A string field may be a scalar string or a text the same change makes
// and fills, each character inserted after the one before (as Automerge
// JS writes a string); an edit of a text or list that an earlier change
// made is refused, since its length is the document's, not the
// change's. It reads the change alone, so its cost is that of the
// change, never of the document; it cannot see which object an
// operation below the root acts on, so the entry rules hold in every
// nested map (no Segue document uses those keys for anything else).
// Unknown root fields are let through: no reader looks at them, and the
// limits above bound them.
func CheckContent(ops *ChangeOps) error {
	texts := map[uint64]*textValue{}
	makes := 0
	for i, op := range ops.Ops {
		if err := checkOp(ops, op, uint64(i), texts); err != nil {
			return fmt.Errorf("%w: operation %d: %w", ErrBadContent, i, err)
		}
		if op.Makes() {
			if makes++; makes > MaxObjectsPerChange {
				return fmt.Errorf("%w: the change makes more than %d objects", ErrBadContent, MaxObjectsPerChange)
			}
		}
	}
	for _, t := range texts {
		if !t.list {
			if err := t.check(t.b.String()); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadContent, t.key, err)
			}
		}
	}
	return nil
}

// textValue is a text or list the change being checked makes: the
// characters inserted so far (a text), the id of the last one, and the
// rule of the field it is the value of.
type textValue struct {
	key   string
	check func(string) error
	list  bool // a list: its elements are only bounded
	b     strings.Builder
	last  uint64
}

// checkOp checks op, the operation at index i of ops (CheckContent's
// rules); texts are the texts and lists made by the operations before
// it, by counter, and gains the one op makes.
func checkOp(ops *ChangeOps, op ChangeOp, i uint64, texts map[uint64]*textValue) error {
	if op.Action == actionMark {
		return errors.New("a rich-text mark")
	}
	if op.valLen > MaxStringBytes {
		return fmt.Errorf("a value of %d bytes, at most %d", op.valLen, MaxStringBytes)
	}
	if !op.MapKey {
		return checkSeqOp(ops, op, ops.StartOp+i, texts)
	}
	if err := checkKey(op.Key); err != nil {
		return err
	}
	if op.Action == actionDelete {
		return nil
	}
	check := func(string) error { return nil }
	typed := false
	if op.Root() {
		check, typed = textFields[op.Key]
		if slices.Contains(mapFields, op.Key) && op.Action != actionMakeMap {
			return fmt.Errorf("%s is not a map", op.Key)
		}
	} else {
		if op.Key == entryTime && (op.Action != actionSet || op.ValueType != valTimestamp) {
			return fmt.Errorf("%s is not a timestamp", entryTime)
		}
		check, typed = entryFields[op.Key]
	}
	if !typed {
		check = func(string) error { return nil }
	}
	switch {
	case op.MakesSequence():
		texts[ops.StartOp+i] = &textValue{key: op.Key, check: check, list: op.Action == actionMakeList}
		if typed && op.Action != actionMakeText {
			return fmt.Errorf("%s is not a string", op.Key)
		}
		return nil
	case !typed:
		return nil
	}
	s, isStr := ops.Str(op)
	if op.Action != actionSet || !isStr {
		return fmt.Errorf("%s is not a string", op.Key)
	}
	if err := check(s); err != nil {
		return fmt.Errorf("%s: %w", op.Key, err)
	}
	return nil
}

// checkSeqOp checks op, an operation on a list or text element whose
// id is counter id of the change's actor: it must act on a text or list
// the same change made (texts), and in a text insert a string after the
// character inserted last, the text staying within MaxStringBytes.
func checkSeqOp(ops *ChangeOps, op ChangeOp, id uint64, texts map[uint64]*textValue) error {
	var t *textValue
	if op.ObjActor == 0 {
		t = texts[op.ObjCounter]
	}
	if t == nil {
		return errors.New("an edit of a text or list an earlier change made (write a new value instead)")
	}
	if t.list {
		return nil
	}
	s, isStr := ops.Str(op)
	switch {
	case !op.Insert || !isStr:
		return fmt.Errorf("%s: a text edit other than appending a string", t.key)
	case op.ElemCounter != t.last || op.ElemCounter != 0 && op.ElemActor != 0:
		return fmt.Errorf("%s: text inserted out of order", t.key)
	case t.b.Len()+len(s) > MaxStringBytes:
		return fmt.Errorf("%s: a text of more than %d bytes", t.key, MaxStringBytes)
	}
	t.b.WriteString(s)
	t.last = id
	return nil
}

// checkKey returns an error when key may not be a map key: longer than
// MaxKeyBytes, or holding a control or bidirectional formatting
// character.
func checkKey(key string) error {
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("a key of %d bytes, at most %d", len(key), MaxKeyBytes)
	}
	if err := safetext.Check(key); err != nil {
		return fmt.Errorf("key %s: %w", safetext.Quote(key), err)
	}
	return nil
}

// checkIDField returns the rule of the id field key: model.ValidID, and
// no control or bidirectional formatting characters.
func checkIDField(key string) func(string) error {
	return func(s string) error {
		if !model.ValidID(s) {
			return fmt.Errorf("%s %s is no id (1 to %d bytes, no '/' or NUL)", key, safetext.Quote(s), model.MaxIDLen)
		}
		if err := safetext.Check(s); err != nil {
			return fmt.Errorf("%s %s: %w", key, safetext.Quote(s), err)
		}
		return nil
	}
}

// checkUserField is the rule of an entry's addedBy: empty (no one
// named), or an id as checkIDField("addedBy") accepts.
func checkUserField(s string) error {
	if s == "" {
		return nil
	}
	return checkIDField("addedBy")(s)
}

// checkPos is the rule of an entry's pos: 1 to MaxPosBytes digits of
// fracindex keys.
func checkPos(s string) error {
	if len(s) == 0 || len(s) > MaxPosBytes {
		return fmt.Errorf("a pos of %d bytes, 1 to %d", len(s), MaxPosBytes)
	}
	if strings.TrimFunc(s, isDigit62) != "" {
		return fmt.Errorf("pos %s holds a character other than 0-9, A-Z, a-z", safetext.Quote(s))
	}
	return nil
}

// isDigit62 reports whether r is one of the digits of fracindex keys.
func isDigit62(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
}

// Automerge actions CheckContent tells apart (ChangeOp.Action).
const (
	actionMakeMap = 0
	actionSet     = 1
)
